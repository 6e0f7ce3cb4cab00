//go:build unix

// Tests that need Unix: they send signals to the master and the worker, or
// start the master under a low file limit with the shell's ulimit.

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"

	"github.com/google/go-cmp/cmp"
)

// signalAndWait sends sig to p and waits for it to exit. The exit code tells
// the signal apart from any timeout of the phase p was in (those exit 1);
// the time it took is logged.
func signalAndWait(t *testing.T, p *proctest.Proc, sig os.Signal) int {
	t.Helper()
	sent := time.Now()
	p.Cmd.Process.Signal(sig)
	exit := p.Wait()
	t.Logf("%s exited %d, %v after %v", p.Name, exit, time.Since(sent).Round(time.Millisecond), sig)
	return exit
}

// Ctrl-C on a worker mid-task: it hangs up, and its task goes to the next
// worker at once. Ctrl-C on a master waiting for results, and SIGTERM on
// another: one line each, and the exit codes shells give those signals.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1", "--seed", "1")
	runTask := regexp.MustCompile(`^run task 5983 \* 5983\.\.\.$`)
	worker := start(t, "worker", "worker", "--server", addr, "--work", "1h")
	worker.Stdout.WaitFor(t, worker, runTask)
	if exit := signalAndWait(t, worker, os.Interrupt); exit != 130 || worker.Stderr.String() != "worker: interrupted\n" {
		t.Errorf("interrupted worker: exit %d (want 130), stderr %q", exit, worker.Stderr)
	}
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: task #0 \(n=5983\) back in the queue: its worker 127\.0\.0\.1:\d+ hung up$`))
	next := start(t, "next worker", "worker", "--server", addr, "--work", "1h")
	next.Stdout.WaitFor(t, next, runTask)

	if exit := signalAndWait(t, master, os.Interrupt); exit != 130 {
		t.Errorf("interrupted master exited %d, want 130", exit)
	}
	want := []string{
		"master: listening on " + addr,
		"master: task #0 (n=5983) back in the queue: its worker 127.0.0.1:PORT hung up",
		"master: interrupted after 0 of 1 results",
	}
	got := proctest.Lines(regexp.MustCompile(`127\.0\.0\.1:\d+ hung up`).ReplaceAllString(master.Stderr.String(), "127.0.0.1:PORT hung up"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interrupted master's stderr (-want +got):\n%s", diff)
	}

	terminated, _ := startMaster(t, "--tasks", "1")
	if exit := signalAndWait(t, terminated, syscall.SIGTERM); exit != 143 {
		t.Errorf("master exited %d after SIGTERM, want 143", exit)
	}
	// The signal may come while the master is still putting its task.
	last := regexp.MustCompile(`^master: terminated after (putting [01] of 1 tasks|0 of 1 results)$`)
	if got := proctest.Lines(terminated.Stderr.String()); !last.MatchString(got[len(got)-1]) {
		t.Errorf("terminated master's stderr:\n%s", terminated.Stderr)
	}
}

// Ctrl-C ends a worker in every phase that waits on the network, however
// long that phase's own limit: waiting for a master to appear, a master
// that never finishes the handshake, a get waiting for a task.
func TestInterruptWorkerPhases(t *testing.T) {
	t.Parallel()
	// Waiting for a master, with a minute to go.
	waiting := start(t, "waiting worker", "worker", "--server", proctest.FreeAddr(t), "--retry", "1m")
	waiting.Stderr.WaitFor(t, waiting, regexp.MustCompile(`^worker: no master at \S+ yet; trying for up to 1m0s$`))
	if exit := signalAndWait(t, waiting, os.Interrupt); exit != 130 {
		t.Errorf("worker waiting for a master: exit %d, want 130", exit)
	}

	// In the handshake, with a master that says nothing: without the
	// signal, the worker would give up after 5 s and exit 1.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := mute.Accept(); err == nil {
			accepted <- conn
		}
	}()
	shaking := start(t, "worker in its handshake", "worker", "--server", mute.Addr().String())
	select {
	case conn := <-accepted:
		defer conn.Close()
	case <-time.After(proctest.Timeout):
		t.Fatal("the worker did not connect")
	}
	if exit := signalAndWait(t, shaking, os.Interrupt); exit != 130 {
		t.Errorf("worker in its handshake: exit %d, want 130\n%s", exit, shaking.Stderr)
	}

	// In a get that could wait 50 s: the only task is with another worker.
	master, addr := startMaster(t, "--tasks", "1")
	holder := start(t, "holder", "worker", "--server", addr, "--work", "1h")
	holder.Stdout.WaitFor(t, holder, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	getting := start(t, "waiting get", "worker", "--server", addr, "--get-timeout", "50s", "--tries", "1")
	getting.Stdout.WaitFor(t, getting, regexp.MustCompile(`^Connect to server 127\.0\.0\.1\.\.\.$`))
	if exit := signalAndWait(t, getting, syscall.SIGTERM); exit != 143 {
		t.Errorf("worker waiting for a task: exit %d after SIGTERM, want 143\n%s", exit, getting.Stderr)
	}
	if exit := signalAndWait(t, master, os.Interrupt); exit != 130 {
		t.Errorf("master: exit %d, want 130", exit)
	}
}

// The quiet master listens before it puts its tasks, and Ctrl-C stops it
// while it puts them.
func TestInterruptQuietMasterPutting(t *testing.T) {
	t.Parallel()
	master, _ := startMaster(t, "--quiet", "--tasks", "10000000")
	if exit := signalAndWait(t, master, os.Interrupt); exit != 130 {
		t.Errorf("quiet master: exit %d, want 130\n%s", exit, master.Stderr)
	}
	last := proctest.Lines(master.Stderr.String())
	if got := last[len(last)-1]; got != "master: interrupted while putting tasks" && !strings.HasPrefix(got, "master: interrupted after") {
		t.Errorf("quiet master's last line: %q", got)
	}
}

// With every default (a 3 s lease, 10 s for each result), a worker stopped
// with Ctrl-Z (SIGSTOP) while it holds a task stops renewing the lease, the
// task goes to another worker, and the master finishes.
func TestStoppedWorkerDoesNotSinkTheRun(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t)
	stopped := start(t, "stopped worker", "worker", "--server", addr)
	stopped.Stdout.WaitFor(t, stopped, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	stopped.Cmd.Process.Signal(syscall.SIGSTOP)
	defer stopped.Cmd.Process.Signal(syscall.SIGCONT)
	other := start(t, "other worker", "worker", "--server", addr, "--tries", "0", "--work", "100ms")
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	checkMasterOutput(t, master)
	back := regexp.MustCompile(`(?m)^master: task #\d+ \(n=\d+\) back in the queue: its lease ran out \(the worker stopped renewing it\)$`)
	if !back.MatchString(master.Stderr.String()) {
		t.Errorf("master's stderr does not say the task went back:\n%s", master.Stderr)
	}
	if exit := other.Wait(); exit != 0 {
		t.Errorf("other worker exited %d: %s", exit, other.Stderr)
	}
}

// A flood of silent connections against a master whose file limit is far
// below the flood: the master keeps at most maxHandshakes of them, makes
// room when accept runs out of descriptors, sums up what it turned away in
// a few lines, and a good worker gets in and finishes.
func TestMasterSurvivesAFlood(t *testing.T) {
	t.Parallel()
	const fileLimit, flood = 24, 300
	master := proctest.Start(t, "master", exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, fileLimit),
		program, "master", "--addr", "127.0.0.1:0", "--tasks", "3"))
	addr := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (\S+)$`))[1]
	for range flood {
		conn, err := net.DialTimeout("tcp", addr, proctest.Timeout)
		if err != nil {
			t.Fatalf("the flood could not connect: %v", err)
		}
		defer conn.Close()
	}
	worker := start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	finish(t, master, worker)
	masterLog := proctest.Lines(master.Stderr.String())
	if len(masterLog) > 20 || !strings.Contains(master.Stderr.String(), "crowded out") {
		t.Errorf("master's stderr, %d lines, should sum up the crowded-out flood in a few:\n%s", len(masterLog), master.Stderr)
	}
}

// A worker whose master stops answering (here, stopped with SIGSTOP) gives
// up after the call's deadline, says so, and exits 1. (It stops the master
// while the worker works, so the put that follows gets no answer.)
func TestWorkerWhoseMasterStopsAnswering(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "2")
	worker := start(t, "worker", "worker", "--server", addr, "--work", "500ms")
	worker.Stdout.WaitFor(t, worker, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	master.Cmd.Process.Signal(syscall.SIGSTOP)
	defer master.Cmd.Process.Signal(syscall.SIGCONT)
	if exit := worker.Wait(); exit != 1 {
		t.Errorf("worker exited %d, want 1", exit)
	}
	want := regexp.MustCompile(`^worker: the master stopped answering: no answer to (TaskQueue\.Get|ResultQueue\.Put) within \d+(\.\d+)?s\n$`)
	if !want.MatchString(worker.Stderr.String()) {
		t.Errorf("worker's stderr %q does not match %v", worker.Stderr, want)
	}
}

// A master whose stderr is a full pipe that nobody reads still ends on one
// Ctrl-C: its log drops what it cannot write, and its last line gives up
// waiting.
func TestInterruptWithStuckStderr(t *testing.T) {
	t.Parallel()
	stuck, full, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	defer full.Close()
	full.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	full.Write(make([]byte, 1<<20)) // fills the pipe, then times out
	addr := proctest.FreeAddr(t)
	cmd := exec.Command(program, "master", "--addr", addr, "--tasks", "1")
	cmd.Stderr = full
	master := proctest.Start(t, "master with a stuck stderr", cmd)
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	if exit := signalAndWait(t, master, os.Interrupt); exit != 130 {
		t.Errorf("master exited %d, want 130", exit)
	}
}

// A master whose reader goes away (master | head -1) ends as any Unix
// program does: killed by SIGPIPE, which a shell reports as exit 141.
func TestMasterWhoseReaderLeaves(t *testing.T) {
	t.Parallel()
	gone, full, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	gone.Close() // the reader has left before the master writes a line
	defer full.Close()
	cmd := exec.Command(program, "master", "--addr", "127.0.0.1:0", "--tasks", "3")
	cmd.Stdout = full
	master := proctest.Start(t, "master with no reader", cmd)
	master.Wait()
	if status := master.Cmd.ProcessState.Sys().(syscall.WaitStatus); !status.Signaled() || status.Signal() != syscall.SIGPIPE {
		t.Errorf("master ended with %v, want killed by SIGPIPE", master.Cmd.ProcessState)
	}
}

// A Python worker stopped (Ctrl-Z) holding the last task cannot sink the
// run: with every default, its lease, half the master's wait since it
// cannot renew it, runs out, a live worker does the task, and the master
// exits 0.
func TestStoppedPythonWorkerDoesNotSinkTheRun(t *testing.T) {
	t.Parallel()
	pythons := pythontest.ForTest(t)
	py := pythons[len(pythons)-1]
	master, addr := startMaster(t, "--tasks", "1")
	stopped := startPyWorker(t, py, "stopped python worker", addr)
	stopped.Stdout.WaitFor(t, stopped, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	stopped.Cmd.Process.Signal(syscall.SIGSTOP)
	defer stopped.Cmd.Process.Signal(syscall.SIGCONT)
	finish(t, master, start(t, "go worker", "worker", "--server", addr, "--tries", "0"))
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: task #0 \(n=\d+\) back in the queue: its lease ran out \(its worker, 127\.0\.0\.1:\d+, speaks Python and cannot renew it: the task took longer than 5s\)$`))
}
