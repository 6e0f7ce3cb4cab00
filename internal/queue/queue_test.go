// Tests of queue.go, the leased task queue, called directly.

package queue

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// newTestQueue is a queue of tasks n = 0, 10, 20, ... and its logs.
func newTestQueue(total int) (*Queue, *proctest.LineLog) {
	requeueLog := proctest.NewLineLog() // the queue's timers write to it as the test reads it
	q := New(total, make(chan Result, total+10), requeueLog)
	for n := range total {
		q.Put(n * 10)
	}
	return q, requeueLog
}

// receivedResults drains the results the master has been sent.
func receivedResults(q *Queue) []string {
	var got []string
	for len(q.results) > 0 {
		got = append(got, (<-q.results).Text)
	}
	return got
}

func TestQueueExpiredLeaseGoesToNextWorker(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(1)
	stopped := NewHolder("127.0.0.1:1001", 50*time.Millisecond, true)
	next := NewHolder("127.0.0.1:1002", time.Hour, true)
	first, _ := q.Get(stopped, 1, proctest.Timeout)
	// Nothing else is pending: this get waits until the lease runs out.
	second, _ := q.Get(next, 1, proctest.Timeout)
	if len(first) != 1 || len(second) != 1 || first[0].ID != second[0].ID || first[0].Lease == second[0].Lease {
		t.Fatalf("first handout %+v, second %+v: want the same task on a new lease", first, second)
	}
	want := "master: task #0 (n=0) back in the queue: its lease ran out (the worker stopped renewing it)\n"
	if diff := cmp.Diff(want, requeueLog.String()); diff != "" {
		t.Errorf("requeue log (-want +got):\n%s", diff)
	}
	// The stopped worker wakes and answers on its old lease: refused.
	refused, err := q.PutResults(stopped, []Result{{ID: 0, Lease: first[0].Lease, Text: "late"}})
	if err != nil || refused[NotLeased] != 1 {
		t.Errorf("a result on a lease that ran out: refused %v, error %v; want refused as not leased", refused, err)
	}
	refused, err = q.PutResults(next, []Result{{ID: 0, Lease: second[0].Lease, Text: "0 * 0 = 0"}})
	if err != nil || len(refused) != 0 {
		t.Fatalf("the lease holder's result: refused %v, error %v", refused, err)
	}
	if diff := cmp.Diff([]string{"0 * 0 = 0"}, receivedResults(q)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	select {
	case <-q.Finished():
	default:
		t.Error("every task has its result, but the queue is not finished")
	}
	if tasks, closed := q.Get(NewHolder("late", time.Hour, true), 1, proctest.Timeout); len(tasks) != 0 || !closed {
		t.Errorf("get on a finished queue: %v, closed %v; want none, closed", tasks, closed)
	}
}

// A result counts only from the connection holding the task's lease, once.
// Everything else is refused and changes no count.
func TestQueueRefusesWhatWasNotLeased(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(4)
	honest := NewHolder("127.0.0.1:2001", time.Hour, true)
	forger := NewHolder("127.0.0.1:2002", time.Hour, true)
	tasks, _ := q.Get(honest, 2, proctest.Timeout) // tasks #0 and #1
	mine, _ := q.Get(forger, 1, proctest.Timeout)  // task #2
	lease := tasks[0].Lease

	for _, tc := range []struct {
		Name    string
		from    *Holder
		results []Result
		refused map[string]int
	}{
		{"forged ids, no lease", forger, []Result{{ID: 0}, {ID: 1}, {ID: 3}}, map[string]int{NotLeased: 3}},
		{"another connection's lease", forger, []Result{{ID: 0, Lease: lease, Text: "forged"}}, map[string]int{NotLeased: 1}},
		{"a task not in the lease", forger, []Result{{ID: 3, Lease: mine[0].Lease}, {ID: math.MinInt, Lease: mine[0].Lease}}, map[string]int{NotInLease: 2}},
		{"too long", honest, []Result{{ID: 0, Lease: lease, Text: strings.Repeat("x", MaxText+1)}}, map[string]int{TooLong: 1}},
		{"the holder, once", honest, []Result{{ID: 0, Lease: lease, Text: "0 * 0 = 0"}}, map[string]int{}},
		{"the holder, twice", honest, []Result{{ID: 0, Lease: lease, Text: "again"}, {ID: 0, Lease: lease, Text: "again"}}, map[string]int{Duplicate: 2}},
	} {
		refused, err := q.PutResults(tc.from, tc.results)
		if err != nil {
			t.Fatalf("%s: %v", tc.Name, err)
		}
		if diff := cmp.Diff(tc.refused, refused); diff != "" {
			t.Errorf("%s: refused (-want +got):\n%s", tc.Name, diff)
		}
	}
	if diff := cmp.Diff([]string{"0 * 0 = 0"}, receivedResults(q)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	// The duplicates did not end the two-task lease early: task #1 is
	// still the honest worker's, and nobody else is handed it.
	if answered, _, _ := q.Progress(); answered != 1 {
		t.Errorf("%d tasks answered, want 1", answered)
	}
	if got, _ := q.Get(NewHolder("127.0.0.1:2003", time.Hour, true), 4, 10*time.Millisecond); len(got) != 1 || got[0].ID != 3 {
		t.Errorf("a third worker was handed %+v; want only task #3", got)
	}
	if refused, _ := q.PutResults(honest, []Result{{ID: 1, Lease: lease, Text: "1"}}); len(refused) != 0 {
		t.Errorf("the honest worker's second result was refused: %v", refused)
	}
}

// A worker that renews its lease keeps its task however long it works.
func TestQueueRenewedLeaseStays(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(1)
	slow := NewHolder("127.0.0.1:3001", time.Second, true)
	tasks, _ := q.Get(slow, 1, proctest.Timeout)
	// Renew every 50ms for longer than a lease, while another worker waits
	// for a task long enough to be handed it if the lease ran out. (Only a
	// pause of a whole second between two renewals could fail this.)
	other := make(chan []Task)
	go func() {
		got, _ := q.Get(NewHolder("127.0.0.1:3002", time.Hour, true), 1, 1500*time.Millisecond)
		other <- got
	}()
	for range 30 {
		time.Sleep(50 * time.Millisecond) // the worker, working
		if renewed := q.Renew(slow, []uint64{tasks[0].Lease}); renewed != 1 {
			t.Fatalf("renewed %d leases, want 1", renewed)
		}
	}
	if got := <-other; len(got) != 0 {
		t.Errorf("another worker was handed %+v while its worker renewed it", got)
	}
	if requeueLog.String() != "" {
		t.Errorf("requeue log: %q", requeueLog)
	}
	if renewed := q.Renew(NewHolder("127.0.0.1:3003", time.Hour, true), []uint64{tasks[0].Lease}); renewed != 0 {
		t.Errorf("a worker renewed another's lease")
	}
}

// A connection that ends gives back its tasks at once, says so, and no new
// lease goes to it.
func TestQueueHungUpGivesBackItsTasks(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(5)
	worker := NewHolder("127.0.0.1:4001", time.Hour, true)
	batch, _ := q.Get(worker, 3, proctest.Timeout)
	if len(batch) != 3 {
		t.Fatalf("asked for 3 tasks, got %v", batch)
	}
	// The worker answers one, then its connection ends.
	if refused, err := q.PutResults(worker, []Result{{ID: batch[0].ID, Lease: batch[0].Lease}}); err != nil || len(refused) != 0 {
		t.Fatalf("refused %v, error %v", refused, err)
	}
	q.HungUp(worker)
	want := "master: 2 tasks back in the queue (#1 (n=10), #2 (n=20)): its worker 127.0.0.1:4001 hung up\n"
	if diff := cmp.Diff(want, requeueLog.String()); diff != "" {
		t.Errorf("requeue log (-want +got):\n%s", diff)
	}
	if got, closed := q.Get(worker, 10, time.Millisecond); len(got) != 0 || closed {
		t.Errorf("the ended connection was handed %v (closed %v)", got, closed)
	}
	rest, _ := q.Get(NewHolder("127.0.0.1:4002", time.Hour, true), 10, proctest.Timeout)
	var got []int
	for _, task := range rest {
		got = append(got, task.N)
	}
	if diff := cmp.Diff([]int{10, 20, 30, 40}, slices.Sorted(slices.Values(got))); diff != "" {
		t.Errorf("tasks handed out after the connection ended (-want +got):\n%s", diff)
	}
}

// A waiting get returns as soon as its connection ends.
func TestQueueWaitingGetEndsWithItsConnection(t *testing.T) {
	t.Parallel()
	q, _ := newTestQueue(0)
	worker := NewHolder("127.0.0.1:5001", time.Hour, true)
	returned := make(chan []Task)
	go func() {
		got, _ := q.Get(worker, 1, proctest.Timeout)
		returned <- got
	}()
	q.HungUp(worker)
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
	q.Shutdown()
	if got, closed := q.Get(NewHolder("127.0.0.1:6001", time.Hour, true), 2, proctest.Timeout); len(got) != 0 || !closed {
		t.Errorf("get after shutdown: %v, closed %v; want none, closed", got, closed)
	}
	if len(q.leases) != 0 {
		t.Errorf("%d leases after shutdown", len(q.leases))
	}
}

// A result reaches the master printable: a worker's newlines, escape
// sequences and invalid bytes come out quoted, in one line.
func TestResultsArePrintable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"3 * 3 = 9", "3 * 3 = 9"},
		{"平方: 3 * 3 = 9", "平方: 3 * 3 = 9"},
		{"1\nResult: 1 * 1 = 1\nmaster exit.\n", `"1\nResult: 1 * 1 = 1\nmaster exit.\n"`},
		{"\x1b[31mred", `"\x1b[31mred"`},
		{"tab\there", `"tab\there"`},
		{"bad \xff byte", `"bad \xff byte"`},
		{"\u2028line separator", `"\u2028line separator"`},
	} {
		q, _ := newTestQueue(1)
		h := NewHolder("worker", time.Minute, true)
		tasks, _ := q.Get(h, 1, 0)
		if refused, err := q.PutResults(h, []Result{{ID: tasks[0].ID, Lease: tasks[0].Lease, Text: tc.text}}); len(refused) != 0 || err != nil {
			t.Fatalf("%q: refused %v, %v", tc.text, refused, err)
		}
		if got := (<-q.results).Text; got != tc.want {
			t.Errorf("%q reached the master as %s, want %s", tc.text, got, tc.want)
		}
	}
}

// A worker that takes a task and hangs up, over and over, costs the log a
// line a second: the first requeue of each second in full, the others
// summed up at its end.
func TestRequeueLinesAreThrottled(t *testing.T) {
	t.Parallel()
	q, requeueLog := newTestQueue(1)
	start := time.Now()
	const requeues = 1000
	for range requeues {
		h := NewHolder("127.0.0.1:7001", time.Minute, true)
		if tasks, _ := q.Get(h, 1, proctest.Timeout); len(tasks) != 1 {
			t.Fatalf("got %d tasks, want the one", len(tasks))
		}
		q.HungUp(h)
	}
	q.Shutdown()
	seconds := int(time.Since(start)/time.Second) + 1
	full := regexp.MustCompile(`^master: task #0 \(n=0\) back in the queue: its worker 127\.0\.0\.1:7001 hung up$`)
	summed := regexp.MustCompile(`^master: (\d+) more tasks? went back in the queue in the last 1s \(its worker hung up: (\d+)\)$`)
	lines, told := proctest.Lines(requeueLog.String()), 0
	for _, line := range lines {
		if m := summed.FindStringSubmatch(line); m != nil && m[1] == m[2] {
			n, _ := strconv.Atoi(m[1])
			told += n
		} else if full.MatchString(line) {
			told++
		} else {
			t.Errorf("unexpected line %q", line)
		}
	}
	if told != requeues || len(lines) > 2*seconds {
		t.Errorf("%d lines for %d requeues in %d s, telling of %d:\n%s", len(lines), requeues, seconds, told, requeueLog)
	}
}

// A queue of paths (master --files) hands each task out with its path, and
// names it by its path where a queue of numbers gives n.
func TestQueueOfPaths(t *testing.T) {
	t.Parallel()
	requeueLog := proctest.NewLineLog()
	q := NewForPaths(3, make(chan Result, 3), requeueLog)
	if !q.HandsOutPaths() || New(1, nil, nil).HandsOutPaths() {
		t.Errorf("HandsOutPaths: %v for a queue of paths, %v for one of numbers", q.HandsOutPaths(), New(1, nil, nil).HandsOutPaths())
	}
	for _, path := range []string{"logs/a.log", "logs/b c.log", "日志/c.log"} {
		q.PutPath(path)
	}
	// A file may take minutes to read: a worker that asks for several gets
	// one, and the others stay for other workers.
	worker := NewHolder("127.0.0.1:8001", time.Hour, true)
	var tasks []Task
	for range 2 {
		got, _ := q.Get(worker, 512, proctest.Timeout)
		tasks = append(tasks, got...)
	}
	want := []Task{{ID: 0, Path: "logs/a.log", Lease: 1}, {ID: 1, Path: "logs/b c.log", Lease: 2}}
	if diff := cmp.Diff(want, tasks); diff != "" {
		t.Errorf("tasks handed out (-want +got):\n%s", diff)
	}
	q.HungUp(worker)
	wantLog := "master: 2 tasks back in the queue (#0 (logs/a.log), #1 (logs/b c.log)): its worker 127.0.0.1:8001 hung up\n"
	if diff := cmp.Diff(wantLog, requeueLog.String()); diff != "" {
		t.Errorf("requeue log (-want +got):\n%s", diff)
	}
	if got, want := q.Missing(), "missing tasks: #0 (logs/a.log), #1 (logs/b c.log), #2 (日志/c.log)"; got != want {
		t.Errorf("Missing() = %q, want %q", got, want)
	}
}

// A path is 1 to MaxPath bytes of text that prints as it is, on one line.
func TestCheckPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, err string }{
		{"logs/app.log", ""},
		{"日志/app 1.log", ""},
		{"../etc/passwd", ""}, // the worker's to refuse: it knows its root
		{strings.Repeat("x", MaxPath), ""},
		{"", "an empty path"},
		{strings.Repeat("x", MaxPath+1), "a path of 513 bytes (at most 512)"},
		{"logs/a\nResult: forged", `the path "logs/a\nResult: forged" has characters that do not print`},
		{"logs/\xff.log", `the path "logs/\xff.log" has characters that do not print`},
	} {
		err := CheckPath(tc.path)
		if got := fmt.Sprint(err); (err == nil) != (tc.err == "") || err != nil && got != tc.err {
			t.Errorf("CheckPath(%.20q) = %v, want %q", tc.path, err, tc.err)
		}
	}
}
