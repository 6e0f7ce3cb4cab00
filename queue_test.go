// Tests of queue.go, the leased task queue, called directly.

package main

import (
	"bytes"
	"math"
	"multithreading/internal/proctest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lockedBuffer is a bytes.Buffer that the queue's timers may write to while
// a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestQueue is a queue of tasks n = 0, 10, 20, ... and its logs.
func newTestQueue(total int) (*leasedQueue, *lockedBuffer) {
	var requeueLog lockedBuffer
	q := newLeasedQueue(total, make(chan Result, total+10), &requeueLog)
	for n := range total {
		q.Put(n * 10)
	}
	return q, &requeueLog
}

// receivedResults drains the results the master has been sent.
func receivedResults(q *leasedQueue) []string {
	var got []string
	for len(q.results) > 0 {
		got = append(got, (<-q.results).Text)
	}
	return got
}

func TestQueueExpiredLeaseGoesToNextWorker(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(1)
	stopped := newHolder("127.0.0.1:1001", 50*time.Millisecond, true)
	next := newHolder("127.0.0.1:1002", time.Hour, true)
	first, _ := q.get(stopped, 1, proctest.Timeout)
	// Nothing else is pending: this get waits until the lease runs out.
	second, _ := q.get(next, 1, proctest.Timeout)
	if len(first) != 1 || len(second) != 1 || first[0].ID != second[0].ID || first[0].Lease == second[0].Lease {
		t.Fatalf("first handout %+v, second %+v: want the same task on a new lease", first, second)
	}
	want := "master: task #0 (n=0) back in the queue: its lease ran out (the worker stopped renewing it)\n"
	if diff := cmp.Diff(want, requeueLog.String()); diff != "" {
		t.Errorf("requeue log (-want +got):\n%s", diff)
	}
	// The stopped worker wakes and answers on its old lease: refused.
	refused, err := q.putResults(stopped, []Result{{ID: 0, Lease: first[0].Lease, Text: "late"}})
	if err != nil || refused[notLeased] != 1 {
		t.Errorf("a result on a lease that ran out: refused %v, error %v; want refused as not leased", refused, err)
	}
	refused, err = q.putResults(next, []Result{{ID: 0, Lease: second[0].Lease, Text: "0 * 0 = 0"}})
	if err != nil || refused.count() != 0 {
		t.Fatalf("the lease holder's result: refused %v, error %v", refused, err)
	}
	if diff := cmp.Diff([]string{"0 * 0 = 0"}, receivedResults(q)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	select {
	case <-q.finished:
	default:
		t.Error("every task has its result, but the queue is not finished")
	}
	if tasks, closed := q.get(newHolder("late", time.Hour, true), 1, proctest.Timeout); len(tasks) != 0 || !closed {
		t.Errorf("get on a finished queue: %v, closed %v; want none, closed", tasks, closed)
	}
}

// A result counts only from the connection holding the task's lease, once.
// Everything else is refused and changes no count.
func TestQueueRefusesWhatWasNotLeased(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(4)
	honest := newHolder("127.0.0.1:2001", time.Hour, true)
	forger := newHolder("127.0.0.1:2002", time.Hour, true)
	tasks, _ := q.get(honest, 2, proctest.Timeout) // tasks #0 and #1
	mine, _ := q.get(forger, 1, proctest.Timeout)  // task #2
	lease := tasks[0].Lease

	for _, tc := range []struct {
		name    string
		from    *holder
		results []Result
		refused tally
	}{
		{"forged ids, no lease", forger, []Result{{ID: 0}, {ID: 1}, {ID: 3}}, tally{notLeased: 3}},
		{"another connection's lease", forger, []Result{{ID: 0, Lease: lease, Text: "forged"}}, tally{notLeased: 1}},
		{"a task not in the lease", forger, []Result{{ID: 3, Lease: mine[0].Lease}, {ID: math.MinInt, Lease: mine[0].Lease}}, tally{notInLease: 2}},
		{"too long", honest, []Result{{ID: 0, Lease: lease, Text: strings.Repeat("x", maxResultText+1)}}, tally{tooLong: 1}},
		{"the holder, once", honest, []Result{{ID: 0, Lease: lease, Text: "0 * 0 = 0"}}, tally{}},
		{"the holder, twice", honest, []Result{{ID: 0, Lease: lease, Text: "again"}, {ID: 0, Lease: lease, Text: "again"}}, tally{duplicate: 2}},
	} {
		refused, err := q.putResults(tc.from, tc.results)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff(tc.refused, refused); diff != "" {
			t.Errorf("%s: refused (-want +got):\n%s", tc.name, diff)
		}
	}
	if diff := cmp.Diff([]string{"0 * 0 = 0"}, receivedResults(q)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// The duplicates did not end the two-task lease early: task #1 is
	// still the honest worker's, and nobody else is handed it.
	if answered, _, _ := q.progress(); answered != 1 {
		t.Errorf("%d tasks answered, want 1", answered)
	}
	if got, _ := q.get(newHolder("127.0.0.1:2003", time.Hour, true), 4, 10*time.Millisecond); len(got) != 1 || got[0].ID != 3 {
		t.Errorf("a third worker was handed %+v; want only task #3", got)
	}
	if refused, _ := q.putResults(honest, []Result{{ID: 1, Lease: lease, Text: "1"}}); refused.count() != 0 {
		t.Errorf("the honest worker's second result was refused: %v", refused)
	}
}

// A worker that renews its lease keeps its task however long it works.
func TestQueueRenewedLeaseStays(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(1)
	slow := newHolder("127.0.0.1:3001", time.Second, true)
	tasks, _ := q.get(slow, 1, proctest.Timeout)
	// Renew every 50ms for longer than a lease, while another worker waits
	// for a task long enough to be handed it if the lease ran out. (Only a
	// pause of a whole second between two renewals could fail this.)
	other := make(chan []Task)
	go func() {
		got, _ := q.get(newHolder("127.0.0.1:3002", time.Hour, true), 1, 1500*time.Millisecond)
		other <- got
	}()
	for range 30 {
		time.Sleep(50 * time.Millisecond) // the worker, working
		if renewed := q.renew(slow, []uint64{tasks[0].Lease}); renewed != 1 {
			t.Fatalf("renewed %d leases, want 1", renewed)
		}
	}
	if got := <-other; len(got) != 0 {
		t.Errorf("another worker was handed %+v while its worker renewed it", got)
	}
	if requeueLog.String() != "" {
		t.Errorf("requeue log: %q", requeueLog)
	}
	if renewed := q.renew(newHolder("127.0.0.1:3003", time.Hour, true), []uint64{tasks[0].Lease}); renewed != 0 {
		t.Errorf("a worker renewed another's lease")
	}
}

// A connection that ends gives back its tasks at once, says so, and no new
// lease goes to it.
func TestQueueHungUpGivesBackItsTasks(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(5)
	worker := newHolder("127.0.0.1:4001", time.Hour, true)
	batch, _ := q.get(worker, 3, proctest.Timeout)
	if len(batch) != 3 {
		t.Fatalf("asked for 3 tasks, got %v", batch)
	}
	// The worker answers one, then its connection ends.
	if refused, err := q.putResults(worker, []Result{{ID: batch[0].ID, Lease: batch[0].Lease}}); err != nil || refused.count() != 0 {
		t.Fatalf("refused %v, error %v", refused, err)
	}
	q.hungUp(worker)
	want := "master: 2 tasks back in the queue (#1 (n=10), #2 (n=20)): its worker 127.0.0.1:4001 hung up\n"
	if diff := cmp.Diff(want, requeueLog.String()); diff != "" {
		t.Errorf("requeue log (-want +got):\n%s", diff)
	}
	if got, closed := q.get(worker, 10, time.Millisecond); len(got) != 0 || closed {
		t.Errorf("the ended connection was handed %v (closed %v)", got, closed)
	}
	rest, _ := q.get(newHolder("127.0.0.1:4002", time.Hour, true), 10, proctest.Timeout)
	var got []int
	for _, task := range rest {
		got = append(got, task.N)
	}
	if diff := cmp.Diff([]int{10, 20, 30, 40}, sortedInts(got)); diff != "" {
		t.Errorf("tasks handed out after the connection ended (-want +got):\n%s", diff)
	}
}

// A waiting get returns as soon as its connection ends.
func TestQueueWaitingGetEndsWithItsConnection(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(0)
	worker := newHolder("127.0.0.1:5001", time.Hour, true)
	returned := make(chan []Task)
	go func() {
		got, _ := q.get(worker, 1, proctest.Timeout)
		returned <- got
	}()
	q.hungUp(worker)
	select {
	case got := <-returned:
		if len(got) != 0 {
			t.Errorf("got %v", got)
		}
	case <-time.After(proctest.Timeout):
		t.Fatal("the get still waits after its connection ended")
	}
}

// After shutdown, get hands out nothing and starts no lease.
func TestQueueGetAfterShutdown(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(2)
	q.shutdown()
	if got, closed := q.get(newHolder("127.0.0.1:6001", time.Hour, true), 2, proctest.Timeout); len(got) != 0 || !closed {
		t.Errorf("get after shutdown: %v, closed %v; want none, closed", got, closed)
	}
	if len(q.leases) != 0 {
		t.Errorf("%d leases after shutdown", len(q.leases))
	}
}
