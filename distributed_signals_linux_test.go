// Signals against a master stuck writing to a pipe, where Linux's /proc
// shows it stuck.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/proctest"
)

// One Ctrl-C or SIGTERM ends a master whose stdout nobody reads, stuck
// writing its puts, within cli.ExitWithin (here, allowing 2 s more for a
// busy machine), with the exit code of the signal.
func TestInterruptWithStuckStdout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig  os.Signal
		exit int
	}{{os.Interrupt, 130}, {syscall.SIGTERM, 143}} {
		unread, full, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer unread.Close()
		defer full.Close()
		cmd := exec.Command(program, "master", "--addr", "127.0.0.1:0", "--tasks", "100000")
		cmd.Stdout = full // 100,000 "Put task" lines fill it many times over
		master := proctest.Start(t, "master with a stuck stdout", cmd)
		waitStuckWriting(t, master)
		sent := time.Now()
		if exit := signalAndWait(t, master, tc.sig); exit != tc.exit {
			t.Errorf("%v: master exited %d, want %d", tc.sig, exit, tc.exit)
		}
		if took := time.Since(sent); took > cli.ExitWithin+2*time.Second {
			t.Errorf("%v: the master took %v to exit", tc.sig, took)
		}
	}
}

// waitStuckWriting waits until a thread of p is blocked writing to a pipe,
// as Linux's /proc shows it (the kernel function it waits in). Nothing
// signals that moment: it looks every millisecond.
func waitStuckWriting(t *testing.T, p *proctest.Proc) {
	t.Helper()
	deadline := time.Now().Add(proctest.Timeout)
	for {
		threads, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", p.Cmd.Process.Pid))
		for _, thread := range threads {
			wchan, err := os.ReadFile(thread)
			if err == nil && strings.Contains(string(wchan), "pipe_write") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Skipf("no thread of %s is seen waiting in pipe_write (threads: %d)", p.Name, len(threads))
		}
		time.Sleep(time.Millisecond)
	}
}
