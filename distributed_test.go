// Tests of section 分布式进程: the master and workers as separate processes on
// loopback, each on a free port, waiting on the lines they print.

package main

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// The tutorial's two terminals, line for line (seed 1 draws the tasks).
func TestMasterWorkerTutorialOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--seed", "1")
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	worker := start(t, "worker", "worker", "--server", addr, "--work", "1ms")
	checkTutorialRun(t, master, addr, worker)
	checkMasterOutput(t, master)
}

// checkTutorialRun waits for a worker and its master at addr, and checks
// both terminals against the tutorial's (seed 1 draws the tasks), and that
// the master said nothing on stderr but where it listened.
func checkTutorialRun(t *testing.T, master *proctest.Proc, addr string, worker *proctest.Proc) {
	t.Helper()
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("%s exited %d: %s", worker.Name, exit, worker.Stderr)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	if diff := cmp.Diff(golden(t, "master.golden"), master.Stdout.String()); diff != "" {
		t.Errorf("master (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(golden(t, "worker.golden"), worker.Stdout.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", worker.Name, diff)
	}
	if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
		t.Errorf("master's stderr: %q", got)
	}
}

// workerTasks returns the tasks a worker says it ran.
func workerTasks(worker *proctest.Proc) []int {
	var tasks []int
	for _, line := range proctest.Lines(worker.Stdout.String()) {
		var n int
		if _, err := fmt.Sscanf(line, "run task %d * ", &n); err == nil {
			tasks = append(tasks, n)
		}
	}
	return tasks
}

func TestTwoWorkersShareTasks(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "10")
	w1 := start(t, "worker 1", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	w2 := start(t, "worker 2", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	for _, w := range []*proctest.Proc{w1, w2} {
		if exit := w.Wait(); exit != 0 || !strings.HasSuffix(w.Stdout.String(), "worker exit.\n") {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s", w.Name, exit, w.Stdout, w.Stderr)
		}
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	tasks := checkMasterOutput(t, master)
	ran := append(workerTasks(w1), workerTasks(w2)...)
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(ran))); diff != "" {
		t.Errorf("tasks run by the two workers, each once (-want +got):\n%s", diff)
	}
}

// A worker killed while it holds a task, its other two jobs waiting for
// tasks: the task goes back in the queue as soon as the connection closes,
// long before its one-minute lease would run out, the master says so, and a
// new worker does it.
func TestKilledWorkerLosesNoTask(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1", "--lease", "1m", "--timeout", "2m")
	doomed := start(t, "doomed worker", "worker", "--server", addr, "--work", "1h", "--jobs", "3")
	m := doomed.Stdout.WaitFor(t, doomed, regexp.MustCompile(`^run task (\d+) \* \d+\.\.\.$`))
	killed := time.Now()
	doomed.Cmd.Process.Kill()
	doomed.Wait()
	back := regexp.MustCompile(`^master: task #0 \(n=` + m[1] + `\) back in the queue: its worker 127\.0\.0\.1:\d+ hung up$`)
	master.Stderr.WaitFor(t, master, back)
	// The lease is a minute: only the connection's end can explain this.
	if took := time.Since(killed); took > 10*time.Second {
		t.Errorf("the task came back %v after the kill", took)
	} else {
		t.Logf("the task came back %v after the kill", took)
	}

	fresh := start(t, "fresh worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	if exit := fresh.Wait(); exit != 0 {
		t.Errorf("fresh worker exited %d: %s", exit, fresh.Stderr)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(workerTasks(fresh)))); diff != "" {
		t.Errorf("the fresh worker should run every task, the killed one's (%s) too (-want +got):\n%s", m[1], diff)
	}
}

// A live worker that works for four leases keeps its task, because its
// connection renews the lease: nobody else does the task, and it is never
// put back in the queue.
func TestSlowWorkerKeepsItsTask(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3", "--lease", "500ms")
	slow := start(t, "slow worker", "worker", "--server", addr, "--tries", "1", "--work", "2s")
	slow.Stdout.WaitFor(t, slow, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	other := start(t, "other worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	for _, w := range []*proctest.Proc{slow, other} {
		if exit := w.Wait(); exit != 0 {
			t.Errorf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	tasks := checkMasterOutput(t, master)
	ran := append(workerTasks(slow), workerTasks(other)...)
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(ran))); diff != "" {
		t.Errorf("tasks run by the two workers, each once (-want +got):\n%s", diff)
	}
	if strings.Contains(master.Stderr.String(), "back in the queue") {
		t.Errorf("a task went back in the queue:\n%s", master.Stderr)
	}
}

func TestWrongAuthkey(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3")
	intruder := start(t, "intruder", "worker", "--server", addr, "--authkey", "not hello world")
	if exit := intruder.Wait(); exit != 1 {
		t.Errorf("worker with the wrong key exited %d, want 1", exit)
	}
	want := "worker: authentication failed: the master rejected our authkey\n"
	if diff := cmp.Diff(want, intruder.Stderr.String()); diff != "" {
		t.Errorf("worker's stderr (-want +got):\n%s", diff)
	}
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: authentication failed: the worker did not prove it knows the authkey$`))

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// The key can come from $TASK_AUTHKEY instead of the command line.
func TestAuthkeyFromEnvironment(t *testing.T) {
	t.Parallel()
	secret := []string{authkeyEnv + "=s3cret"}
	master := startWithEnv(t, "master", secret, "master", "--addr", "127.0.0.1:0", "--tasks", "2")
	addr := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (\S+)$`))[1]
	tutorialKey := start(t, "worker with the tutorial's key", "worker", "--server", addr)
	if exit := tutorialKey.Wait(); exit != 1 {
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
		conn, err := net.DialTimeout("tcp", addr, proctest.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	dial() // connects and says nothing, holding its handshake open
	garbage := dial()
	garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n")) // "GET " is a length of 1195725856
	master.Stderr.WaitFor(t, master, regexp.MustCompile(
		`^master: rejected 127\.0\.0\.1:\d+: handshake: message too long: a message of 1195725856 bytes \(at most 64\)$`))
	oversized := dial()
	oversized.Write([]byte{0xff, 0xff, 0xff, 0xff})

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
	// The second bad peer is summed up, unless a second passed between the
	// two and it has a line of its own.
	summed := regexp.MustCompile(`(?m)^master: turned away 1 more peer in the last 1s \(not a worker: 1\)$`)
	own := regexp.MustCompile(`(?m)^master: rejected 127\.0\.0\.1:\d+: handshake: message too long: a message of 2 GiB or more \(at most 64 bytes\)$`)
	if !summed.MatchString(master.Stderr.String()) && !own.MatchString(master.Stderr.String()) {
		t.Errorf("master's stderr says nothing of the oversized peer:\n%s", master.Stderr)
	}
	if strings.Contains(master.Stderr.String(), "silent") || strings.Contains(master.Stderr.String(), "i/o timeout") {
		t.Errorf("the silent peer timed out before the master was done: it held up the good worker\n%s", master.Stderr)
	}
	if strings.Contains(master.Stderr.String(), "goroutine ") {
		t.Errorf("master printed a stack trace:\n%s", master.Stderr)
	}
}

func TestWorkerWithoutMaster(t *testing.T) {
	t.Parallel()
	addr := proctest.FreeAddr(t)
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
	master, _ := startMaster(t, "--tasks", "2", "--seed", "1", "--timeout", "100ms", "--lease", "50ms")
	if exit := master.Wait(); exit != 1 {
		t.Errorf("master exited %d, want 1", exit)
	}
	want := "master: no result within 100ms: 0 of 2 results arrived; missing tasks: #0 (n=5983), #1 (n=891)\n"
	if got := proctest.Lines(master.Stderr.String()); len(got) != 2 || got[1]+"\n" != want {
		t.Errorf("master's stderr:\n%s\nwant its last line:\n%s", master.Stderr, want)
	}
}

// Ctrl-C: a worker interrupted mid-task hangs up, so its task goes to the
// next worker; an interrupted master closes down with a line, not a trace.

// A worker started before its master waits for it with --retry, says so
// once, and then does the tasks.
func TestWorkerRetriesUntilTheMasterListens(t *testing.T) {
	t.Parallel()
	addr := proctest.FreeAddr(t)
	worker := start(t, "worker", "worker", "--server", addr, "--retry", "1m", "--tries", "0", "--work", "1ms")
	worker.Stderr.WaitFor(t, worker, regexp.MustCompile(`^worker: no master at `+regexp.QuoteMeta(addr)+` yet; trying for up to 1m0s$`))
	master := start(t, "master", "master", "--addr", addr, "--tasks", "3")
	finish(t, master, worker)
	if got := proctest.Lines(worker.Stderr.String()); len(got) != 1 {
		t.Errorf("worker's stderr should be its one waiting line:\n%s", worker.Stderr)
	}
}

// Every distributed flag has bounds, each with one line and exit 2. A
// count too large for an int is refused by the flag package itself, so it
// cannot overflow on a 32-bit build.
func TestDistributedFlagBounds(t *testing.T) {
	t.Parallel()
	tooMany := "master: --tasks must be at most 10000000, not 3000000000"
	if strconv.IntSize == 32 {
		tooMany = `master: invalid value "3000000000" for --tasks: value out of range`
	}
	for _, tc := range []struct {
		args      []string
		firstLine string
	}{
		{[]string{"master", "--tasks", "3000000000"}, tooMany},
		{[]string{"master", "--addr", "127.0.0.1:99999"}, `master: --addr "127.0.0.1:99999": the port must be a number from 0 to 65535`},
		{[]string{"master", "--tasks", "10000001"}, "master: --tasks must be at most 10000000, not 10000001"},
		{[]string{"master", "--lease", "1ms"}, "master: --lease must be at least 30ms, not 1ms"},
		{[]string{"master", "--lease", "10s"}, "master: --lease 10s must be shorter than --timeout 10s: a stopped worker's task must come back while the master still waits for it"},
		{[]string{"master", "--timeout", "3s", "--lease", "3s"}, "master: --lease 3s must be shorter than --timeout 3s: a stopped worker's task must come back while the master still waits for it"},
		{[]string{"master", "--timeout", "2h"}, "master: --timeout must be at most 1h0m0s, not 2h0m0s"},
		{[]string{"master", "--timeout", "50ms"}, "master: --timeout must be at least 60ms, not 50ms"},
		{[]string{"worker", "--server", "127.0.0.1:0"}, `worker: --server "127.0.0.1:0": the port must be a number from 1 to 65535`},
		{[]string{"worker", "--jobs", "33"}, "worker: --jobs must be at most 32, not 33"},
		{[]string{"worker", "--batch", "1025"}, "worker: --batch must be at most 1024, not 1025"},
		{[]string{"worker", "--tries", "0", "--get-timeout", "0"}, "worker: --tries 0 needs a --get-timeout of at least 10ms, or the worker asks the master without pause"},
		{[]string{"worker", "--retry", "-1s"}, "worker: --retry must not be negative, not -1s"},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr first line %q (want %q)", tc.args, exit, stdout, proctest.Lines(stderr)[0], tc.firstLine)
		}
	}
}

// A worker that takes tasks four at a time, under the default lease, works
// on its batch for longer than the lease: its connection renews the batch's
// one lease, so no task goes back in the queue and each is done once.
func TestBatchWorkerKeepsItsLease(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "4")
	worker := start(t, "worker", "worker", "--server", addr, "--batch", "4", "--work", "1s", "--tries", "0")
	finish(t, master, worker)
	if diff := cmp.Diff(slices.Sorted(slices.Values(checkMasterOutput(t, master))), slices.Sorted(slices.Values(workerTasks(worker)))); diff != "" {
		t.Errorf("tasks run, each once (-want +got):\n%s", diff)
	}
	if strings.Contains(master.Stderr.String(), "back in the queue") || worker.Stderr.String() != "" {
		t.Errorf("a lease ran out:\nmaster:\n%s\nworker:\n%s", master.Stderr, worker.Stderr)
	}
}

// --timeout alone works, however short: a lease that was not given fits in
// half of it. This master, with no worker, runs until its wait is over.
func TestMasterTimeoutAlone(t *testing.T) {
	t.Parallel()
	for _, timeout := range []string{"3s", "100ms"} {
		stdout, stderr, exit := runBinary(t, program, "master", "--addr", "127.0.0.1:0", "--tasks", "1", "--timeout", timeout)
		want := "master: no result within " + timeout + ": 0 of 1 results arrived; missing tasks: #0"
		if exit != 1 || !strings.HasPrefix(proctest.Lines(stderr)[1], want) || !strings.HasSuffix(stdout, "Try get results...\n") {
			t.Errorf("--timeout %s: exit %d (want 1), stdout %q, stderr:\n%s\nwant %q", timeout, exit, stdout, stderr, want)
		}
	}
}
