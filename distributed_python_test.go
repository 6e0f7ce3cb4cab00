// The tutorial's own Python, end to end: task_master.py with our worker,
// and task_worker.py with our master, for each Python from 3.11 up.

package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"multithreading/internal/mpconn"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"

	"github.com/google/go-cmp/cmp"
)

// The tutorial's run, with the master in Python and the worker in Go: each
// task comes through in order, each result lands, and both print what the
// tutorial shows.
func TestPyMasterGoWorker(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, _ := pythontest.StartMaster(t, py, "--seed", "1")
			worker := start(t, "go worker", "worker", "--server", addr, "--work", "1ms")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("worker exited %d: %s", exit, worker.Stderr)
			}
			if exit := master.Wait(); exit != 0 {
				t.Fatalf("master exited %d: %s", exit, master.Stderr)
			}
			tasks := checkMasterOutput(t, master)
			want := "Connect to server 127.0.0.1...\n"
			for _, n := range tasks {
				want += fmt.Sprintf("run task %d * %d...\n", n, n)
			}
			want += "worker exit.\n"
			if diff := cmp.Diff(want, worker.Stdout.String()); diff != "" || worker.Stderr.String() != "" {
				t.Errorf("worker, stderr %q (-want +got):\n%s", worker.Stderr, diff)
			}
			if len(tasks) != 10 {
				t.Errorf("the master put %d tasks, want 10", len(tasks))
			}
			if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
				t.Errorf("master's stderr:\n%s", got)
			}
		})
	}
}

// A get that times out is Python's queue.Empty, which the worker prints as
// task_worker.py does; and the master, which keeps going until told to
// stop, then ends as usual.
func TestPyMasterQueueEmpty(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, stdin := pythontest.StartMaster(t, py, "--tasks", "2", "--hold")
			worker := start(t, "go worker", "worker", "--server", addr, "--work", "1ms", "--tries", "4", "--get-timeout", "100ms")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("worker exited %d: %s", exit, worker.Stderr)
			}
			got := worker.Stdout.String()
			tasks := ranTasks(got)
			want := []string{"Connect to server 127.0.0.1..."}
			for _, n := range tasks {
				want = append(want, fmt.Sprintf("run task %d * %d...", n, n))
			}
			want = append(want, "task queue is empty.", "task queue is empty.", "worker exit.")
			if diff := cmp.Diff(want, proctest.Lines(got)); diff != "" || len(tasks) != 2 {
				t.Errorf("worker ran %d tasks (-want +got):\n%s", len(tasks), diff)
			}
			stdin.Close() // the master may now shut down
			if exit := master.Wait(); exit != 0 {
				t.Fatalf("master exited %d: %s", exit, master.Stderr)
			}
			checkMasterOutput(t, master)
		})
	}
}

// ranTasks returns the tasks a worker's output says it ran.
func ranTasks(out string) []int {
	var tasks []int
	for _, line := range proctest.Lines(out) {
		var n int
		if _, err := fmt.Sscanf(line, "run task %d * ", &n); err == nil {
			tasks = append(tasks, n)
		}
	}
	return tasks
}

// A worker with the wrong key is turned away with one clear error, and the
// master, none the worse, serves the next worker.
func TestPyMasterWrongKey(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, _ := pythontest.StartMaster(t, py, "--tasks", "1")
			intruder := start(t, "go worker with a wrong key", "worker", "--server", addr, "--authkey", "hello")
			const wantErr = "worker: authentication failed: the master rejected our authkey\n"
			if exit := intruder.Wait(); exit != 1 || intruder.Stderr.String() != wantErr {
				t.Errorf("worker with a wrong key: exit %d, stderr %q; want exit 1, %q", exit, intruder.Stderr, wantErr)
			}
			if got := intruder.Stdout.String(); got != "Connect to server 127.0.0.1...\n" {
				t.Errorf("worker with a wrong key printed:\n%s", got)
			}
			good := start(t, "go worker", "worker", "--server", addr, "--tries", "1", "--work", "1ms")
			if exit := good.Wait(); exit != 0 {
				t.Errorf("then a worker with the right key exited %d: %s", exit, good.Stderr)
			}
			if exit := master.Wait(); exit != 0 {
				t.Errorf("master exited %d: %s", exit, master.Stderr)
			}
			checkMasterOutput(t, master)
			if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
				t.Errorf("master's stderr:\n%s", got)
			}
		})
	}
}

// A master that goes away while the worker still has tries left: the
// worker's next call ends with worker.ErrMasterGone, the error the listing reports.
func TestPyMasterGoesAway(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, stdin := pythontest.StartMaster(t, py, "--tasks", "1", "--hold")
			worker := start(t, "go worker", "worker", "--server", addr, "--tries", "1000", "--get-timeout", "100ms", "--work", "1ms")
			// The worker has done the one task and is asking for more.
			master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Result: \d+ \* \d+ = \d+$`))
			stdin.Close()
			if exit := master.Wait(); exit != 0 {
				t.Errorf("master exited %d: %s", exit, master.Stderr)
			}
			if exit := worker.Wait(); exit != 1 || worker.Stderr.String() != "worker: the master hung up\n" {
				t.Errorf("worker: exit %d, stderr %q; want exit 1, %q", exit, worker.Stderr, "worker: the master hung up\n")
			}
		})
	}
}

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
	// Python starts slowly on a busy machine: each worker starts once the
	// one before it has a task, which takes it a second, so that no worker
	// can do every task before the next one connects.
	var workers []*proctest.Proc
	for i := range 2 {
		py := pythons[min(i*(len(pythons)-1), len(pythons)-1)]
		w := startPyWorker(t, py, fmt.Sprintf("python worker %d (%v)", i+1, py), addr,
			"--work", "1", "--tries", "40", "--timeout", "0.05")
		w.Stdout.WaitFor(t, w, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
		workers = append(workers, w)
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
