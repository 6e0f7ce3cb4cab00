// The master's task queue of section 分布式进程, with what a network needs
// and Python's queue.Queue lacks: no task is lost when a worker dies.
//
// A task handed to a worker is leased to that worker's connection. If the
// connection closes before the result comes back, or the lease runs out, the
// task goes back in the queue for the next worker that asks. Results are
// keyed by task id and the first one wins, so each task's result reaches
// the master exactly once, however many workers computed it.
package main

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Task is one job: square N. ID names the task across retries; Lease names
// this handout of it, and its result quotes the lease.
type Task struct {
	ID    int
	N     int
	Lease uint64
}

// Result is a worker's answer to the task ID.
type Result struct {
	ID    int
	Lease uint64
	Text  string // "n * n = r", as task_worker.py formats it
}

// taskQueue holds a fixed number of tasks from Put until each has a result.
type taskQueue struct {
	pending      chan int      // ids of tasks waiting for a worker; each id is here at most once
	results      chan Result   // the first result of each task, for the master
	finished     chan struct{} // closed once every task has its result, or at shutdown
	leaseTimeout time.Duration

	mu        sync.Mutex        // guards the fields below
	numbers   []int             // the N of each task, by id
	done      []uint64          // one bit per task id: its result is in
	doneCount int               // bits set in done
	leases    map[uint64]*lease // tasks out with workers
	lastLease uint64            // the id of the newest lease
	closed    bool              // finished is closed
}

// A lease is a handout of tasks to one worker connection.
type lease struct {
	owner       int   // the connection holding it
	ids         []int // the tasks
	outstanding int   // results still to come
	timer       *time.Timer
}

func newTaskQueue(capacity int, leaseTimeout time.Duration) *taskQueue {
	return &taskQueue{
		pending:      make(chan int, capacity),
		results:      make(chan Result, capacity),
		finished:     make(chan struct{}),
		leaseTimeout: leaseTimeout,
		done:         make([]uint64, (capacity+63)/64),
		leases:       map[uint64]*lease{},
	}
}

// Put adds a task (Python: task.put(n)).
func (q *taskQueue) Put(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.numbers) == cap(q.pending) {
		panic("taskQueue: more tasks than its capacity")
	}
	q.numbers = append(q.numbers, n)
	q.pending <- len(q.numbers) - 1
}

// get hands up to max tasks to owner, waiting up to wait for the first.
// It returns none if wait passes, and closed once no task will ever come.
func (q *taskQueue) get(owner, max int, wait time.Duration) (tasks []Task, closed bool) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ids, closed := q.take(max, deadline.C)
		if len(ids) == 0 {
			return nil, closed
		}
		if tasks := q.lend(owner, ids); len(tasks) > 0 {
			return tasks, false
		}
		// Every one was answered while it waited in the queue: wait again.
	}
}

// take waits for a pending task id, then takes up to max without waiting.
func (q *taskQueue) take(max int, deadline <-chan time.Time) (ids []int, closed bool) {
	select {
	case id := <-q.pending:
		ids = append(ids, id)
	case <-q.finished:
		return nil, true
	case <-deadline:
		return nil, false
	}
	for len(ids) < max {
		select {
		case id := <-q.pending:
			ids = append(ids, id)
		default:
			return ids, false
		}
	}
	return ids, false
}

// lend leases the unanswered tasks among ids to owner.
func (q *taskQueue) lend(owner int, ids []int) []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids = q.dropDone(ids)
	if len(ids) == 0 {
		return nil
	}
	q.lastLease++
	leaseID := q.lastLease
	l := &lease{owner: owner, ids: ids, outstanding: len(ids)}
	l.timer = time.AfterFunc(q.leaseTimeout, func() { q.expire(leaseID) })
	q.leases[leaseID] = l
	tasks := make([]Task, len(ids))
	for i, id := range ids {
		tasks[i] = Task{ID: id, N: q.numbers[id], Lease: leaseID}
	}
	return tasks
}

// put records results. A task's first result goes to the master; later ones,
// from workers whose lease ran out, are dropped.
func (q *taskQueue) put(results []Result) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range results {
		if r.ID < 0 || r.ID >= len(q.numbers) {
			return fmt.Errorf("no task has id %d", r.ID)
		}
		if !q.isDone(r.ID) {
			q.done[r.ID/64] |= 1 << (r.ID % 64)
			q.doneCount++
			q.results <- r // never blocks: room for one result per task
		}
		if l := q.leases[r.Lease]; l != nil {
			if l.outstanding--; l.outstanding == 0 {
				q.release(r.Lease)
			}
		}
	}
	if q.doneCount == cap(q.pending) {
		q.close()
	}
	return nil
}

// releaseOwner gives back every task leased to a connection that closed.
func (q *taskQueue) releaseOwner(owner int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, l := range q.leases {
		if l.owner == owner {
			q.release(id)
		}
	}
}

// expire gives back the tasks of a lease that ran out.
func (q *taskQueue) expire(leaseID uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(leaseID)
}

// release ends a lease and puts its unanswered tasks back in the queue.
// q.mu must be held.
func (q *taskQueue) release(leaseID uint64) {
	l := q.leases[leaseID]
	if l == nil {
		return
	}
	l.timer.Stop()
	delete(q.leases, leaseID)
	for _, id := range q.dropDone(l.ids) {
		q.pending <- id // never blocks: an id out on a lease is not in pending
	}
}

// shutdown wakes every waiting get with closed.
func (q *taskQueue) shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.close()
	for id := range q.leases {
		q.leases[id].timer.Stop()
	}
}

// close closes finished once. q.mu must be held.
func (q *taskQueue) close() {
	if !q.closed {
		q.closed = true
		close(q.finished)
	}
}

// isDone reports whether task id has its result. q.mu must be held.
func (q *taskQueue) isDone(id int) bool {
	return q.done[id/64]&(1<<(id%64)) != 0
}

// dropDone filters out the ids that have their result. q.mu must be held.
func (q *taskQueue) dropDone(ids []int) []int {
	kept := ids[:0]
	for _, id := range ids {
		if !q.isDone(id) {
			kept = append(kept, id)
		}
	}
	return kept
}

// missing describes the tasks without a result, for an error message.
func (q *taskQueue) missing() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	const shown = 10
	var list []string
	for id, n := range q.numbers {
		if !q.isDone(id) && len(list) < shown {
			list = append(list, fmt.Sprintf("#%d (n=%d)", id, n))
		}
	}
	missing := len(q.numbers) - q.doneCount
	if missing > shown {
		list = append(list, fmt.Sprintf("and %d more", missing-shown))
	}
	return "missing tasks: " + strings.Join(list, ", ")
}
