// Tests of queue.go, the leased task queue, called directly.

package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestQueueExpiredLeaseGoesToNextWorker(t *testing.T) {
	t.Parallel()
	q := newLeasedQueue(1, 50*time.Millisecond, make(chan Result, 10))
	q.Put(7)
	first, _ := q.get(1, 1, testTimeout)
	// Nothing else is pending: this get waits until the lease runs out.
	second, _ := q.get(2, 1, testTimeout)
	if len(first) != 1 || len(second) != 1 || first[0].ID != second[0].ID || first[0].Lease == second[0].Lease {
		t.Fatalf("first handout %+v, second %+v: want the same task on a new lease", first, second)
	}
	// Both workers answer; the master hears the first answer only.
	if err := q.putResults([]Result{{ID: 0, Lease: second[0].Lease, Text: "7 * 7 = 49"}}); err != nil {
		t.Fatal(err)
	}
	if err := q.putResults([]Result{{ID: 0, Lease: first[0].Lease, Text: "late"}}); err != nil {
		t.Fatal(err)
	}
	if got := <-q.results; got.Text != "7 * 7 = 49" || len(q.results) != 0 {
		t.Errorf("results: %+v and %d more; want only the first answer", got, len(q.results))
	}
	select {
	case <-q.finished:
	default:
		t.Error("every task has its result, but the queue is not finished")
	}
	if tasks, closed := q.get(3, 1, testTimeout); len(tasks) != 0 || !closed {
		t.Errorf("get on a finished queue: %v, closed %v; want none, closed", tasks, closed)
	}
}

func TestQueueClosedConnectionGivesBackItsTasks(t *testing.T) {
	t.Parallel()
	q := newLeasedQueue(5, time.Hour, make(chan Result, 10))
	for n := range 5 {
		q.Put(n * 10)
	}
	batch, _ := q.get(1, 3, testTimeout)
	if len(batch) != 3 {
		t.Fatalf("asked for 3 tasks, got %v", batch)
	}
	// The worker answers two, then its connection closes.
	if err := q.putResults([]Result{{ID: batch[0].ID, Lease: batch[0].Lease}, {ID: batch[1].ID, Lease: batch[1].Lease}}); err != nil {
		t.Fatal(err)
	}
	q.releaseOwner(1)
	rest, _ := q.get(2, 10, testTimeout)
	var got []int
	for _, task := range rest {
		got = append(got, task.N)
	}
	want := []int{batch[2].N, 30, 40}
	if diff := cmp.Diff(sortedInts(want), sortedInts(got)); diff != "" {
		t.Errorf("tasks handed out after the connection closed (-want +got):\n%s", diff)
	}
	if err := q.putResults([]Result{{ID: 5}}); err == nil || err.Error() != "no task has id 5" {
		t.Errorf("a result for no task: %v", err)
	}
}
