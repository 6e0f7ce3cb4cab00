// Package queue is Python's queue.Queue as the master of section 分布式进程
// keeps it, with what a network needs and queue.Queue lacks: no task is lost
// when a worker dies or stops, and no result counts unless it comes from the
// worker that was given the task.
//
// A task handed to a worker is leased to that worker's connection, its
// Holder, for a short time, and the connection renews the lease while the
// worker works, as SQS extends a message's visibility timeout or beanstalkd's
// `touch` resets its TTR. If the connection ends, or the lease runs out
// because the worker stopped renewing it, the task goes back in the queue for
// the next worker that asks, and the master says so. A result counts only if
// it comes over the connection that holds the task's current lease, and only
// the first: each task's result reaches the master exactly once.
package queue

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"multithreading/internal/logging"
)

// ErrEmpty is Python's Empty: a get found no task in its wait.
var ErrEmpty = errors.New("task queue is empty")

// Task is one job: square N, or, if Path is set, read the file at Path
// ("发送日志文件存放的完整路径", master --files). ID names the task across
// retries; Lease names this handout of it, and its result quotes the lease.
type Task struct {
	ID    int
	N     int
	Path  string // relative to the master's directory, with slashes; "" for a number
	Lease uint64
}

// Result is a worker's answer to the task ID.
type Result struct {
	ID    int
	Lease uint64
	Text  string // "n * n = r", as task_worker.py formats it
}

// MaxText is the longest result a worker may send, in bytes.
const MaxText = 1024

// MaxPath is the longest path a task may carry, in bytes: half a result,
// so that a path and what a worker says of its file fit in one.
const MaxPath = MaxText / 2

// MaxTasks is the most tasks a master puts: 8 bytes each while they wait,
// 80 MB in all, and ids that fit an int32 on every platform.
const MaxTasks = 10_000_000

// A Holder is one worker connection as the queue sees it. The leases it
// holds hang off it, so that its end ends all of them at once.
type Holder struct {
	Name     string        // the worker's address, for the log
	LeaseFor time.Duration // how long its leases last unrenewed
	renews   bool          // it renews its leases: a Go worker; a Python one cannot
	gone     chan struct{} // closed when its connection has ended

	leases map[uint64]*lease // guarded by the queue's mu
}

// NewHolder returns the holder of one worker connection, named name in the
// log, whose leases last leaseFor unrenewed; renews says if it renews them.
func NewHolder(name string, leaseFor time.Duration, renews bool) *Holder {
	return &Holder{Name: name, LeaseFor: leaseFor, renews: renews, gone: make(chan struct{}), leases: map[uint64]*lease{}}
}

// A lease is one handout of tasks to one holder.
type lease struct {
	holder      *Holder
	tasks       []queued // sorted by id
	answered    []bool   // by index in tasks
	outstanding int      // results still to come
	expires     time.Time
	timer       *time.Timer
}

// queued is a task as the master keeps it: 8 bytes, so a million fit in 8
// MB. A path task's path is kept apart, by its id (Queue.paths).
type queued struct{ id, n int32 }

// Queue holds a fixed number of tasks from Put until each has a
// result. A task waiting for a worker is in pending, a task out with a
// worker is in its lease, and a task with a result is only a bit in done:
// the master keeps nothing else of it but, in a queue of paths, its path.
type Queue struct {
	total      int
	forPaths   bool               // its tasks are paths (NewForPaths), not numbers
	ready      chan struct{}      // holds a token while pending may have tasks
	finished   chan struct{}      // closed once every task has its result, or at shutdown
	stopped    chan struct{}      // closed at shutdown: nobody reads results any more
	results    chan Result        // the first result of each task, for the master; nil: only count them
	requeueLog *logging.Throttled // hears of the tasks that go back in the queue; nil: only count them

	mu        sync.Mutex        // guards the fields below, and each holder's leases
	pending   []queued          // tasks waiting for a worker, oldest first
	paths     []string          // a path task's path, by its id
	put       int               // how many tasks the master has put
	done      []uint64          // one bit per task id: its result is in
	doneCount int               // bits set in done
	leases    map[uint64]*lease // tasks out with workers
	lastLease uint64            // the id of the newest lease
	closed    bool              // finished and stopped are closed
	firstLent time.Time         // when a worker first took a task
	renewed   time.Time         // when a worker last renewed a lease
	requeued  int               // how many times a task went back in the queue
}

// New makes a queue for total tasks. Each task's first result is
// sent on results; with nil results, they are only counted (see Progress).
// Tasks that go back in the queue are reported to requeueLog, a line a
// second at most however many go back (the first in full), or with nil,
// only counted.
func New(total int, results chan Result, requeueLog io.Writer) *Queue {
	if total < 0 || total > MaxTasks {
		panic(fmt.Sprintf("queue: %d tasks, where at most %d fit", total, MaxTasks))
	}
	var requeues *logging.Throttled
	if requeueLog != nil {
		requeues = logging.NewThrottled(requeueLog, "", "%d more task%s went back in the queue")
	}
	return &Queue{
		total:      total,
		ready:      make(chan struct{}, 1),
		finished:   make(chan struct{}),
		stopped:    make(chan struct{}),
		results:    results,
		requeueLog: requeues,
		pending:    make([]queued, 0, total),
		done:       make([]uint64, (total+63)/64),
		leases:     map[uint64]*lease{},
	}
}

// NewForPaths makes a queue for total tasks that are paths of files, put
// with PutPath, as New makes one for numbers. Whether a queue hands out
// numbers or paths is known from the start, before any task is put: a
// worker that squares numbers is told so at its first get (HandsOutPaths).
func NewForPaths(total int, results chan Result, requeueLog io.Writer) *Queue {
	q := New(total, results, requeueLog)
	q.forPaths = true
	q.paths = make([]string, 0, total)
	return q
}

// HandsOutPaths reports whether the queue's tasks are paths.
func (q *Queue) HandsOutPaths() bool { return q.forPaths }

// Put adds a task (Python: task.put(n)).
func (q *Queue) Put(n int) {
	if q.forPaths {
		panic("queue: a number put in a queue of paths")
	}
	q.put1(queued{n: int32(n)}, "")
}

// PutPath adds a task that is the path of a file (master --files), which
// CheckPath must accept.
func (q *Queue) PutPath(path string) {
	if !q.forPaths {
		panic("queue: a path put in a queue of numbers")
	}
	if err := CheckPath(path); err != nil {
		panic("queue: " + err.Error())
	}
	q.put1(queued{}, path)
}

// put1 adds task, numbered here, and path, for a queue of paths.
func (q *Queue) put1(task queued, path string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.put == q.total {
		panic("queue: more tasks than it was made for")
	}
	task.id = int32(q.put)
	q.pending = append(q.pending, task)
	if q.forPaths {
		q.paths = append(q.paths, path)
	}
	q.put++
	q.signal()
}

// CheckPath says why path cannot be a task, or nil: a path is 1 to MaxPath
// bytes of printable text, so that it fits in a result with what a worker
// says of its file, and prints as one line on either side.
func CheckPath(path string) error {
	switch {
	case path == "":
		return errors.New("an empty path")
	case len(path) > MaxPath:
		return fmt.Errorf("a path of %d bytes (at most %d)", len(path), MaxPath)
	case Printable(path) != path:
		return fmt.Errorf("the path %s has characters that do not print", Printable(path))
	}
	return nil
}

// signal wakes one waiting get. q.mu must be held.
func (q *Queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default: // a token is there already
	}
}

// Get leases up to most tasks to h, waiting up to wait for the first. It
// returns none if wait passes or h's connection ends, and closed once no
// task will ever come.
func (q *Queue) Get(h *Holder, most int, wait time.Duration) (tasks []Task, closed bool) {
	if tasks, closed := q.lend(h, most); tasks != nil || closed {
		return tasks, closed
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case <-q.ready:
		case <-q.finished:
			return nil, true
		case <-h.gone:
			return nil, false
		case <-deadline.C:
			return nil, false
		}
		if tasks, closed := q.lend(h, most); tasks != nil || closed {
			return tasks, closed
		}
	}
}

// lend leases up to most pending tasks to h. It returns nil if none is
// pending or h is gone, and closed once the queue is.
func (q *Queue) lend(h *Holder, most int) (tasks []Task, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, true
	}
	select {
	case <-h.gone: // no lease for a connection that has ended
		return nil, false
	default:
	}
	if q.forPaths {
		// A file may take minutes to read: one to a worker at a time, so
		// that a worker with a batch does not keep files other workers
		// could be reading (its --jobs still read several at once).
		most = 1
	}
	var taken []queued
	for len(taken) == 0 && len(q.pending) > 0 {
		n := min(most, len(q.pending))
		// Some may have been answered by a worker whose lease had run out.
		taken = q.dropDone(slices.Clone(q.pending[:n]))
		q.pending = q.pending[n:]
	}
	if len(taken) == 0 {
		return nil, false
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
	slices.SortFunc(taken, func(a, b queued) int { return cmp.Compare(a.id, b.id) })
	l := &lease{holder: h, tasks: taken, answered: make([]bool, len(taken)), outstanding: len(taken),
		expires: time.Now().Add(h.LeaseFor)}
	l.timer = time.AfterFunc(h.LeaseFor, func() { q.expire(leaseID) })
	q.leases[leaseID] = l
	h.leases[leaseID] = l
	tasks = make([]Task, len(taken))
	for i, t := range taken {
		tasks[i] = Task{ID: int(t.id), N: int(t.n), Lease: leaseID}
		if q.forPaths {
			tasks[i].Path = q.paths[t.id]
		}
	}
	return tasks, false
}

// Renew extends those of the given leases that h holds by h.LeaseFor, and
// says how many it extended: the others are no longer h's.
func (q *Queue) Renew(h *Holder, leaseIDs []uint64) (renewed int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, id := range leaseIDs {
		if l := h.leases[id]; l != nil {
			l.expires = time.Now().Add(h.LeaseFor)
			l.timer.Reset(h.LeaseFor)
			renewed++
		}
	}
	if renewed > 0 {
		q.renewed = time.Now()
	}
	return renewed
}

// RenewedWithin reports whether a worker renewed a lease in the last d: a
// task is still being worked on, however long it takes.
func (q *Queue) RenewedWithin(d time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return time.Since(q.renewed) < d
}

// Why a result is refused.
const (
	NotLeased  = "not leased to it" // an unknown lease, another worker's, or one that ran out
	NotInLease = "not in its lease"
	Duplicate  = "answered already"
	TooLong    = "too long"
)

// PutResults records the results that h sends. A result counts if h holds
// the lease it quotes and the task has no answer yet; the others are
// refused and counted. Each task's first result goes to the master.
func (q *Queue) PutResults(h *Holder, results []Result) (refused map[string]int, err error) {
	refused = map[string]int{}
	first := make([]Result, 0, len(results))
	q.mu.Lock()
	for _, r := range results {
		if why := q.accept(h, r); why != "" {
			refused[why]++
			continue
		}
		first = append(first, r)
	}
	if q.doneCount == q.total {
		q.close()
	}
	q.mu.Unlock()

	if q.results == nil {
		return refused, nil
	}
	for _, r := range first {
		select {
		case q.results <- Result{ID: r.ID, Lease: r.Lease, Text: Printable(r.Text)}:
		case <-q.stopped:
			return refused, fmt.Errorf("the master has stopped")
		}
	}
	return refused, nil
}

// accept records r from h, or says why not. q.mu must be held.
func (q *Queue) accept(h *Holder, r Result) (refusedBecause string) {
	l := h.leases[r.Lease]
	if l == nil {
		return NotLeased
	}
	i, found := slices.BinarySearchFunc(l.tasks, r.ID, func(t queued, id int) int { return cmp.Compare(int(t.id), id) })
	switch {
	case !found:
		return NotInLease
	case l.answered[i] || q.isDone(l.tasks[i].id):
		return Duplicate
	case len(r.Text) > MaxText:
		return TooLong
	}
	l.answered[i] = true
	q.done[r.ID/64] |= 1 << (r.ID % 64)
	q.doneCount++
	if l.outstanding--; l.outstanding == 0 {
		q.endLease(r.Lease)
	}
	return ""
}

// HungUp gives back every task leased to h, whose connection has ended, and
// lets no new lease go to it.
func (q *Queue) HungUp(h *Holder) {
	q.mu.Lock()
	select {
	case <-h.gone:
		q.mu.Unlock()
		return // already
	default:
		close(h.gone)
	}
	var back []queued
	for id := range h.leases {
		back = append(back, q.endLease(id)...)
	}
	q.report(back, fmt.Sprintf("its worker %s hung up", h.Name), "its worker hung up")
	q.mu.Unlock()
}

// expire gives back the tasks of a lease that ran out.
func (q *Queue) expire(leaseID uint64) {
	q.mu.Lock()
	var back []queued
	why := "its lease ran out (the worker stopped renewing it)"
	if l := q.leases[leaseID]; l != nil && !time.Now().Before(l.expires) {
		if !l.holder.renews {
			why = fmt.Sprintf("its lease ran out (its worker, %s, speaks Python and cannot renew it: the task took longer than %v)", l.holder.Name, l.holder.LeaseFor)
		}
		back = q.endLease(leaseID)
	} // else a renewal came as the timer fired, and reset it
	q.report(back, why, "its lease ran out")
	q.mu.Unlock()
}

// endLease ends a lease and puts its unanswered tasks back in the queue,
// returning them. q.mu must be held.
func (q *Queue) endLease(leaseID uint64) (back []queued) {
	l := q.leases[leaseID]
	if l == nil {
		return nil
	}
	l.timer.Stop()
	delete(q.leases, leaseID)
	delete(l.holder.leases, leaseID)
	if q.closed {
		return nil
	}
	if back = q.dropDone(l.tasks); len(back) > 0 {
		q.pending = append(q.pending, back...)
		q.requeued += len(back)
		q.signal()
	}
	return back
}

// report tells the requeue log of tasks that went back in the queue, why,
// and the reason to count them under when the log sums them up. q.mu must
// be held, so that the line is out before another worker can take one of
// the tasks: the master's log tells the story in order.
func (q *Queue) report(back []queued, why, reason string) {
	if len(back) == 0 || q.requeueLog == nil {
		return
	}
	const shown = 3
	var list []string
	for _, t := range back[:min(shown, len(back))] {
		list = append(list, q.describe(t))
	}
	counted := logging.Tally{reason: len(back)}
	if len(back) == 1 {
		q.requeueLog.Add(fmt.Sprintf("task %s back in the queue: %s", list[0], why), counted)
		return
	}
	if more := len(back) - shown; more > 0 {
		list = append(list, fmt.Sprintf("and %d more", more))
	}
	q.requeueLog.Add(fmt.Sprintf("%d tasks back in the queue (%s): %s", len(back), strings.Join(list, ", "), why), counted)
}

// Shutdown wakes every waiting get with closed, and every put blocked on a
// result nobody will read. No lease is given after it.
func (q *Queue) Shutdown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.close()
	select {
	case <-q.stopped:
	default:
		close(q.stopped)
	}
	for _, l := range q.leases {
		l.timer.Stop()
	}
	if q.requeueLog != nil {
		q.requeueLog.Flush() // the last second's sum
	}
}

// close closes finished once. q.mu must be held.
func (q *Queue) close() {
	if !q.closed {
		q.closed = true
		close(q.finished)
	}
}

// isDone reports whether task id has its result. q.mu must be held.
func (q *Queue) isDone(id int32) bool {
	return q.done[id/64]&(1<<(id%64)) != 0
}

// dropDone filters out, in place, the tasks that have their result.
// q.mu must be held.
func (q *Queue) dropDone(tasks []queued) []queued {
	kept := tasks[:0]
	for _, t := range tasks {
		if !q.isDone(t.id) {
			kept = append(kept, t)
		}
	}
	return kept
}

// Progress reports how many tasks have their result, since when workers
// have been taking tasks, and how many times a task went back in the queue.
func (q *Queue) Progress() (answered int, since time.Time, requeued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.doneCount, q.firstLent, q.requeued
}

// Missing describes the tasks without a result, for an error message.
func (q *Queue) Missing() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	unanswered := q.dropDone(slices.Clone(q.pending))
	for _, l := range q.leases {
		unanswered = append(unanswered, q.dropDone(slices.Clone(l.tasks))...)
	}
	slices.SortFunc(unanswered, func(a, b queued) int { return cmp.Compare(a.id, b.id) })
	const shown = 10
	var list []string
	for _, t := range unanswered[:min(shown, len(unanswered))] {
		list = append(list, q.describe(t))
	}
	if more := q.total - q.doneCount - len(list); more > 0 {
		list = append(list, fmt.Sprintf("and %d more", more))
	}
	return "missing tasks: " + strings.Join(list, ", ")
}

// describe names a task for the log: "#3 (n=4512)", or "#3 (logs/app.log)".
// q.mu must be held.
func (q *Queue) describe(t queued) string {
	if q.forPaths {
		return fmt.Sprintf("#%d (%s)", t.id, q.paths[t.id])
	}
	return fmt.Sprintf("#%d (n=%d)", t.id, t.n)
}

// Finished is closed once every task has its result, or at shutdown.
func (q *Queue) Finished() <-chan struct{} { return q.finished }

// Total is the number of tasks the queue was made for.
func (q *Queue) Total() int { return q.total }

// Printable is text as the master may print it: unchanged if it is valid
// UTF-8 with nothing but printable characters and spaces, else quoted, as
// Go quotes a string, so that no newline, escape sequence or other control
// character a worker sends can make a line that passes for another one.
func Printable(text string) string {
	for _, r := range text {
		if r == utf8.RuneError || (!unicode.IsPrint(r) && r != ' ') {
			return strconv.Quote(text)
		}
	}
	return text
}
