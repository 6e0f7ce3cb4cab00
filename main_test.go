//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
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

// program is the binary built once, without -race, for the tests that run
// it as a separate process; buildDir holds it and the -race build.
var program, buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "multithreading-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	program = filepath.Join(dir, "multithreading")
	build := exec.Command("go", "build", "-o", program, ".")
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
	stdout, stderr, exit := runBinary(t, program, "bank", "--lock=false")
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
		stdout, stderr, exit := runBinary(t, program, "spin", "--for", "500ms",
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
		{[]string{"tasks", "--kind", "gpu"}, 2, `tasks: --kind must be io or cpu, not "gpu"`},
		{[]string{"master", "--addr", "5000"}, 2, `master: --addr "5000": want host:port, as in 127.0.0.1:5000`},
		{[]string{"master", "--tasks", "0"}, 2, "master: --tasks must be positive, not 0"},
		{[]string{"master", "--tasks", "3000000000"}, 2, "master: --tasks must be at most 2147483647, not 3000000000"},
		{[]string{"worker", "--jobs", "0"}, 2, "worker: --jobs must be positive, not 0"},
		{[]string{"worker", "--get-timeout", "2m"}, 2, "worker: --get-timeout must be at most 1m0s, not 2m0s"},
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
	if _, _, exit := runBinary(t, program, "fork"); exit != 2 {
		t.Errorf("binary: unknown command exits %d, want 2", exit)
	}
}

// ---- 分布式进程: master and workers as separate processes on loopback ----

// proc is a running copy of the program whose output a test reads as it comes.
type proc struct {
	t              testing.TB
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lineLog
	exited         chan struct{} // closed when the process has exited
	exit           int
}

// start runs the program with args; the test kills it if it is still running
// at the end.
func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	return startWithEnv(t, name, nil, args...)
}

// startWithEnv is start with variables added to the environment.
func startWithEnv(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(program, args...),
		stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.exit = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// startMaster starts a master on a free loopback port and returns it with
// the address it listens on.
func startMaster(t testing.TB, args ...string) (*proc, string) {
	t.Helper()
	master := start(t, "master", append([]string{"master", "--addr", "127.0.0.1:0"}, args...)...)
	m := master.stderr.waitFor(t, master, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))
	return master, m[1]
}

// testTimeout bounds every wait in these tests.
const testTimeout = 30 * time.Second

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.exit
	case <-time.After(testTimeout):
		p.t.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", p.name, testTimeout, p.stdout, p.stderr)
		return -1
	}
}

// lineLog collects a process's output and lets a test wait for a line.
type lineLog struct {
	mu      sync.Mutex
	text    bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

func newLineLog() *lineLog { return &lineLog{changed: make(chan struct{})} }

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.text.Write(b)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// waitFor waits until a whole line matches re, and returns its submatches.
func (l *lineLog) waitFor(t testing.TB, p *proc, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		l.mu.Lock()
		text, changed := l.text.String(), l.changed
		l.mu.Unlock()
		for _, line := range strings.SplitAfter(text, "\n") {
			if m := re.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil && strings.HasSuffix(line, "\n") {
				return m
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			// The process may have written the line just before it exited.
			if m := re.FindStringSubmatch(l.String()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%d) before printing a line like %v\nstdout:\n%s\nstderr:\n%s", p.name, p.exit, re, p.stdout, p.stderr)
		case <-timeout:
			t.Fatalf("%s printed no line like %v within %v\nstdout:\n%s\nstderr:\n%s", p.name, re, testTimeout, p.stdout, p.stderr)
		}
	}
}

// finish waits for a worker that takes tasks until there are none, then for
// its master, and checks the master's output.
func finish(t *testing.T, master, worker *proc) {
	t.Helper()
	if exit := worker.wait(); exit != 0 {
		t.Errorf("%s exited %d: %s", worker.name, exit, worker.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	checkMasterOutput(t, master)
}

// golden reads testdata/name.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkMasterOutput checks a master's whole output against the tasks it
// says it put: each result once, and each the square of its task.
func checkMasterOutput(t *testing.T, master *proc) []int {
	t.Helper()
	var tasks []int
	var want []string
	for _, line := range lines(master.stdout.String()) {
		var n int
		if _, err := fmt.Sscanf(line, "Put task %d...", &n); err == nil {
			tasks = append(tasks, n)
			want = append(want, fmt.Sprintf("Result: %d * %d = %d", n, n, n*n))
		}
	}
	got := lines(master.stdout.String())
	wantAll := append(append(putLines(tasks), "Try get results..."), want...)
	wantAll = append(wantAll, "master exit.")
	// The puts and results are each in a block; results may come in any order.
	if len(got) != len(wantAll) {
		t.Fatalf("master printed %d lines, want %d:\n%s", len(got), len(wantAll), master.stdout)
	}
	if diff := cmp.Diff(wantAll[:len(tasks)+1], got[:len(tasks)+1]); diff != "" {
		t.Errorf("master's puts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got[len(tasks)+1:len(got)-1], sameLines); diff != "" {
		t.Errorf("master's results, each once, each n*n (-want +got):\n%s", diff)
	}
	if got[len(got)-1] != "master exit." {
		t.Errorf("master's last line %q, want \"master exit.\"", got[len(got)-1])
	}
	return tasks
}

func putLines(tasks []int) []string {
	var lines []string
	for _, n := range tasks {
		lines = append(lines, fmt.Sprintf("Put task %d...", n))
	}
	return lines
}

// The tutorial's two terminals, line for line (seed 1 draws the tasks).
func TestMasterWorkerTutorialOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--seed", "1")
	master.stdout.waitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	worker := start(t, "worker", "worker", "--server", addr, "--work", "1ms")
	if exit := worker.wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Errorf("master exited %d: %s", exit, master.stderr)
	}
	if diff := cmp.Diff(golden(t, "master.golden"), master.stdout.String()); diff != "" {
		t.Errorf("master (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(golden(t, "worker.golden"), worker.stdout.String()); diff != "" {
		t.Errorf("worker (-want +got):\n%s", diff)
	}
	checkMasterOutput(t, master)
	if got := master.stderr.String(); got != "master: listening on "+addr+"\n" {
		t.Errorf("master's stderr: %q", got)
	}
}

// workerTasks returns the tasks a worker says it ran.
func workerTasks(worker *proc) []int {
	var tasks []int
	for _, line := range lines(worker.stdout.String()) {
		var n int
		if _, err := fmt.Sscanf(line, "run task %d * ", &n); err == nil {
			tasks = append(tasks, n)
		}
	}
	return tasks
}

func sortedInts(a []int) []int {
	a = slices.Clone(a)
	slices.Sort(a)
	return a
}

func TestTwoWorkersShareTasks(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "10")
	w1 := start(t, "worker 1", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	w2 := start(t, "worker 2", "worker", "--server", addr, "--tries", "0", "--work", "20ms")
	for _, w := range []*proc{w1, w2} {
		if exit := w.wait(); exit != 0 || !strings.HasSuffix(w.stdout.String(), "worker exit.\n") {
			t.Errorf("%s: exit %d, stdout:\n%s\nstderr:\n%s", w.name, exit, w.stdout, w.stderr)
		}
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	ran := append(workerTasks(w1), workerTasks(w2)...)
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(ran)); diff != "" {
		t.Errorf("tasks run by the two workers, each once (-want +got):\n%s", diff)
	}
}

// A worker killed while it holds a task: the task goes back to the queue when
// its connection closes, and a new worker does it.
func TestKilledWorkerLosesNoTask(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "5")
	doomed := start(t, "doomed worker", "worker", "--server", addr, "--work", "1h")
	m := doomed.stdout.waitFor(t, doomed, regexp.MustCompile(`^run task (\d+) \* \d+\.\.\.$`))
	doomed.cmd.Process.Kill()
	doomed.wait()

	fresh := start(t, "fresh worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	if exit := fresh.wait(); exit != 0 {
		t.Errorf("fresh worker exited %d: %s", exit, fresh.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(workerTasks(fresh))); diff != "" {
		t.Errorf("the fresh worker should run every task, the killed one's (%s) too (-want +got):\n%s", m[1], diff)
	}
}

// A worker that holds a task past its lease, without dying: the task goes to
// the next worker that asks, and the master finishes without it.
func TestExpiredLeaseGoesToAnotherWorker(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "5", "--lease", "200ms")
	stuck := start(t, "stuck worker", "worker", "--server", addr, "--tries", "1", "--work", "1h")
	stuck.stdout.waitFor(t, stuck, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
	other := start(t, "other worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms")
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	if exit := other.wait(); exit != 0 {
		t.Errorf("other worker exited %d: %s", exit, other.stderr)
	}
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(workerTasks(other))); diff != "" {
		t.Errorf("the other worker should run every task (-want +got):\n%s", diff)
	}
}

func TestWrongAuthkey(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3")
	intruder := start(t, "intruder", "worker", "--server", addr, "--authkey", "not hello world")
	if exit := intruder.wait(); exit != 1 {
		t.Errorf("worker with the wrong key exited %d, want 1", exit)
	}
	want := "worker: authentication failed: the master rejected our authkey\n"
	if diff := cmp.Diff(want, intruder.stderr.String()); diff != "" {
		t.Errorf("worker's stderr (-want +got):\n%s", diff)
	}
	master.stderr.waitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: authentication failed: the worker did not prove it knows the authkey$`))

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// The key can come from $TASK_AUTHKEY instead of the command line.
func TestAuthkeyFromEnvironment(t *testing.T) {
	t.Parallel()
	secret := []string{authkeyEnv + "=s3cret"}
	master := startWithEnv(t, "master", secret, "master", "--addr", "127.0.0.1:0", "--tasks", "2")
	addr := master.stderr.waitFor(t, master, regexp.MustCompile(`^master: listening on (\S+)$`))[1]
	tutorialKey := start(t, "worker with the tutorial's key", "worker", "--server", addr)
	if exit := tutorialKey.wait(); exit != 1 {
		t.Errorf("worker with the tutorial's key exited %d, want 1", exit)
	}
	finish(t, master, startWithEnv(t, "worker with the key from the environment", secret,
		"worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// Peers that do not speak the handshake are turned away, one at a time,
// while a good worker is served.
func TestMasterSurvivesBadPeers(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "3")
	dial := func() net.Conn {
		conn, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	silent := dial() // connects and says nothing, holding its handshake open
	_ = silent
	garbage := dial()
	garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	oversized := dial()
	oversized.Write([]byte{0xff, 0xff, 0xff, 0xff})

	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
	for _, want := range []string{
		`rejected 127\.0\.0\.1:\d+: handshake: a message of \d+ bytes is too long \(at most 64\)`, // the HTTP request's first 4 bytes
		`rejected 127\.0\.0\.1:\d+: handshake: a message of 4294967295 bytes is too long \(at most 64\)`,
	} {
		if !regexp.MustCompile(want).MatchString(master.stderr.String()) {
			t.Errorf("master's stderr has no line like %q:\n%s", want, master.stderr)
		}
	}
	if strings.Contains(master.stderr.String(), "goroutine ") {
		t.Errorf("master printed a stack trace:\n%s", master.stderr)
	}
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestWorkerWithoutMaster(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
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
	master, _ := startMaster(t, "--tasks", "2", "--seed", "1", "--timeout", "100ms")
	if exit := master.wait(); exit != 1 {
		t.Errorf("master exited %d, want 1", exit)
	}
	want := "master: no result within 100ms: 0 of 2 results arrived; missing tasks: #0 (n=5983), #1 (n=891)\n"
	if got := lines(master.stderr.String()); len(got) != 2 || got[1]+"\n" != want {
		t.Errorf("master's stderr:\n%s\nwant its last line:\n%s", master.stderr, want)
	}
}

// Ctrl-C: a worker interrupted mid-task hangs up, so its task goes to the
// next worker; an interrupted master closes down with a line, not a trace.
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

// ---- the authkey handshake ----

// handshake runs both sides over an in-memory connection.
func handshake(masterKey, workerKey string) (masterErr, workerErr error) {
	master, worker := net.Pipe()
	deadline := time.Now().Add(testTimeout)
	master.SetDeadline(deadline)
	worker.SetDeadline(deadline)
	errs := make(chan error, 1)
	go func() {
		errs <- serverHandshake(master, []byte(masterKey))
		master.Close()
	}()
	workerErr = clientHandshake(worker, []byte(workerKey))
	worker.Close()
	return <-errs, workerErr
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestHandshake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		masterKey, workerKey string
		masterErr, workerErr string
	}{
		{"hello world", "hello world", "<nil>", "<nil>"},
		{"hello world", "hello", "authentication failed: the worker did not prove it knows the authkey",
			"authentication failed: the master rejected our authkey"},
		{"", "", "<nil>", "<nil>"}, // HMAC takes an empty key; the command line does not
	} {
		masterErr, workerErr := handshake(tc.masterKey, tc.workerKey)
		if errString(masterErr) != tc.masterErr || errString(workerErr) != tc.workerErr {
			t.Errorf("keys %q and %q: master %q (want %q), worker %q (want %q)",
				tc.masterKey, tc.workerKey, errString(masterErr), tc.masterErr, errString(workerErr), tc.workerErr)
		}
	}
}

// A fake master that lets anyone in but cannot answer the worker's challenge
// is found out by the worker.
func TestHandshakeWorkerChecksMaster(t *testing.T) {
	t.Parallel()
	master, worker := net.Pipe()
	deadline := time.Now().Add(testTimeout)
	master.SetDeadline(deadline)
	worker.SetDeadline(deadline)
	go func() {
		defer master.Close()
		writeMessage(master, append(bytes.Clone(challengeTag), make([]byte, challengeSize)...))
		readMessage(master) // the worker's answer, unchecked
		writeMessage(master, welcome)
		readMessage(master) // the worker's challenge
		writeMessage(master, make([]byte, sha256Size))
		readMessage(master) // the verdict
	}()
	err := clientHandshake(worker, []byte("hello world"))
	if want := "authentication failed: the master did not prove it knows the authkey"; errString(err) != want {
		t.Errorf("worker: %q, want %q", errString(err), want)
	}
}

const sha256Size = 32

// countingReader counts what the handshake reads.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// scriptedPeer is a connection whose peer sends fixed bytes and hears nothing.
type scriptedPeer struct {
	*countingReader
	io.Writer
}

func peerSending(b []byte) scriptedPeer {
	return scriptedPeer{&countingReader{r: bytes.NewReader(b)}, io.Discard}
}

// A message claiming 4 GiB is refused after reading its 4-byte header, and a
// peer that stops mid-message is an error, not a hang.
func TestHandshakeBoundsReads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sent []byte
		err  string
		read int
	}{
		{"oversized", []byte{0xff, 0xff, 0xff, 0xff, 'x'}, "handshake: a message of 4294967295 bytes is too long (at most 64)", 4},
		{"just too long", append([]byte{0, 0, 0, 65}, make([]byte, 65)...), "handshake: a message of 65 bytes is too long (at most 64)", 4},
		{"truncated header", []byte{0, 0}, "handshake: unexpected EOF", 2},
		{"truncated message", []byte{0, 0, 0, 32, 1, 2, 3}, "handshake: unexpected EOF", 7},
		{"empty", nil, "handshake: EOF", 0},
	} {
		for side, handshake := range map[string]func(io.ReadWriter, []byte) error{
			"master": serverHandshake, "worker": clientHandshake,
		} {
			peer := peerSending(tc.sent)
			err := handshake(peer, []byte("hello world"))
			if errString(err) != tc.err || peer.read != tc.read {
				t.Errorf("%s, %s side: error %q after reading %d bytes; want %q after %d", tc.name, side, errString(err), peer.read, tc.err, tc.read)
			}
		}
	}
}

// The master's side of the handshake lets in no peer that sends any bytes
// without knowing the key, never panics, and never reads a message over
// maxMessage. The seeds run in every go test.
func FuzzServerHandshake(f *testing.F) {
	frame := func(parts ...[]byte) []byte {
		var b bytes.Buffer
		for _, p := range parts {
			writeMessage(&b, p)
		}
		return b.Bytes()
	}
	f.Add([]byte{})
	f.Add(frame(make([]byte, sha256Size)))
	f.Add(frame(make([]byte, sha256Size), welcome))
	f.Add(frame(sign([]byte("hello world"), "worker", make([]byte, challengeSize))))
	f.Add(frame(failure))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 64})
	f.Fuzz(func(t *testing.T, sent []byte) {
		peer := peerSending(sent)
		if err := serverHandshake(peer, []byte("hello world")); err == nil {
			t.Fatalf("authenticated a peer that sent %x", sent)
		}
		if limit := 3 * (4 + maxMessage); peer.read > limit {
			t.Fatalf("read %d bytes, more than three messages of at most %d", peer.read, maxMessage)
		}
	})
}

// ---- the leased task queue ----

func TestQueueExpiredLeaseGoesToNextWorker(t *testing.T) {
	t.Parallel()
	q := newTaskQueue(1, 50*time.Millisecond)
	q.Put(7)
	first, _ := q.get(1, 1, testTimeout)
	// Nothing else is pending: this get waits until the lease runs out.
	second, _ := q.get(2, 1, testTimeout)
	if len(first) != 1 || len(second) != 1 || first[0].ID != second[0].ID || first[0].Lease == second[0].Lease {
		t.Fatalf("first handout %+v, second %+v: want the same task on a new lease", first, second)
	}
	// Both workers answer; the master hears the first answer only.
	if err := q.putResults([]Result{{ID: 0, Lease: second[0].Lease, Text: "7 * 7 = 49"}}); err != nil {
		t.Fatal(err)
	}
	if err := q.putResults([]Result{{ID: 0, Lease: first[0].Lease, Text: "late"}}); err != nil {
		t.Fatal(err)
	}
	if got := <-q.results; got.Text != "7 * 7 = 49" || len(q.results) != 0 {
		t.Errorf("results: %+v and %d more; want only the first answer", got, len(q.results))
	}
	select {
	case <-q.finished:
	default:
		t.Error("every task has its result, but the queue is not finished")
	}
	if tasks, closed := q.get(3, 1, testTimeout); len(tasks) != 0 || !closed {
		t.Errorf("get on a finished queue: %v, closed %v; want none, closed", tasks, closed)
	}
}

func TestQueueClosedConnectionGivesBackItsTasks(t *testing.T) {
	t.Parallel()
	q := newTaskQueue(5, time.Hour)
	for n := range 5 {
		q.Put(n * 10)
	}
	batch, _ := q.get(1, 3, testTimeout)
	if len(batch) != 3 {
		t.Fatalf("asked for 3 tasks, got %v", batch)
	}
	// The worker answers two, then its connection closes.
	q.putResults([]Result{{ID: batch[0].ID, Lease: batch[0].Lease}, {ID: batch[1].ID, Lease: batch[1].Lease}})
	q.releaseOwner(1)
	rest, _ := q.get(2, 10, testTimeout)
	var got []int
	for _, task := range rest {
		got = append(got, task.N)
	}
	want := []int{batch[2].N, 30, 40}
	if diff := cmp.Diff(sortedInts(want), sortedInts(got)); diff != "" {
		t.Errorf("tasks handed out after the connection closed (-want +got):\n%s", diff)
	}
	if err := q.putResults([]Result{{ID: 5}}); err == nil || err.Error() != "no task has id 5" {
		t.Errorf("a result for no task: %v", err)
	}
}

// ---- throughput mode and 进程 VS 线程 ----

// Quiet mode: a million tasks, two workers with 8 calls in flight each, one
// line from the master, and the master stays small: a bit per answered task,
// 8 bytes per waiting one.
func TestQuietMillionTasks(t *testing.T) {
	master, addr := startMaster(t, "--tasks", "1000000", "--quiet", "--timeout", "1m")
	var workers []*proc
	for i := range 2 {
		workers = append(workers, start(t, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	summary := regexp.MustCompile(`^1000000 results in \d+\.\d\ds \(\d+ tasks/s\)\n$`)
	if !summary.MatchString(master.stdout.String()) {
		t.Errorf("master's output %q does not match %v", master.stdout, summary)
	}
	for _, w := range workers {
		if exit := w.wait(); exit != 0 {
			t.Errorf("%s exited %d: %s", w.name, exit, w.stderr)
		}
		if diff := cmp.Diff("Connect to server 127.0.0.1...\nworker exit.\n", w.stdout.String()); diff != "" {
			t.Errorf("%s's output (-want +got):\n%s", w.name, diff)
		}
	}
	if peak := master.peakMiB(t); peak >= 32 {
		t.Errorf("master's peak memory %.1f MiB, want under 32 MiB", peak)
	}
}

// Batched and pipelined workers print the same lines as the tutorial's, and
// every task is done exactly once.
func TestBatchWorkerOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "50")
	worker := start(t, "worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms", "--jobs", "4", "--batch", "3")
	if exit := worker.wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.stderr)
	}
	if exit := master.wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(sortedInts(tasks), sortedInts(workerTasks(worker))); diff != "" {
		t.Errorf("tasks run (-want +got):\n%s", diff)
	}
	got := lines(worker.stdout.String())
	if got[0] != "Connect to server 127.0.0.1..." || got[len(got)-1] != "worker exit." {
		t.Errorf("worker's first and last lines: %q, %q", got[0], got[len(got)-1])
	}
}

func TestTasksIO(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "tasks", "--kind", "io", "--n", "1000", "--wait", "10ms")
	got := lines(stdout)
	if exit != 0 || stderr != "" || len(got) != 3 {
		t.Fatalf("exit %d, stderr %q, output:\n%s", exit, stderr, stdout)
	}
	if want := "1000 goroutines each wait 10ms, all at once"; got[0] != want {
		t.Errorf("first line %q, want %q", got[0], want)
	}
	if !regexp.MustCompile(`^peak memory \d+ MiB, \d+\.\d KiB more for each goroutine$`).MatchString(got[1]) {
		t.Errorf("second line %q", got[1])
	}
	m := regexp.MustCompile(`^all done in (\d+\.\d\d) s$`).FindStringSubmatch(got[2])
	if m == nil {
		t.Fatalf("last line %q", got[2])
	}
	// One after the other, the waits would take 10 s.
	if elapsed, _ := strconv.ParseFloat(m[1], 64); elapsed >= 5 {
		t.Errorf("1000 waits of 10ms took %v s: they did not wait at once", elapsed)
	}
}

func TestTasksCPU(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "tasks", "--kind", "cpu", "--limit", "20000", "--n", "300")
	if exit != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", exit, stderr)
	}
	// There are 2262 primes below 20000, however the job is split.
	speed := regexp.MustCompile(`(?m)\d+\.\d\dx the speed of one, in \d+\.\d\d s$`)
	got := speed.ReplaceAllString(stdout, "Sx the speed of one, in T s")
	want := fmt.Sprintf(`count the primes below 20000 with
       1 goroutine: 2262 primes, Sx the speed of one, in T s
%8d goroutines: 2262 primes, Sx the speed of one, in T s
     300 goroutines: 2262 primes, Sx the speed of one, in T s
`, runtime.NumCPU())
	if runtime.NumCPU() == 1 {
		want = strings.Replace(want, "       1 goroutines", "       1 goroutine", 1)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCountPrimes(t *testing.T) {
	t.Parallel()
	for _, goroutines := range []int{1, 2, 3, 7, 100, 1000} {
		if got := countPrimes(1000, goroutines); got != 168 {
			t.Errorf("countPrimes(1000, %d) = %d, want 168", goroutines, got)
		}
	}
}

// ---- benchmarks: go test -run '^$' -bench . (README, "Measured speed") ----

// Ping is the smallest net/rpc service: the floor under any queue call.
type Ping struct{}

func (Ping) Ping(n int, reply *int) error {
	*reply = n
	return nil
}

// BenchmarkRPCRoundTrip is one bare net/rpc call on loopback per op.
func BenchmarkRPCRoundTrip(b *testing.B) {
	bareRoundTrips(b, b.N)
}

// bareRoundTrips makes n calls to Ping over loopback and returns how long
// they took, not counting the connection's set-up.
func bareRoundTrips(b *testing.B, n int) time.Duration {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	server := rpc.NewServer()
	server.Register(Ping{})
	go func() {
		conn, err := listener.Accept()
		if err == nil {
			server.ServeConn(conn)
		}
	}()
	client, err := rpc.Dial("tcp", listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	var reply int
	if err := client.Call("Ping.Ping", 0, &reply); err != nil { // gob sends its types once
		b.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if err := client.Call("Ping.Ping", i, &reply); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// benchmarkQueue moves b.N tasks through a real master's queue on loopback,
// with the worker function given; an op is one task.
func benchmarkQueue(b *testing.B, worker func(context.Context, io.Writer, workerConfig) error, cfg workerConfig) {
	queue := newTaskQueue(b.N, time.Minute)
	queue.results = nil
	manager := newQueueManager(queue, []byte("hello world"), io.Discard)
	if err := manager.start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer manager.shutdown(0)
	for range b.N {
		queue.Put(7)
	}
	cfg.server, cfg.authkey, cfg.tries = manager.listener.Addr().String(), []byte("hello world"), 0
	b.ResetTimer()
	if err := worker(context.Background(), io.Discard, cfg); err != nil {
		b.Fatal(err)
	}
	<-queue.finished
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkQueue: jobs=1 is the tutorial's worker loop, two calls per task,
// and its "of-bare-rpc" is the time of as many bare net/rpc calls, made in
// the same run, over its own time; jobs=8 keeps 8 calls in flight;
// batch=512 is what --work 0 does.
func BenchmarkQueue(b *testing.B) {
	b.Run("jobs=1", func(b *testing.B) {
		benchmarkQueue(b, taskWorker, workerConfig{jobs: 1, batch: 1, getTimeout: time.Second})
		queue := b.Elapsed()
		bare := bareRoundTrips(b, 2*b.N)
		b.ReportMetric(bare.Seconds()/queue.Seconds(), "of-bare-rpc")
	})
	b.Run("jobs=8", func(b *testing.B) {
		benchmarkQueue(b, batchWorker, workerConfig{jobs: 8, batch: 1, getTimeout: time.Second, quiet: true})
	})
	b.Run("jobs=8,batch=512", func(b *testing.B) {
		benchmarkQueue(b, batchWorker, workerConfig{jobs: 8, batch: autoBatch, getTimeout: time.Second, quiet: true})
	})
}

// BenchmarkHandshake is one loopback connection and its authkey handshake per op.
func BenchmarkHandshake(b *testing.B) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	key := []byte("hello world")
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serverHandshake(conn, key)
			}()
		}
	}()
	for b.Loop() {
		conn, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := clientHandshake(conn, key); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}

// BenchmarkBank is one deposit per op, from as many goroutines as cores,
// with no processing delay: the cost of the lock against the teller.
func BenchmarkBank(b *testing.B) {
	b.Run("mutex", func(b *testing.B) {
		account := &Account{}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(1)
			}
		})
	})
	b.Run("chan", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		account := NewTellerAccount(ctx, 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(1)
			}
		})
	})
}

// BenchmarkThroughput runs the README's throughput command: a quiet master
// with b.N tasks and two quiet workers with --jobs 8 --work 0, as separate
// processes. It reports tasks/s from starting the workers to the master's
// exit, the CPU time per task of all three, and the master's peak memory.
// Run it with -benchtime 1000000x.
func BenchmarkThroughput(b *testing.B) {
	master, addr := startMaster(b, "--tasks", strconv.Itoa(b.N), "--quiet", "--timeout", "1m")
	b.ResetTimer()
	var workers []*proc
	for i := range 2 {
		workers = append(workers, start(b, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.wait(); exit != 0 {
		b.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	b.StopTimer()
	cpu := master.cpu()
	for _, w := range workers {
		// A worker that connects as the master finishes may be cut off in
		// its handshake: with a handful of tasks, that is no failure.
		if exit := w.wait(); exit != 0 {
			b.Logf("%s exited %d: %s", w.name, exit, w.stderr)
		}
		cpu += w.cpu()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/task")
	b.ReportMetric(master.peakMiB(b), "master-MiB")
	b.Logf("master: %s", strings.TrimSpace(master.stdout.String()))
}

// cpu is the CPU time, user and system, of an exited process.
func (p *proc) cpu() time.Duration {
	return p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
}

// peakMiB is the peak memory that a quiet master reports on stderr as it
// exits. (The rusage of a child process would not do: on Linux it counts the
// memory of its parent, this test, at the time of the fork.)
func (p *proc) peakMiB(t testing.TB) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^master: peak memory (\d+\.\d) MiB$`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("%s reported no peak memory:\n%s", p.name, p.stderr)
	}
	peak, _ := strconv.ParseFloat(m[1], 64)
	return peak
}
