// Tests of trace.go: --trace writes a runtime/trace that `go tool trace`
// reads, with the tutorial's threads as tasks and the listings' steps as
// regions. The helpers here read a trace for threads_test.go too.

package main

import (
	"bytes"
	"context"
	"fmt"
	"multithreading/internal/proctest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// traceTool builds `go tool trace` (cmd/trace, which recent Go builds on
// first use) once, so that parallel tests do not each build it.
var traceTool = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	bin := filepath.Join(buildDir, "gotrace")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "cmd/trace").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build cmd/trace: %v\n%s", err, out)
	}
	return bin, nil
})

// traceEvent is one event of a trace, as `go tool trace -d=parsed` prints it:
//
//	M=15791 P=1 G=21 TaskBegin Time=507961211392 ID=2 Parent=1 Type="Thread-2"
//	M=15793 P=0 G=-1 StateTransition Time=507961235712 GoID=20 Runnable->Running Reason=""
type traceEvent struct {
	kind       string            // TaskBegin, RegionBegin, StateTransition...
	g          int64             // the goroutine it happened on; -1 for none
	time       int64             // in nanoseconds
	attrs      map[string]string // ID, Type, GoID...: quotes removed
	transition string            // StateTransition: as "Runnable->Running"
}

var (
	traceEventLine = regexp.MustCompile(`^M=-?\d+ P=-?\d+ G=(-?\d+) (\w+) Time=(\d+)(.*)$`)
	traceAttr      = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)|(\w+->\w+)`)
)

// readTrace has `go tool trace` parse a trace file and returns its events.
// It fails the test if the tool cannot read the file.
func readTrace(t *testing.T, file string) []traceEvent {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to run go tool trace with")
	}
	tool, err := traceTool()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tool, "-d=parsed", file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go tool trace -d=parsed %s: %v\n%s", file, err, stderr.String())
	}
	var events []traceEvent
	for _, line := range strings.Split(stdout.String(), "\n") {
		m := traceEventLine.FindStringSubmatch(line)
		if m == nil {
			continue // a stack frame, or a line about the whole trace
		}
		e := traceEvent{kind: m[2], attrs: map[string]string{}}
		e.g, _ = strconv.ParseInt(m[1], 10, 64)
		e.time, _ = strconv.ParseInt(m[3], 10, 64)
		for _, a := range traceAttr.FindAllStringSubmatch(m[4], -1) {
			if a[3] != "" {
				e.transition = a[3]
			} else if value, err := strconv.Unquote(a[2]); err == nil {
				e.attrs[a[1]] = value
			} else {
				e.attrs[a[1]] = a[2]
			}
		}
		events = append(events, e)
	}
	if len(events) == 0 {
		t.Fatalf("go tool trace found no events in %s:\n%s", file, stdout.String())
	}
	return events
}

// typesOf returns the Type of each event of a kind, in order: the names of
// the tasks or the regions that began.
func typesOf(events []traceEvent, kind string) []string {
	var types []string
	for _, e := range events {
		if e.kind == kind {
			types = append(types, e.attrs["Type"])
		}
	}
	return types
}

// repeat returns n copies of items, one after the other.
func repeat(n int, items ...string) []string {
	var all []string
	for range n {
		all = append(all, items...)
	}
	return all
}

// Every subcommand takes --trace; each of the tutorial's threads is a task
// named as Python names it, the threads a subtask of MainThread, and the
// steps of a deposit and the waits for a lock are regions.
func TestTraceNamesTheTutorialsThreads(t *testing.T) {
	t.Parallel()
	deposit := []string{"read balance", "sleep", "write balance"}
	for _, tc := range []struct {
		args    []string
		exit    int
		tasks   []string
		regions []string
	}{
		{[]string{"loop", "--tick", "1ms"}, 0, []string{"MainThread", "LoopThread"}, nil},
		{[]string{"download", "--second", "1ms"}, 0, []string{"MainThread", "Thread-1", "Thread-2"}, nil},
		{[]string{"download", "--task", "--second", "1ms"}, 0, []string{"MainThread", "Thread-1", "Thread-2"}, nil},
		{[]string{"bank", "--lock=false", "--depositors", "3", "--delay", "1ms"}, 0,
			[]string{"MainThread", "Thread-1", "Thread-2", "Thread-3"}, repeat(3, deposit...)},
		{[]string{"bank", "--depositors", "3", "--delay", "1ms"}, 0,
			[]string{"MainThread", "Thread-1", "Thread-2", "Thread-3"}, repeat(3, append([]string{"wait for lock"}, deposit...)...)},
		{[]string{"bank", "--chan", "--depositors", "3", "--delay", "1ms"}, 0,
			[]string{"MainThread", "Thread-1", "Thread-2", "Thread-3"}, repeat(3, "wait for teller")},
		{[]string{"deadlock", "--ordered", "--pause", "1ms"}, 0, []string{"MainThread", "Thread-1", "Thread-2"}, repeat(4, "wait for lock")},
		// The deadlocked run fails, and its trace shows where: each thread began
		// to wait for its second lock and never stopped.
		{[]string{"deadlock", "--watchdog", "100ms"}, 1, []string{"MainThread", "Thread-1", "Thread-2"}, repeat(4, "wait for lock")},
		{[]string{"spin", "--goroutines", "2", "--for", "10ms"}, 0, []string{"MainThread", "Thread-1", "Thread-2"}, repeat(2, "busy loop")},
		{[]string{"tasks", "--n", "10", "--wait", "1ms"}, 0, []string{"MainThread"}, nil},
		{[]string{"local"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}, nil},
		{[]string{"local", "--dict"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}, nil},
		{[]string{"local", "--pass"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "trace.out")
			_, stderr, exit := runBinary(t, program, append(tc.args, "--trace", file)...)
			if exit != tc.exit {
				t.Fatalf("exit %d, want %d; stderr:\n%s", exit, tc.exit, stderr)
			}
			events := readTrace(t, file)
			if diff := cmp.Diff(tc.tasks, typesOf(events, "TaskBegin"), proctest.SameLines); diff != "" {
				t.Errorf("tasks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.regions, typesOf(events, "RegionBegin"), proctest.SameLines); diff != "" {
				t.Errorf("regions (-want +got):\n%s", diff)
			}
			// The threads are MainThread's subtasks, which go tool trace shows
			// together with it.
			mainThreadID := ""
			for _, e := range events {
				if e.kind == "TaskBegin" && e.attrs["Type"] == "MainThread" {
					mainThreadID = e.attrs["ID"]
				}
			}
			for _, e := range events {
				if e.kind == "TaskBegin" && e.attrs["Type"] != "MainThread" && e.attrs["Parent"] != mainThreadID {
					t.Errorf("task %s has parent %s, want MainThread's id %s", e.attrs["Type"], e.attrs["Parent"], mainThreadID)
				}
			}
		})
	}
}

// A --trace that cannot be written is a usage error, reported before the
// command runs.
func TestTraceFlagErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no such directory", "trace.out")
	stdout, stderr, exit := runInProcess(t, "loop", "--tick", "1ms", "--trace", missing)
	want := fmt.Sprintf("loop: invalid value %q for --trace: open %s: no such file or directory", missing, missing)
	if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != want {
		t.Errorf("exit %d, stdout %q, stderr first line %q, want exit 2 and %q", exit, stdout, proctest.Lines(stderr)[0], want)
	}
	dir := t.TempDir()
	_, stderr, exit = runBinary(t, program, "loop", "--tick", "1ms",
		"--trace", filepath.Join(dir, "a.out"), "--trace", filepath.Join(dir, "b.out"))
	want = fmt.Sprintf("loop: invalid value %q for --trace: given twice", filepath.Join(dir, "b.out"))
	if exit != 2 || proctest.Lines(stderr)[0] != want {
		t.Errorf("--trace twice: exit %d, stderr first line %q, want exit 2 and %q", exit, proctest.Lines(stderr)[0], want)
	}
}
