// Tests of --trace: it writes a runtime/trace that `go tool trace` reads,
// with the tutorial's threads under their names. The helpers here read a
// trace for threads_test.go too.

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// traceTool builds `go tool trace` (cmd/trace, which recent Go builds on
// first use) once, so that parallel tests do not each build it.
var traceTool = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), proctest.BuildTimeout)
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
//	M=3851 P=0 G=11 Log Time=500118303360 Task=0 Category="thread" Message="LoopThread"
//	M=15793 P=0 G=-1 StateTransition Time=507961235712 GoID=20 Runnable->Running Reason=""
type traceEvent struct {
	kind       string            // Log, StateTransition...
	g          int64             // the goroutine it happened on; -1 for none
	time       int64             // in nanoseconds
	attrs      map[string]string // ID, Type, GoID...: quotes removed; Start: a new goroutine's function
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
	text := strings.Split(stdout.String(), "\n")
	for i, line := range text {
		// A new goroutine's first frame, after its creation: its function.
		if line == "TransitionStack=" && i+1 < len(text) && len(events) > 0 {
			if last := &events[len(events)-1]; strings.HasPrefix(last.transition, "NotExist->") {
				last.attrs["Start"], _, _ = strings.Cut(strings.TrimSpace(text[i+1]), " @ ")
			}
		}
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

// threadNames returns the thread names that a trace logs, by goroutine.
func threadNames(events []traceEvent) map[int64][]string {
	names := map[int64][]string{}
	for _, e := range events {
		if e.kind == "Log" && e.attrs["Category"] == "thread" {
			names[e.g] = append(names[e.g], e.attrs["Message"])
		}
	}
	return names
}

// Every subcommand takes --trace. The goroutine a command runs in is
// MainThread, and each thread that a listing names carries its name, each on
// a goroutine of its own, so that go tool trace finds it by the name the
// tutorial prints.
func TestTraceNamesTheTutorialsThreads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		exit    int
		threads []string
	}{
		{[]string{"loop", "--tick", "1ms"}, 0, []string{"MainThread", "LoopThread"}},
		{[]string{"download", "--second", "1ms"}, 0, []string{"MainThread"}},
		{[]string{"bank", "--depositors", "3", "--delay", "1ms"}, 0, []string{"MainThread"}},
		{[]string{"deadlock", "--ordered", "--pause", "1ms"}, 0, []string{"MainThread", "Thread-1", "Thread-2"}},
		// The deadlocked run fails, and its trace still names both threads.
		{[]string{"deadlock", "--watchdog", "100ms"}, 1, []string{"MainThread", "Thread-1", "Thread-2"}},
		{[]string{"local"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}},
		{[]string{"local", "--dict"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}},
		{[]string{"local", "--pass"}, 0, []string{"MainThread", "Thread-A", "Thread-B"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "trace.out")
			_, stderr, exit := runBinary(t, program, append(tc.args, "--trace", file)...)
			if exit != tc.exit {
				t.Fatalf("exit %d, want %d; stderr:\n%s", exit, tc.exit, stderr)
			}
			var got []string
			for g, names := range threadNames(readTrace(t, file)) {
				if len(names) != 1 {
					t.Errorf("goroutine %d has the names %q, want one", g, names)
				}
				got = append(got, names...)
			}
			if diff := cmp.Diff(tc.threads, got, proctest.SameLines); diff != "" {
				t.Errorf("thread names (-want +got):\n%s", diff)
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
