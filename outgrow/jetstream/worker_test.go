//go:build unix

package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"multithreading/internal/proctest"
)

// resultLines is the Result lines of a master's output.
func resultLines(stdout string) []string {
	var results []string
	for _, line := range proctest.Lines(stdout) {
		if strings.HasPrefix(line, "Result: ") {
			results = append(results, line)
		}
	}
	return results
}

var runTask = regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`)

// A worker that dies (SIGKILL) or stops (SIGSTOP) holding a task loses it:
// AckWait passes without a renewal, the stream redelivers the task to the
// other worker, and the master says so and gets every result once.
func TestLostWorkerTaskIsRedone(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			master, url := runMasterProcess(t, t.TempDir(), "--tasks", "2", "--seed", "1", "--lease", "1s", "--timeout", "30s")
			lost := start(t, "lost worker", "worker", "--nats", url, "--work", "1h", "--tries", "1")
			lost.Stdout.WaitFor(t, lost, runTask)
			lost.Cmd.Process.Signal(sig)
			other := start(t, "other worker", "worker", "--nats", url, "--work", "0", "--tries", "0")
			wantExit(t, master, 0)
			wantExit(t, other, 0)
			if diff := cmp.Diff(goldenResults(t)[:2], resultLines(master.Stdout.String()), proctest.SameLines); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if !strings.Contains(master.Stderr.String(), "was delivered 2 times: a worker before held it past its lease") {
				t.Errorf("the master does not say that a task was redelivered:\n%s", master.Stderr)
			}
		})
	}
}

// A worker at work renews its task (InProgress), so a task four times as
// long as AckWait stays its own: it is delivered once.
func TestLiveWorkerKeepsItsTask(t *testing.T) {
	t.Parallel()
	master, url := runMasterProcess(t, t.TempDir(), "--tasks", "1", "--seed", "1", "--lease", "2s", "--timeout", "30s")
	worker := start(t, "worker", "worker", "--nats", url, "--work", "8s", "--tries", "1")
	worker.Stdout.WaitFor(t, worker, runTask)
	// A second worker asks for tasks all along: a redelivered task would be its.
	rival := start(t, "rival", "worker", "--nats", url, "--work", "0", "--tries", "0")
	wantExit(t, worker, 0)
	wantExit(t, master, 0)
	wantExit(t, rival, 0)
	if diff := cmp.Diff(goldenResults(t)[:1], resultLines(master.Stdout.String())); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if strings.Contains(master.Stderr.String(), "delivered") || strings.Contains(rival.Stdout.String(), "run task") {
		t.Errorf("the task was redelivered:\nmaster:\n%s\nrival:\n%s", master.Stderr, rival.Stdout)
	}
}

// Ctrl-C exits 130 and SIGTERM 143, as the main program does, whatever
// the master or the worker is doing: the master waiting for a result while
// a worker is at work, and says how far it got.
func TestSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			master, url := runMasterProcess(t, t.TempDir(), "--tasks", "2", "--seed", "1")
			worker := start(t, "worker", "worker", "--nats", url, "--work", "1h", "--retry", "1h")
			worker.Stdout.WaitFor(t, worker, runTask)
			master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
			master.Cmd.Process.Signal(sig)
			wantExit(t, master, 128+int(sig))
			master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: (interrupted|terminated) after 0 of 2 results$`))
			worker.Cmd.Process.Signal(sig)
			wantExit(t, worker, 128+int(sig))
		})
	}
}
