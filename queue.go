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
	"errors"
	"fmt"
	"slices"
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

// leasedQueue holds a fixed number of tasks from Put until each has a result.
// A task waiting for a worker is in pending, a task out with a worker is in
// its lease, and a task with a result is only a bit in done: the master
// keeps nothing else of it.
type leasedQueue struct {
	total        int           // how many tasks the master puts
	ready        chan struct{} // holds a token while pending may have tasks
	finished     chan struct{} // closed once every task has its result, or at shutdown
	stopped      chan struct{} // closed at shutdown: nobody reads results any more
	results      chan Result   // the first result of each task, for the master; nil: only count them
	leaseTimeout time.Duration

	mu        sync.Mutex        // guards the fields below
	pending   []queued          // tasks waiting for a worker, oldest first
	put       int               // how many tasks the master has put
	done      []uint64          // one bit per task id: its result is in
	doneCount int               // bits set in done
	leases    map[uint64]*lease // tasks out with workers
	lastLease uint64            // the id of the newest lease
	closed    bool              // finished and stopped are closed
	firstLent time.Time         // when a worker first took a task
}

// queued is a task as the master keeps it: 8 bytes, so a million fit in 8 MB.
type queued struct{ id, n int32 }

// A lease is a handout of tasks to one worker connection.
type lease struct {
	owner       int      // the connection holding it
	tasks       []queued // what it holds
	outstanding int      // results still to come
	timer       *time.Timer
}

// maxTasks is the most tasks a queue takes: ids fit in an int32.
const maxTasks = 1<<31 - 1

// newLeasedQueue makes a queue for total tasks. Each task's first result is
// sent on results; with nil results, they are only counted (see progress).
func newLeasedQueue(total int, leaseTimeout time.Duration, results chan Result) *leasedQueue {
	return &leasedQueue{
		total:        total,
		ready:        make(chan struct{}, 1),
		finished:     make(chan struct{}),
		stopped:      make(chan struct{}),
		results:      results,
		leaseTimeout: leaseTimeout,
		pending:      make([]queued, 0, total),
		done:         make([]uint64, (total+63)/64),
		leases:       map[uint64]*lease{},
	}
}

// Put adds a task (Python: task.put(n)).
func (q *leasedQueue) Put(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.put == q.total {
		panic("leasedQueue: more tasks than it was made for")
	}
	q.pending = append(q.pending, queued{id: int32(q.put), n: int32(n)})
	q.put++
	q.signal()
}

// signal wakes one waiting get. q.mu must be held.
func (q *leasedQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default: // a token is there already
	}
}

// get hands up to most tasks to owner, waiting up to wait for the first.
// It returns none if wait passes, and closed once no task will ever come.
func (q *leasedQueue) get(owner, most int, wait time.Duration) (tasks []Task, closed bool) {
	if tasks := q.lend(owner, most); tasks != nil {
		return tasks, false
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case <-q.ready:
		case <-q.finished:
			return nil, true
		case <-deadline.C:
			return nil, false
		}
		if tasks := q.lend(owner, most); tasks != nil {
			return tasks, false
		}
	}
}

// lend leases up to most pending tasks to owner, or returns nil if none is pending.
func (q *leasedQueue) lend(owner, most int) []Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	var taken []queued
	for len(taken) == 0 && len(q.pending) > 0 {
		n := min(most, len(q.pending))
		// Some may have been answered by a worker whose lease had run out.
		taken = q.dropDone(slices.Clone(q.pending[:n]))
		q.pending = q.pending[n:]
	}
	if len(taken) == 0 {
		return nil
	}
	if len(q.pending) > 0 {
		q.signal() // for the next worker waiting
	} else {
		q.pending = nil // let the put tasks' array go
	}
	if q.lastLease == 0 {
		q.firstLent = time.Now()
	}
	q.lastLease++
	leaseID := q.lastLease
	l := &lease{owner: owner, tasks: taken, outstanding: len(taken)}
	l.timer = time.AfterFunc(q.leaseTimeout, func() { q.expire(leaseID) })
	q.leases[leaseID] = l
	tasks := make([]Task, len(taken))
	for i, t := range taken {
		tasks[i] = Task{ID: int(t.id), N: int(t.n), Lease: leaseID}
	}
	return tasks
}

// putResults records results. A task's first result goes to the master;
// later ones, from workers whose lease ran out, are dropped.
func (q *leasedQueue) putResults(results []Result) error {
	for _, r := range results {
		if r.ID < 0 || r.ID >= q.total {
			return fmt.Errorf("no task has id %d", r.ID)
		}
	}
	first := make([]Result, 0, len(results))
	q.mu.Lock()
	for _, r := range results {
		if !q.isDone(int32(r.ID)) {
			q.done[r.ID/64] |= 1 << (r.ID % 64)
			q.doneCount++
			first = append(first, r)
		}
		if l := q.leases[r.Lease]; l != nil {
			if l.outstanding--; l.outstanding == 0 {
				q.release(r.Lease)
			}
		}
	}
	if q.doneCount == q.total {
		q.close()
	}
	q.mu.Unlock()

	if q.results == nil {
		return nil
	}
	for _, r := range first {
		select {
		case q.results <- r:
		case <-q.stopped:
			return errors.New("the master has stopped")
		}
	}
	return nil
}

// releaseOwner gives back every task leased to a connection that closed.
func (q *leasedQueue) releaseOwner(owner int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for id, l := range q.leases {
		if l.owner == owner {
			q.release(id)
		}
	}
}

// expire gives back the tasks of a lease that ran out.
func (q *leasedQueue) expire(leaseID uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(leaseID)
}

// release ends a lease and puts its unanswered tasks back in the queue.
// q.mu must be held.
func (q *leasedQueue) release(leaseID uint64) {
	l := q.leases[leaseID]
	if l == nil {
		return
	}
	l.timer.Stop()
	delete(q.leases, leaseID)
	if unanswered := q.dropDone(l.tasks); len(unanswered) > 0 {
		q.pending = append(q.pending, unanswered...)
		q.signal()
	}
}

// shutdown wakes every waiting get with closed, and every put blocked on a
// result nobody will read.
func (q *leasedQueue) shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.close()
	close(q.stopped)
	for _, l := range q.leases {
		l.timer.Stop()
	}
}

// close closes finished once. q.mu must be held.
func (q *leasedQueue) close() {
	if !q.closed {
		q.closed = true
		close(q.finished)
	}
}

// isDone reports whether task id has its result. q.mu must be held.
func (q *leasedQueue) isDone(id int32) bool {
	return q.done[id/64]&(1<<(id%64)) != 0
}

// dropDone filters out, in place, the tasks that have their result.
// q.mu must be held.
func (q *leasedQueue) dropDone(tasks []queued) []queued {
	kept := tasks[:0]
	for _, t := range tasks {
		if !q.isDone(t.id) {
			kept = append(kept, t)
		}
	}
	return kept
}

// progress reports how many tasks have their result, and since when workers
// have been taking tasks.
func (q *leasedQueue) progress() (answered int, since time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.doneCount, q.firstLent
}

// missing describes the tasks without a result, for an error message.
func (q *leasedQueue) missing() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	unanswered := q.dropDone(slices.Clone(q.pending))
	for _, l := range q.leases {
		unanswered = append(unanswered, q.dropDone(slices.Clone(l.tasks))...)
	}
	slices.SortFunc(unanswered, func(a, b queued) int { return int(a.id - b.id) })
	const shown = 10
	var list []string
	for _, t := range unanswered[:min(shown, len(unanswered))] {
		list = append(list, fmt.Sprintf("#%d (n=%d)", t.id, t.n))
	}
	if more := q.total - q.doneCount - len(list); more > 0 {
		list = append(list, fmt.Sprintf("and %d more", more))
	}
	return "missing tasks: " + strings.Join(list, ", ")
}
