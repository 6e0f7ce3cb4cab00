// Tests of section 分布式进程: the master and workers as separate processes on
// loopback, each on a free port, waiting on the lines they print.

package main

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The tutorial's two terminals, line for line (seed 1 draws the tasks).
func TestMasterWorkerTutorialOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--seed", "1")
	master.stdout.waitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	worker := start(t, "worker", "worker", "--server", addr, "--work", "1ms")
	if exit := worker.wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Errorf("master exited %d: %s", exit, master.stderr)
	}
	if diff := cmp.Diff(golden(t, "master.golden"), master.stdout.String()); diff != "" {
		t.Errorf("master (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(golden(t, "worker.golden"), worker.stdout.String()); diff != "" {
		t.Errorf("worker (-want +got):\n%s", diff)
	}
	checkMasterOutput(t, master)
	if got := master.stderr.String(); got != "master: listening on "+addr+"\n" {
		t.Errorf("master's stderr: %q", got)
	}
}

// workerTasks returns the tasks a worker says it ran.
func workerTasks(worker *proc) []int {
	var tasks []int
	for _, line := range lines(worker.stdout.String()) {
		var n int
		if _, err := fmt.Sscanf(line, "run task %d * ", &n); err == nil {
			tasks = append(tasks, n)
		}
	}
	return tasks
}

func sortedInts(a []int) []int {
	a = slices.Clone(a)
	slices.Sort(a)
	return a
}

func TestTwoWorkersShareTasks(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "10")
	w1 := start(t, "worker 1", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	w2 := start(t, "worker 2", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	for _, w := range []*proc{w1, w2} {
		if exit := w.wait(); exit != 0 || !strings.HasSuffix(w.stdout.String(), "worker exit.\n") {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s", w.name, exit, w.stdout, w.stderr)
		}
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	ran := append(workerTasks(w1), workerTasks(w2)...)
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(ran)); diff != "" {
		t.Errorf("tasks run by the two workers, each once (-want +got):\n%s", diff)
	}
}

// A worker killed while it holds a task: the task goes back to the queue when
// its connection closes, and a new worker does it.
func TestKilledWorkerLosesNoTask(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "5")
	doomed := start(t, "doomed worker", "worker", "--server", addr, "--work", "1h")
	m := doomed.stdout.waitFor(t, doomed, regexp.MustCompile(`^run task (\d+) \* \d+\.\.\.$`))
	doomed.cmd.Process.Kill()
	doomed.wait()

	fresh := start(t, "fresh worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	if exit := fresh.wait(); exit != 0 {
		t.Errorf("fresh worker exited %d: %s", exit, fresh.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(workerTasks(fresh))); diff != "" {
		t.Errorf("the fresh worker should run every task, the killed one's (%s) too (-want +got):\n%s", m[1], diff)
	}
}

// A worker that holds a task past its lease, without dying: the task goes to
// the next worker that asks, and the master finishes without it.
func TestExpiredLeaseGoesToAnotherWorker(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "5", "--lease", "200ms")
	stuck := start(t, "stuck worker", "worker", "--server", addr, "--tries", "1", "--work", "1h")
	stuck.stdout.waitFor(t, stuck, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	other := start(t, "other worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	if exit := other.wait(); exit != 0 {
		t.Errorf("other worker exited %d: %s", exit, other.stderr)
	}
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(workerTasks(other))); diff != "" {
		t.Errorf("the other worker should run every task (-want +got):\n%s", diff)
	}
}

func TestWrongAuthkey(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3")
	intruder := start(t, "intruder", "worker", "--server", addr, "--authkey", "not hello world")
	if exit := intruder.wait(); exit != 1 {
		t.Errorf("worker with the wrong key exited %d, want 1", exit)
	}
	want := "worker: authentication failed: the master rejected our authkey\n"
	if diff := cmp.Diff(want, intruder.stderr.String()); diff != "" {
		t.Errorf("worker's stderr (-want +got):\n%s", diff)
	}
	master.stderr.waitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: authentication failed: the worker did not prove it knows the authkey$`))

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// The key can come from $TASK_AUTHKEY instead of the command line.
func TestAuthkeyFromEnvironment(t *testing.T) {
	t.Parallel()
	secret := []string{authkeyEnv + "=s3cret"}
	master := startWithEnv(t, "master", secret, "master", "--addr", "127.0.0.1:0", "--tasks", "2")
	addr := master.stderr.waitFor(t, master, regexp.MustCompile(`^master: listening on (\S+)$`))[1]
	tutorialKey := start(t, "worker with the tutorial's key", "worker", "--server", addr)
	if exit := tutorialKey.wait(); exit != 1 {
		t.Errorf("worker with the tutorial's key exited %d, want 1", exit)
	}
	finish(t, master, startWithEnv(t, "worker with the key from the environment", secret,
		"worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// Peers that do not speak the handshake are turned away while a good worker
// is served. The silent peer holds its handshake open for the master's whole
// 5 s limit; the good worker, with 3 short tasks, is done long before. Were
// handshakes run one at a time on the accept loop, the worker could only get
// in once the silent peer had timed out, and the master would log that.
func TestMasterSurvivesBadPeers(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3")
	dial := func() net.Conn {
		conn, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	silent := dial() // connects and says nothing, holding its handshake open
	garbage := dial()
	garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	oversized := dial()
	oversized.Write([]byte{0xff, 0xff, 0xff, 0xff})

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
	for _, want := range []string{
		`rejected 127\.0\.0\.1:\d+: handshake: a message of \d+ bytes is too long \(at most 64\)`, // the HTTP request's first 4 bytes
		`rejected 127\.0\.0\.1:\d+: handshake: a message of 4294967295 bytes is too long \(at most 64\)`,
	} {
		if !regexp.MustCompile(want).MatchString(master.stderr.String()) {
			t.Errorf("master's stderr has no line like %q:\n%s", want, master.stderr)
		}
	}
	silentTimedOut := regexp.MustCompile(`rejected ` + regexp.QuoteMeta(silent.LocalAddr().String()) + `: .*i/o timeout`)
	if silentTimedOut.MatchString(master.stderr.String()) {
		t.Errorf("the silent peer timed out before the master was done: it held up the good worker\n%s", master.stderr)
	}
	if strings.Contains(master.stderr.String(), "goroutine ") {
		t.Errorf("master printed a stack trace:\n%s", master.stderr)
	}
}

func TestWorkerWithoutMaster(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	stdout, stderr, exit := runBinary(t, program, "worker", "--server", addr)
	want := "worker: cannot connect to " + addr + ": connection refused (is the master running?)\n"
	if diff := cmp.Diff(want, stderr); diff != "" || exit != 1 || stdout != "Connect to server 127.0.0.1...\n" {
		t.Errorf("exit %d, stdout %q, stderr (-want +got):\n%s", exit, stdout, diff)
	}
}

func TestMasterPortTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	stdout, stderr, exit := runBinary(t, program, "master", "--addr", addr)
	want := "master: cannot listen on " + addr + ": address already in use\n"
	if diff := cmp.Diff(want, stderr); diff != "" || exit != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr (-want +got):\n%s", exit, stdout, diff)
	}
}

// A master with no workers gives up after --timeout and names what is missing.
func TestMasterTimesOut(t *testing.T) {
	t.Parallel()
	master, _ := startMaster(t, "--tasks", "2", "--seed", "1", "--timeout", "100ms")
	if exit := master.wait(); exit != 1 {
		t.Errorf("master exited %d, want 1", exit)
	}
	want := "master: no result within 100ms: 0 of 2 results arrived; missing tasks: #0 (n=5983), #1 (n=891)\n"
	if got := lines(master.stderr.String()); len(got) != 2 || got[1]+"\n" != want {
		t.Errorf("master's stderr:\n%s\nwant its last line:\n%s", master.stderr, want)
	}
}

// Ctrl-C: a worker interrupted mid-task hangs up, so its task goes to the
// next worker; an interrupted master closes down with a line, not a trace.
