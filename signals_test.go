//go:build unix

// Tests that send signals to the master and the worker, so Unix only.

package main

import (
	"os"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterrupt(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1", "--seed", "1")
	runTask := regexp.MustCompile(`^run task 5983 \* 5983\.\.\.$`)
	worker := start(t, "worker", "worker", "--server", addr, "--work", "1h")
	worker.stdout.waitFor(t, worker, runTask)
	worker.cmd.Process.Signal(os.Interrupt)
	if exit := worker.wait(); exit != 130 || worker.stderr.String() != "worker: interrupted\n" {
		t.Errorf("interrupted worker: exit %d (want 130), stderr %q", exit, worker.stderr)
	}
	next := start(t, "next worker", "worker", "--server", addr, "--work", "1h")
	next.stdout.waitFor(t, next, runTask)

	master.cmd.Process.Signal(os.Interrupt)
	if exit := master.wait(); exit != 130 {
		t.Errorf("interrupted master exited %d, want 130", exit)
	}
	want := "master: listening on " + addr + "\nmaster: interrupted after 0 of 1 results\n"
	if diff := cmp.Diff(want, master.stderr.String()); diff != "" {
		t.Errorf("interrupted master's stderr (-want +got):\n%s", diff)
	}
}
