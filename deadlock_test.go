// Tests of deadlock.go: section LCOK's warning about deadlock.

package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// deadlockTimeout is how long the program may take to say it deadlocked.
const deadlockTimeout = 10 * time.Second

// runDeadlockBinary runs the deadlock command in a binary, at most deadlockTimeout:
// a deadlocked program cannot be called in this test process, whose
// goroutines would stay blocked.
func runDeadlockBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	return runBinaryWithin(t, deadlockTimeout, bin, append([]string{"deadlock"}, args...)...)
}

// Each thread locks its own account, and only once both have (the barrier)
// asks for the other's: the watchdog finds them stuck every time, and shows
// where each waits.
func TestDeadlockIsReported(t *testing.T) {
	t.Parallel()
	for range 3 {
		stdout, stderr, exit := runDeadlockBinary(t, program, "--watchdog", "500ms")
		if exit != 1 {
			t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", exit, stdout, stderr)
		}
		got := proctest.Lines(stdout)
		want := []string{
			"thread Thread-1 locked account 1",
			"thread Thread-2 locked account 2",
			"thread Thread-1 waits for account 2",
			"thread Thread-2 waits for account 1",
		}
		if diff := cmp.Diff(want, got, proctest.SameLines); diff != "" {
			t.Fatalf("stdout (-want +got):\n%s", diff)
		}
		// The barrier's promise: both hold a lock before either asks for another.
		for _, locked := range want[:2] {
			for _, waits := range want[2:] {
				assertBefore(t, got, locked, waits)
			}
		}
		// Where each waits: in sync.Mutex.Lock, called from transfer. The
		// file and line numbers are those of the machine that built it.
		frame := regexp.MustCompile(`\(\S+:\d+\)`)
		wantStderr := `watchdog: no transfer finished within 500ms. Where each thread waits:
Thread-1:
	sync.(*Mutex).Lock (FILE:LINE)
	main.transfer (FILE:LINE)
`
		gotStderr := frame.ReplaceAllString(stderr, "(FILE:LINE)")
		if !strings.HasPrefix(gotStderr, wantStderr) || !strings.Contains(gotStderr, "\nThread-2:\n\tsync.(*Mutex).Lock (FILE:LINE)\n\tmain.transfer (FILE:LINE)\n") {
			t.Errorf("stderr does not show both threads waiting in Lock, called from transfer:\n%s", stderr)
		}
		last := "deadlock: the two transfers are deadlocked: each holds one account's lock and waits for the other's"
		if errLines := proctest.Lines(stderr); errLines[len(errLines)-1] != last {
			t.Errorf("last line of stderr %q, want %q", errLines[len(errLines)-1], last)
		}
		checkReadmesShowTheWait(t, stderr)
	}
}

// checkReadmesShowTheWait checks that both READMEs show the line of
// deadlock.go where the watchdog finds each thread waiting.
func checkReadmesShowTheWait(t *testing.T, stderr string) {
	t.Helper()
	m := regexp.MustCompile(`	main\.transfer \(\S*deadlock\.go:(\d+)\)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no deadlock.go line in:\n%s", stderr)
	}
	for _, readme := range []string{readmeEnglish, readmeChinese} {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		if want := "\tmain.transfer (multithreading/deadlock.go:" + m[1] + ")"; !strings.Contains(string(text), want) {
			t.Errorf("%s does not show %q, where the watchdog finds the threads", readme, want)
		}
	}
}

// Taking the locks in one order, by account id, the transfers finish: one
// waits for account 1 holding nothing, so the other can take both.
func TestDeadlockOrderedFinishes(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runDeadlockBinary(t, program, "--ordered", "--pause", "1ms")
	if exit != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q\nstdout:\n%s", exit, stderr, stdout)
	}
	got := proctest.Lines(stdout)
	transfers := map[string][]string{
		"Thread-1": {
			"thread Thread-1 locked account 1",
			"thread Thread-1 waits for account 2",
			"thread Thread-1 locked account 2",
			"thread Thread-1 moved ￥10 from account 1 to account 2",
		},
		"Thread-2": {
			"thread Thread-2 locked account 1",
			"thread Thread-2 waits for account 2",
			"thread Thread-2 locked account 2",
			"thread Thread-2 moved ￥20 from account 2 to account 1",
		},
	}
	balances := []string{"账户1余额为: ￥110元", "账户2余额为: ￥90元"}
	want := slices.Concat(transfers["Thread-1"], transfers["Thread-2"], balances)
	if diff := cmp.Diff(want, got, proctest.SameLines); diff != "" {
		t.Fatalf("stdout (-want +got):\n%s", diff)
	}
	// Each thread's lines in order; one holds both locks before the other
	// gets its first; the balances last.
	for name, steps := range transfers {
		var own []string
		for _, line := range got {
			if strings.HasPrefix(line, "thread "+name+" ") {
				own = append(own, line)
			}
		}
		if diff := cmp.Diff(steps, own); diff != "" {
			t.Errorf("%s's lines in order (-want +got):\n%s", name, diff)
		}
	}
	if got[0] == transfers["Thread-1"][0] {
		assertBefore(t, got, transfers["Thread-1"][3], transfers["Thread-2"][0])
	} else {
		assertBefore(t, got, transfers["Thread-2"][3], transfers["Thread-1"][0])
	}
	if diff := cmp.Diff(balances, got[len(got)-2:]); diff != "" {
		t.Errorf("the balances come last (-want +got):\n%s", diff)
	}
}

// noCgoBinary builds the program with CGO_ENABLED=0, the first time a test
// asks: the build that Go's runtime can see a deadlock in.
var noCgoBinary = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), proctest.BuildTimeout)
	defer cancel()
	bin := filepath.Join(buildDir, "multithreading-nocgo")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
	return bin, nil
})

// With --watchdog 0 and no cgo, nothing but the two transfers could ever run
// again, and Go's runtime says so itself, with every goroutine's stack.
func TestDeadlockSeenByTheRuntime(t *testing.T) {
	t.Parallel()
	bin, err := noCgoBinary()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, exit := runDeadlockBinary(t, bin, "--watchdog", "0")
	if exit != 2 || !strings.HasPrefix(stderr, "fatal error: all goroutines are asleep - deadlock!\n") ||
		strings.Count(stderr, "\nmain.transfer(") != 2 {
		t.Errorf("exit %d (want 2), stderr (want the runtime's report, with two goroutines in transfer):\n%s", exit, stderr)
	}
	if len(proctest.Lines(stdout)) != 4 {
		t.Errorf("stdout: want each thread to lock one account and wait for the other:\n%s", stdout)
	}
}

// --watchdog 0 is refused where the runtime could not tell, rather than hang:
// under --trace, and in a binary built with cgo (as go build makes it
// wherever it finds a C compiler).
func TestDeadlockWatchdogZeroRefusedWhereTheRuntimeCannotTell(t *testing.T) {
	t.Parallel()
	bin, err := noCgoBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, exit := runDeadlockBinary(t, bin, "--watchdog", "0", "--trace", filepath.Join(t.TempDir(), "trace.out"))
	want := "deadlock: --watchdog 0 leaves the deadlock to Go's runtime, which cannot see it while --trace keeps a timer pending"
	if exit != 2 || proctest.Lines(stderr)[0] != want {
		t.Errorf("--trace: exit %d, stderr first line %q, want exit 2 and %q", exit, proctest.Lines(stderr)[0], want)
	}

	info, err := buildinfo.ReadFile(program)
	if err != nil {
		t.Fatal(err)
	}
	cgo := slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "CGO_ENABLED" && s.Value == "1"
	})
	if !cgo {
		t.Skip("the program was built without cgo here")
	}
	_, stderr, exit = runDeadlockBinary(t, program, "--watchdog", "0")
	want = "deadlock: --watchdog 0 leaves the deadlock to Go's runtime, which cannot see it in a binary built with cgo: build with CGO_ENABLED=0"
	if exit != 2 || proctest.Lines(stderr)[0] != want {
		t.Errorf("cgo: exit %d, stderr first line %q, want exit 2 and %q", exit, proctest.Lines(stderr)[0], want)
	}
}

func TestDeadlockFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		firstLine string
	}{
		{[]string{"deadlock", "--watchdog", "-1s"}, "deadlock: --watchdog must not be negative, not -1s"},
		{[]string{"deadlock", "--pause", "-1ms"}, "deadlock: --pause must not be negative, not -1ms"},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d, stdout %q, stderr first line %q, want exit 2 and %q", tc.args, exit, stdout, proctest.Lines(stderr)[0], tc.firstLine)
		}
	}
}

// The race detector does not see a deadlock: under -race the deadlock is
// reported by the watchdog, as without, and no race is.
func TestRaceDetectorDoesNotSeeTheDeadlock(t *testing.T) {
	t.Parallel()
	bin, err := raceBinary()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, exit := runDeadlockBinary(t, bin)
	if exit != 1 || !strings.Contains(stderr, "deadlock") || strings.Contains(stderr, "DATA RACE") {
		t.Errorf("deadlock under -race: exit %d (want 1, a deadlock and no race)\nstdout:\n%s\nstderr:\n%s", exit, stdout, stderr)
	}
}
