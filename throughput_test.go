// Tests of throughput.go, the quiet master and the batching worker.

package main

import (
	"fmt"
	"multithreading/internal/proctest"
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Quiet mode: a million tasks, two workers with 8 calls in flight each, one
// line from the master, and the master stays small: a bit per answered task,
// 8 bytes per waiting one.
func TestQuietMillionTasks(t *testing.T) {
	master, addr := startMaster(t, "--tasks", "1000000", "--quiet", "--timeout", "1m")
	var workers []*proctest.Proc
	for i := range 2 {
		workers = append(workers, start(t, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	summary := regexp.MustCompile(`^1000000 results in \d+\.\d\ds \(\d+ tasks/s\)\n$`)
	if !summary.MatchString(master.Stdout.String()) {
		t.Errorf("master's output %q does not match %v", master.Stdout, summary)
	}
	for _, w := range workers {
		if exit := w.Wait(); exit != 0 {
			t.Errorf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
		if diff := cmp.Diff("Connect to server 127.0.0.1...\nworker exit.\n", w.Stdout.String()); diff != "" {
			t.Errorf("%s's output (-want +got):\n%s", w.Name, diff)
		}
	}
	if peak := peakMiB(t, master); peak >= 32 {
		t.Errorf("master's peak memory %.1f MiB, want under 32 MiB", peak)
	}
}

// Batched and pipelined workers print the same lines as the tutorial's, and
// every task is done exactly once.
func TestBatchWorkerOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "50")
	worker := start(t, "worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms", "--jobs", "4", "--batch", "3")
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.Stderr)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(workerTasks(worker)))); diff != "" {
		t.Errorf("tasks run (-want +got):\n%s", diff)
	}
	got := proctest.Lines(worker.Stdout.String())
	if got[0] != "Connect to server 127.0.0.1..." || got[len(got)-1] != "worker exit." {
		t.Errorf("worker's first and last lines: %q, %q", got[0], got[len(got)-1])
	}
}
