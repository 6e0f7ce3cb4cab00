// Tests of pyserver.go: the Go master, as the real binary, serving workers
// written in Python with BaseManager (testdata/python/worker.py), under each
// Python, beside Go workers, and against a Python peer that misbehaves.

package main

import (
	"fmt"
	"io"
	"math"
	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
	"multithreading/internal/queue"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startPyWorker runs testdata/python/worker.py against the master at addr.
func startPyWorker(t *testing.T, py pythontest.Python, name, addr string, args ...string) *proctest.Proc {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	worker, stdin := pythontest.Start(t, py, name, "worker.py", append([]string{"--port", port}, args...)...)
	stdin.Close()
	return worker
}

// protocolOf is how the master names the protocol a Python speaks.
func protocolOf(py pythontest.Python) mpconn.Protocol {
	if py.Minor >= 12 {
		return mpconn.PythonSHA256
	}
	return mpconn.PythonMD5
}

// The tutorial's run, with the master in Go and the worker in Python: both
// print what the tutorial shows, line for line.
func TestGoMasterPythonWorker(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr := startMaster(t, "--seed", "1")
			worker := startPyWorker(t, py, "python worker", addr, "--work", "0.001")
			checkTutorialRun(t, master, addr, worker)
		})
	}
}

// A Python worker's get that times out raises queue.Empty, which it prints
// as task_worker.py does.
func TestGoMasterPythonWorkerQueueEmpty(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr := startMaster(t, "--tasks", "2")
			worker := startPyWorker(t, py, "python worker", addr, "--work", "0", "--tries", "4", "--timeout", "0.1")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("python worker exited %d: %s", exit, worker.Stderr)
			}
			finishMaster(t, master)
			tasks := ranTasks(worker.Stdout.String())
			want := []string{"Connect to server 127.0.0.1..."}
			for _, n := range tasks {
				want = append(want, fmt.Sprintf("run task %d * %d...", n, n))
			}
			want = append(want, "task queue is empty.", "task queue is empty.", "worker exit.")
			if diff := cmp.Diff(want, proctest.Lines(worker.Stdout.String())); diff != "" || len(tasks) != 2 {
				t.Errorf("python worker ran %d tasks (-want +got):\n%s", len(tasks), diff)
			}
		})
	}
}

// finishMaster waits for a master and checks its output.
func finishMaster(t *testing.T, master *proctest.Proc) []int {
	t.Helper()
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	return checkMasterOutput(t, master)
}

// A Python worker with the wrong key fails as Python fails, the master says
// which protocol it spoke, and goes on to serve a good one.
func TestGoMasterPythonWrongKey(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr := startMaster(t, "--tasks", "2")
			intruder := startPyWorker(t, py, "python intruder", addr, "--authkey", "not hello world")
			if exit := intruder.Wait(); exit == 0 || !strings.Contains(intruder.Stderr.String(), "AuthenticationError: digest sent was rejected") {
				t.Errorf("python worker with the wrong key exited %d:\n%s", exit, intruder.Stderr)
			}
			master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: authentication failed: the worker \(`+
				regexp.QuoteMeta(protocolOf(py).String())+`\) did not prove it knows the authkey$`))
			worker := startPyWorker(t, py, "python worker", addr, "--work", "0", "--tries", "2")
			if exit := worker.Wait(); exit != 0 {
				t.Errorf("python worker exited %d: %s", exit, worker.Stderr)
			}
			finishMaster(t, master)
		})
	}
}

// A Python worker killed mid-task: its task goes back in the queue when its
// connection ends, and a Go worker does it.
func TestGoMasterKilledPythonWorker(t *testing.T) {
	t.Parallel()
	py := pythontest.ForTest(t)[0]
	master, addr := startMaster(t, "--tasks", "3")
	doomed := startPyWorker(t, py, "doomed python worker", addr, "--work", "60")
	m := doomed.Stdout.WaitFor(t, doomed, regexp.MustCompile(`^run task (\d+) \* \d+\.\.\.$`))
	doomed.Cmd.Process.Kill()
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: task #\d+ \(n=`+m[1]+`\) back in the queue: its worker 127\.0\.0\.1:\d+ hung up$`))
	worker := start(t, "go worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	finish(t, master, worker)
	if !slices.Contains(workerTasks(worker), mustAtoi(t, m[1])) {
		t.Errorf("the go worker did not run the killed worker's task %s:\n%s", m[1], worker.Stdout)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two Python workers, of different Pythons where the machine has them, and
// a Go worker share one Go master's tasks, each done once.
func TestGoMasterMixedWorkers(t *testing.T) {
	t.Parallel()
	pythons := pythontest.ForTest(t)
	master, addr := startMaster(t, "--tasks", "30")
	var workers []*proctest.Proc
	for i := range 2 {
		py := pythons[min(i*(len(pythons)-1), len(pythons)-1)]
		workers = append(workers, startPyWorker(t, py, fmt.Sprintf("python worker %d (%v)", i+1, py), addr,
			"--work", "0.01", "--tries", "40", "--timeout", "0.05"))
	}
	// Python starts slowly on a busy machine: the Go worker starts once each
	// Python worker has a task, or it could do them all first.
	for _, w := range workers {
		w.Stdout.WaitFor(t, w, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	}
	workers = append(workers, start(t, "go worker", "worker", "--server", addr, "--tries", "0", "--work", "10ms"))
	tasks := finishMaster(t, master)
	var ran []int
	for _, w := range workers {
		if exit := w.Wait(); exit != 0 {
			t.Errorf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
		ran = append(ran, workerTasks(w)...)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(ran))); diff != "" {
		t.Errorf("tasks run by the three workers, each once (-want +got):\n%s", diff)
	}
}

// A peer that knows the key and sends no pickle, a pickle that would run
// code, or a length of 512 MiB is hung up on, with a line that says why;
// nothing runs, the master's memory stays small, and it serves a good worker.
func TestGoMasterRoguePythonPeer(t *testing.T) {
	t.Parallel()
	py := pythontest.ForTest(t)[0]
	for _, tc := range []struct{ mode, logged string }{
		{"garbage", `pickle: .+`},
		{"code", `pickle: .*posix.*system.*`},
		{"oversized", `message too long: a message of 536870912 bytes \(at most 65536\)`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			master, addr := startMaster(t, "--tasks", "2")
			_, port, _ := strings.Cut(addr, ":")
			rogue, stdin := pythontest.Start(t, py, "rogue python peer", "rogue.py", port, "hello world", tc.mode)
			stdin.Close()
			if exit := rogue.Wait(); exit != 0 || rogue.Stdout.String() != "closed\n" {
				t.Errorf("the rogue peer exited %d and heard %q, want the master to hang up\n%s", exit, rogue.Stdout, rogue.Stderr)
			}
			master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: hung up on it: `+tc.logged+`$`))
			if peak := peakMiBOf(t, master); peak > 32 {
				t.Errorf("master's peak memory %.1f MiB", peak)
			}
			finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
			if strings.Contains(master.Stdout.String()+master.Stderr.String(), "should never run") {
				t.Errorf("the pickle's code ran")
			}
		})
	}
}

// What the master answers each request to the manager itself: what
// task_worker.py needs, and a clean error, never a crash, for the rest.
func TestManagerRequests(t *testing.T) {
	t.Parallel()
	m := newQueueManager(queue.New(1, nil, nil), []byte("hello world"), time.Second, time.Second, io.Discard)
	for _, tc := range []struct {
		request  pyRequest
		reply    pickle.Tuple
		accepted bool
	}{
		{pyRequest{method: "dummy"}, pyReturn(nil), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_task_queue"}}, pyReturn(pickle.Tuple{pyTaskQueueID, pyExposed}), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_result_queue"}}, pyReturn(pickle.Tuple{pyResultQueueID, pyExposed}), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_secret"}}, pyRaise("KeyError", `no queue is registered as "get_secret"`), false},
		{pyRequest{method: "incref", args: pickle.Tuple{pyTaskQueueID}}, pyReturn(nil), false},
		{pyRequest{method: "decref", args: pickle.Tuple{"7f00deadbeef"}}, pyRaise("KeyError", `no queue has the id "7f00deadbeef"`), false},
		{pyRequest{method: "accept_connection", args: pickle.Tuple{"MainProcess"}}, pyReturn(nil), true},
		{pyRequest{method: "shutdown"}, pyRaise("RuntimeError", "a worker may not shut the master down"), false},
		{pyRequest{method: "debug_info"}, pyRaise("RuntimeError", `"debug_info" is not served`), false},
		{pyRequest{ident: pyTaskQueueID, method: "get"}, pyRaise("KeyError", `"task_queue": this connection calls no queue's methods`), false},
	} {
		reply, accepted := m.managerRequest(tc.request)
		if diff := cmp.Diff(tc.reply, reply); diff != "" || accepted != tc.accepted {
			t.Errorf("%+v: accepted %v (-want +got):\n%s", tc.request, accepted, diff)
		}
		if _, err := pickle.Encode(reply); err != nil {
			t.Errorf("%+v: the reply does not pickle: %v", tc.request, err)
		}
	}
}

// get's block and timeout, as Python passes them, and the longest wait.
func TestPyGetWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args pickle.Tuple
		kwds pickle.Dict
		wait time.Duration
		err  string
	}{
		{nil, pickle.Dict{{Key: "timeout", Value: int64(1)}}, time.Second, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: 0.25}}, 250 * time.Millisecond, ""},
		{pickle.Tuple{true, int64(2)}, nil, 2 * time.Second, ""},
		{pickle.Tuple{false}, nil, 0, ""},
		{nil, nil, maxWait, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: 1e9}}, maxWait - time.Second, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: -1.0}}, 0, "'timeout' must be a non-negative number"},
		{nil, pickle.Dict{{Key: "timeout", Value: math.NaN()}}, 0, "'timeout' must be a non-negative number"},
		{nil, pickle.Dict{{Key: "timeout", Value: "soon"}}, 0, "'timeout' must be a number"},
		{nil, pickle.Dict{{Key: "wait", Value: int64(1)}}, 0, `get() got an unexpected keyword argument "wait"`},
	} {
		wait, err := pyGetWait(pyRequest{method: "get", args: tc.args, kwds: tc.kwds})
		if wait != tc.wait || fmt.Sprint(err) != orNil(tc.err) {
			t.Errorf("get(*%v, **%v): %v, %v; want %v, %q", tc.args, tc.kwds, wait, err, tc.wait, tc.err)
		}
	}
}

// A Python worker slower than its lease, which it cannot renew, has its
// task go to another worker; its late result is refused and logged, but
// not raised in it: the tutorial's worker would die of the exception.
func TestPyPutAfterTheLeaseRanOut(t *testing.T) {
	t.Parallel()
	taskQueue := queue.New(1, make(chan queue.Result, 1), io.Discard)
	taskQueue.Put(7)
	masterLog := proctest.NewLineLog()
	m := newQueueManager(taskQueue, []byte("hello world"), time.Second, 20*time.Millisecond, masterLog)
	slow := queue.NewHolder("127.0.0.1:7001", m.pythonLeaseFor, false)
	reply, leased := m.pyGet(slow, pyRequest{method: "get", kwds: pickle.Dict{{Key: "timeout", Value: int64(1)}}}, nil)
	if diff := cmp.Diff(pyReturn(7), reply); diff != "" || len(leased) != 1 {
		t.Fatalf("get (-want +got):\n%s", diff)
	}
	// Another worker waits until the slow one's lease has run out.
	if tasks, _ := taskQueue.Get(queue.NewHolder("127.0.0.1:7002", time.Hour, true), 1, proctest.Timeout); len(tasks) != 1 {
		t.Fatalf("the other worker got %v", tasks)
	}
	reply, leased = m.pyPut(slow, pyRequest{method: "put", args: pickle.Tuple{"7 * 7 = 49"}}, leased)
	if diff := cmp.Diff(pyReturn(nil), reply); diff != "" || len(leased) != 0 {
		t.Errorf("late put (-want +got):\n%s", diff)
	}
	if answered, _, _ := taskQueue.Progress(); answered != 0 {
		t.Errorf("the late result counted")
	}
	m.refused.flush()
	if want := "master: refused 1 result(s) from 127.0.0.1:7001 (not leased to it: 1)\n"; masterLog.String() != want {
		t.Errorf("master's log %q, want %q", masterLog.String(), want)
	}
}

// A result that is no str is kept as Python's str() would print it.
func TestPyStr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value any
		want  string
	}{
		{"7 * 7 = 49", "7 * 7 = 49"},
		{int64(49), "49"},
		{1.0, "1.0"},
		{0.1, "0.1"},
		{100000.0, "100000.0"},
		{0.0001, "0.0001"},
		{1.5e-7, "1.5e-07"},
		{1e16, "1e+16"},
		{nil, "None"},
		{true, "True"},
		{pickle.Tuple{int64(7), int64(49)}, "(7, 49)"},
	} {
		if got := pyStr(tc.value); got != tc.want {
			t.Errorf("str(%#v) = %q, want %q", tc.value, got, tc.want)
		}
	}
}

// orNil is the text of an error that is want, or "<nil>" for none.
func orNil(want string) string {
	if want == "" {
		return "<nil>"
	}
	return want
}
