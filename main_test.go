package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// binary is the program built once, without -race, for the tests that run
// it as a separate process; buildDir holds it and the -race build.
var binary, buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "multithreading-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	binary = filepath.Join(dir, "multithreading")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runInProcess calls run as main does and returns what it printed.
func runInProcess(t *testing.T, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), exitCode(err)
}

// runBinary runs a built binary to its end, at most a minute.
func runBinary(t *testing.T, bin string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running %s %v: %v", bin, args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// sameLines compares two outputs as multisets of lines: for goroutines
// whose order of printing is up to the scheduler.
var sameLines = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// assertBefore checks that line first comes before line second in got.
func assertBefore(t *testing.T, got []string, first, second string) {
	t.Helper()
	i, j := slices.Index(got, first), slices.Index(got, second)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q before %q in:\n%s", first, second, strings.Join(got, "\n"))
	}
}

// The tutorial's console result of the first listing, word for word.
func TestLoop(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "loop", "--tick", "1ms")
	want := `thread MainThread is running...
thread LoopThread is running...
thread LoopThread >>> 1
thread LoopThread >>> 2
thread LoopThread >>> 3
thread LoopThread >>> 4
thread LoopThread >>> 5
thread LoopThread ended.
thread MainThread ended.
`
	if diff := cmp.Diff(want, stdout); diff != "" || exit != 0 || stderr != "" {
		t.Errorf("loop: exit %d, stderr %q, output (-want +got):\n%s", exit, stderr, diff)
	}
}

// Both download listings. Seed 1 draws 10 s for the pdf and 9 s for the avi;
// the goroutines' order of printing is free, except that each file starts
// before it finishes and the total comes last. The total runs in parallel:
// at least the longer download, well below the sum of both.
func TestDownload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flags []string
		total *regexp.Regexp
	}{
		{nil, regexp.MustCompile(`^总共耗费了(\d+\.\d{3})秒$`)},
		{[]string{"--task"}, regexp.MustCompile(`^总共耗费了(\d+\.\d{2})秒\.$`)},
	} {
		t.Run(fmt.Sprint(tc.flags), func(t *testing.T) {
			t.Parallel()
			args := append([]string{"download", "--seed", "1", "--second", "40ms"}, tc.flags...)
			stdout, stderr, exit := runInProcess(t, args...)
			if exit != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", exit, stderr)
			}
			got := lines(stdout)
			m := tc.total.FindStringSubmatch(got[len(got)-1])
			if m == nil {
				t.Fatalf("last line %q does not match %v", got[len(got)-1], tc.total)
			}
			if total, _ := strconv.ParseFloat(m[1], 64); total < 10 || total >= 19 {
				t.Errorf("total %v tutorial seconds: want at least 10 (the longer download) and below 19 (both in a row)", total)
			}
			want := []string{
				"开始下载Python从入门到精通.pdf...",
				"开始下载Peking Hot.avi...",
				"Python从入门到精通.pdf下载完成! 耗费了10秒",
				"Peking Hot.avi下载完成! 耗费了9秒",
			}
			if diff := cmp.Diff(want, got[:len(got)-1], sameLines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			assertBefore(t, got, want[0], want[2])
			assertBefore(t, got, want[1], want[3])
		})
	}
}

func TestBankLockedAndTellerAlwaysReach100(t *testing.T) {
	t.Parallel()
	want := "账户余额为: ￥100元\n"
	for _, flags := range [][]string{{"--lock"}, {"--chan"}} {
		for range 20 {
			args := append([]string{"bank", "--delay", "50us"}, flags...)
			stdout, stderr, exit := runInProcess(t, args...)
			if diff := cmp.Diff(want, stdout); diff != "" || exit != 0 || stderr != "" {
				t.Fatalf("bank %v: exit %d, stderr %q, output (-want +got):\n%s", flags, exit, stderr, diff)
			}
		}
	}
}

// The unprotected listing runs in a binary built without -race, since in
// this test process the race detector would fail the test for the race the
// listing exists to show.
func TestBankUnlockedLosesDeposits(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runBinary(t, binary, "bank", "--lock=false")
	m := regexp.MustCompile(`^账户余额为: ￥(\d+)元\n$`).FindStringSubmatch(stdout)
	if m == nil || exit != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, output %q", exit, stderr, stdout)
	}
	if balance, _ := strconv.Atoi(m[1]); balance >= 100 {
		t.Errorf("balance ¥%d: want far below ¥100, deposits lost", balance)
	}
}

// raceBinary builds the program with -race, the first time a test asks.
var raceBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(buildDir, "multithreading-race")
	out, err := exec.Command("go", "build", "-race", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build -race: %v\n%s", err, out)
	}
	return bin, nil
})

// The race detector names the unprotected account's race, and finds none
// in the locked account or the teller.
func TestRaceDetectorCatchesUnlockedBank(t *testing.T) {
	t.Parallel()
	bin, err := raceBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags []string
		racy  bool
	}{
		{[]string{"--lock=false"}, true},
		{[]string{"--lock"}, false},
		{[]string{"--chan"}, false},
	} {
		args := append([]string{"bank", "--delay", "1ms"}, tc.flags...)
		_, stderr, exit := runBinary(t, bin, args...)
		reported := strings.Contains(stderr, "WARNING: DATA RACE")
		if reported != tc.racy {
			t.Errorf("bank %v under -race: race reported = %v, want %v (exit %d)\n%s", tc.flags, reported, tc.racy, exit, stderr)
		}
		if tc.racy && !strings.Contains(stderr, "UnsafeAccount).Deposit") {
			t.Errorf("the race report does not name UnsafeAccount.Deposit:\n%s", stderr)
		}
	}
}

func TestLocal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		flag string
		want []string
	}{
		{"--dict=false", []string{"Hello, Alice (in Thread-A)", "Hello, Bob (in Thread-B)"}},
		{"--dict", []string{"Hello, Alice (in Thread-A)", "Bye, Alice (in Thread-A)", "Hello, Bob (in Thread-B)", "Bye, Bob (in Thread-B)"}},
	} {
		stdout, stderr, exit := runInProcess(t, "local", tc.flag)
		if exit != 0 || stderr != "" {
			t.Fatalf("local %s: exit %d, stderr %q", tc.flag, exit, stderr)
		}
		got := lines(stdout)
		if diff := cmp.Diff(tc.want, got, sameLines); diff != "" {
			t.Errorf("local %s (-want +got):\n%s", tc.flag, diff)
		}
		if tc.flag == "--dict" {
			assertBefore(t, got, "Hello, Alice (in Thread-A)", "Bye, Alice (in Thread-A)")
			assertBefore(t, got, "Hello, Bob (in Thread-B)", "Bye, Bob (in Thread-B)")
		}
	}
}

// spin runs in its own process so that it measures nothing but itself. It is
// not parallel: other tests would take the cores it means to fill.
func TestSpinUsesEveryCore(t *testing.T) {
	cores := runtime.NumCPU()
	usedLine := regexp.MustCompile(`^used (\d+\.\d\d) of (\d+) cores$`)
	for _, tc := range []struct {
		gomaxprocs, goroutines int
		low, high              float64
	}{
		{0, cores, 1.5, float64(cores) + 0.5},
		{1, cores, 0.7, 1.3},
	} {
		if tc.gomaxprocs == 0 && cores < 2 {
			t.Logf("skipping the many-core case: this machine has %d core", cores)
			continue
		}
		stdout, stderr, exit := runBinary(t, binary, "spin", "--for", "500ms",
			"--gomaxprocs", strconv.Itoa(tc.gomaxprocs), "--goroutines", strconv.Itoa(tc.goroutines))
		got := lines(stdout)
		procs := tc.gomaxprocs
		if procs == 0 {
			procs = cores
		}
		first := fmt.Sprintf("%d goroutines spin for 500ms (GOMAXPROCS %d)", tc.goroutines, procs)
		if exit != 0 || stderr != "" || len(got) != 2 || got[0] != first {
			t.Fatalf("spin --gomaxprocs %d: exit %d, stderr %q, output:\n%s\nwant first line %q", tc.gomaxprocs, exit, stderr, stdout, first)
		}
		m := usedLine.FindStringSubmatch(got[1])
		if m == nil || m[2] != strconv.Itoa(cores) {
			t.Fatalf("last line %q: want \"used X of %d cores\"", got[1], cores)
		}
		if used, _ := strconv.ParseFloat(m[1], 64); used < tc.low || used > tc.high {
			t.Errorf("spin --gomaxprocs %d used %.2f cores, want between %.1f and %.1f", tc.gomaxprocs, used, tc.low, tc.high)
		}
	}
}

// Mistakes on the command line: one line saying what is wrong, the usage,
// exit 2. Asking for help: the usage, exit 0.
func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		exit      int
		firstLine string
	}{
		{nil, 2, "usage: multithreading <command> [flags]"},
		{[]string{"-h"}, 0, "usage: multithreading <command> [flags]"},
		{[]string{"fork"}, 2, `multithreading: unknown command "fork"`},
		{[]string{"loop", "-h"}, 0, "usage: multithreading loop [flags]"},
		{[]string{"loop", "--ticks", "1s"}, 2, "flag provided but not defined: -ticks"},
		{[]string{"loop", "now"}, 2, `loop: unexpected argument "now"`},
		{[]string{"loop", "--tick", "-1s"}, 2, "loop: --tick must not be negative, not -1s"},
		{[]string{"download", "--second", "0"}, 2, "download: --second must be positive, not 0s"},
		{[]string{"bank", "--depositors", "many"}, 2, `invalid value "many" for flag -depositors: parse error`},
		{[]string{"bank", "--depositors", "0"}, 2, "bank: --depositors must be positive, not 0"},
		{[]string{"bank", "--chan", "--lock=false"}, 2, "bank: --chan needs no lock: leave out --lock=false"},
		{[]string{"spin", "--gomaxprocs", "-1"}, 2, "spin: --gomaxprocs must not be negative, not -1"},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		if exit != tc.exit || stdout != "" || lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr first line %q (want %q)",
				tc.args, exit, tc.exit, stdout, lines(stderr)[0], tc.firstLine)
		}
		if !strings.Contains(stderr, "usage: multithreading") {
			t.Errorf("%v: stderr shows no usage:\n%s", tc.args, stderr)
		}
	}
	// The real binary turns run's error into the same exit code.
	if _, _, exit := runBinary(t, binary, "fork"); exit != 2 {
		t.Errorf("binary: unknown command exits %d, want 2", exit)
	}
}
