// Tests of threads.go: sections 多线程, GIL and 进程 VS 线程.

package main

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

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
			got := proctest.Lines(stdout)
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
			if diff := cmp.Diff(want, got[:len(got)-1], proctest.SameLines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			assertBefore(t, got, want[0], want[2])
			assertBefore(t, got, want[1], want[3])
		})
	}
}

// Whether goroutines run on several cores at once is the Go scheduler's
// decision, and a trace records it: when each goroutine runs, on which P (a
// core that Go may use). The share of the time that every spinning goroutine
// was running at once does not depend on how busy the machine is, unlike the
// CPU time the process gets, which other programs take their share of (two
// busy loops beside this test bring it down to one core of two). So the test
// asserts that share, against a GOMAXPROCS=1 run that never has two running,
// and of the CPU figure only what load cannot break: GOMAXPROCS=1 uses no
// more than one core.
func TestSpinUsesEveryCore(t *testing.T) {
	t.Parallel()
	cores := runtime.NumCPU()
	usedLine := regexp.MustCompile(`^used (\d+\.\d\d) of (\d+) cores over \d+\.\d\d s$`)
	for _, tc := range []struct {
		gomaxprocs, goroutines int
		maxUsed                float64 // cores
		minShare, maxShare     float64 // of the time all goroutines ran at once
	}{
		{cores, cores, float64(cores) + 0.5, 0.5, 1},
		{1, 2, 1.3, 0, 0.01},
	} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", tc.gomaxprocs), func(t *testing.T) {
			t.Parallel()
			if tc.goroutines < 2 {
				t.Skipf("this machine has %d core", cores)
			}
			file := filepath.Join(t.TempDir(), "trace.out")
			stdout, stderr, exit := runBinary(t, program, "spin", "--for", "300ms", "--trace", file,
				"--gomaxprocs", strconv.Itoa(tc.gomaxprocs), "--goroutines", strconv.Itoa(tc.goroutines))
			got := proctest.Lines(stdout)
			first := fmt.Sprintf("%d goroutines spin for 300ms (GOMAXPROCS %d)", tc.goroutines, tc.gomaxprocs)
			if exit != 0 || stderr != "" || len(got) != 2 || got[0] != first {
				t.Fatalf("exit %d, stderr %q, output:\n%s\nwant first line %q", exit, stderr, stdout, first)
			}
			m := usedLine.FindStringSubmatch(got[1])
			if m == nil || m[2] != strconv.Itoa(cores) {
				t.Fatalf("last line %q: want \"used X of %d cores over T s\"", got[1], cores)
			}
			if used, _ := strconv.ParseFloat(m[1], 64); used <= 0 || used > tc.maxUsed {
				t.Errorf("used %.2f cores, want some and at most %.1f", used, tc.maxUsed)
			}
			share, spinners := shareAllRunning(readTrace(t, file), tc.goroutines)
			t.Logf("%s; all %d goroutines ran at once %.1f%% of the time", got[1], tc.goroutines, 100*share)
			if spinners != tc.goroutines {
				t.Fatalf("the trace shows %d goroutines in a busy loop, want %d", spinners, tc.goroutines)
			}
			if share < tc.minShare || share > tc.maxShare {
				t.Errorf("all %d goroutines ran at once %.0f%% of the time, want %.0f%% to %.0f%%",
					tc.goroutines, 100*share, 100*tc.minShare, 100*tc.maxShare)
			}
		})
	}
}

// shareAllRunning reads from a trace of spin when its goroutines were running
// (on a P, whatever the OS did with the thread). It returns the share of the
// time during which the given number of them ran at once, from when the last
// one began its busy loop to when the first one ended it, and how many
// goroutines ran a busy loop: those that spin started, which end with it.
func shareAllRunning(events []traceEvent, atOnce int) (share float64, spinners int) {
	began, ended := map[int64]int64{}, map[int64]int64{}
	spinner := map[int64]bool{}
	for _, e := range events {
		goID, _ := strconv.ParseInt(e.attrs["GoID"], 10, 64)
		switch {
		case e.kind != "StateTransition":
		case e.transition == "NotExist->Runnable" && strings.HasPrefix(e.attrs["Start"], "main.spin."):
			spinner[goID] = true
		case !spinner[goID]:
		case strings.HasSuffix(e.transition, "->Running") && began[goID] == 0:
			began[goID] = e.time
		case strings.HasSuffix(e.transition, "->NotExist"):
			ended[goID] = e.time
		}
	}
	from, to := int64(0), int64(math.MaxInt64)
	for g := range began {
		from, to = max(from, began[g]), min(to, ended[g])
	}
	if len(began) == 0 || to <= from {
		return 0, len(began)
	}
	// Sweep through the goroutines' state changes in time order, counting
	// those running, and add up the time when atOnce of them were.
	var changes []traceEvent
	for _, e := range events {
		goID, _ := strconv.ParseInt(e.attrs["GoID"], 10, 64)
		if _, spins := began[goID]; spins && e.kind == "StateTransition" {
			changes = append(changes, e)
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].time < changes[j].time })
	running, since, together := 0, from, int64(0)
	for _, e := range changes {
		now := min(max(e.time, from), to)
		if running >= atOnce {
			together += now - since
		}
		since = now
		switch {
		case strings.HasSuffix(e.transition, "->Running"):
			running++
		case strings.HasPrefix(e.transition, "Running->"):
			running--
		}
	}
	if running >= atOnce {
		together += to - since
	}
	return float64(together) / float64(to-from), len(began)
}

// With 10,000 goroutines, spin still lasts about --for: each loop stops
// itself at the deadline, and none waits for the main goroutine to get a
// core to say stop.
func TestSpinManyGoroutinesEndOnTime(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runBinary(t, program, "spin", "--goroutines", "10000", "--for", "200ms")
	got := proctest.Lines(stdout)
	if exit != 0 || stderr != "" || len(got) != 2 || !strings.HasPrefix(got[0], "10000 goroutines spin for 200ms") {
		t.Fatalf("exit %d, stderr %q, output:\n%s", exit, stderr, stdout)
	}
	m := regexp.MustCompile(` over (\d+\.\d\d) s$`).FindStringSubmatch(got[1])
	if m == nil {
		t.Fatalf("last line %q: want it to end \"over T s\"", got[1])
	}
	if wall, _ := strconv.ParseFloat(m[1], 64); wall < 0.2 || wall > 1 {
		t.Errorf("spin for 200ms took %v s, want at least 0.2 and at most five times that", wall)
	}
}

// ioTasksLine is the memory line of tasks --kind io.
var ioTasksLine = regexp.MustCompile(`^peak memory \d+ MiB, (\d+\.\d) KiB more per (goroutine|OS thread)$`)

// runIOTasks runs tasks --kind io in its own process, so that its peak
// memory is its own, checks the output's shape and returns the memory per
// task.
func runIOTasks(t *testing.T, n int, wait string, flags ...string) (kiBPerTask float64) {
	t.Helper()
	args := append([]string{"tasks", "--kind", "io", "--n", strconv.Itoa(n), "--wait", wait}, flags...)
	stdout, stderr, exit := runBinary(t, program, args...)
	got := proctest.Lines(stdout)
	if exit != 0 || stderr != "" || len(got) != 3 {
		t.Fatalf("%v: exit %d, stderr %q, output:\n%s", args, exit, stderr, stdout)
	}
	task := "goroutine"
	if slices.Contains(flags, "--os-threads") {
		task = "OS thread"
	}
	want := fmt.Sprintf("%d %ss each wait %s, all at once", n, task, wait)
	if n == 1 {
		want = fmt.Sprintf("1 %s waits %s", task, wait)
	}
	if got[0] != want {
		t.Errorf("%v: first line %q, want %q", args, got[0], want)
	}
	m := ioTasksLine.FindStringSubmatch(got[1])
	if m == nil || m[2] != task {
		t.Fatalf("%v: second line %q, want the memory per %s", args, got[1], task)
	}
	if !regexp.MustCompile(`^all done in \d+\.\d\d s$`).MatchString(got[2]) {
		t.Errorf("%v: last line %q", args, got[2])
	}
	kiB, _ := strconv.ParseFloat(m[1], 64)
	return kiB
}

// With every goroutine waiting at the same time, the memory they add is what
// a waiting goroutine costs: its stack of at least 2 KiB, and a little more.
// (Before the start barrier, the first goroutines were done before the last
// began, and a million reported 0.3 KiB each.)
// The warning of tasks estimates with the same figure (goroutineTaskBytes).
func TestTasksIOMemoryPerGoroutine(t *testing.T) {
	t.Parallel()
	kiB := runIOTasks(t, 20000, "10ms")
	if kiB < 2 || kiB > 8 {
		t.Errorf("%.1f KiB per waiting goroutine, want 2 to 8", kiB)
	}
	checkEstimate(t, "goroutine", kiB, goroutineTaskBytes)
}

// checkEstimate checks a figure of tasks' memory estimate against what a run
// measured, within a margin for other systems and versions of Go.
func checkEstimate(t *testing.T, task string, measuredKiB float64, estimateBytes int) {
	t.Helper()
	if estimate := float64(estimateBytes) / 1024; measuredKiB < estimate/1.5 || measuredKiB > estimate*1.5 {
		t.Errorf("tasks estimates %.1f KiB per %s, a run measured %.1f: update the estimate", estimate, task, measuredKiB)
	}
}

// The tutorial's threads are OS threads; a goroutine that keeps one to
// itself costs the thread's memory on top of its own.
func TestTasksOSThreadsCostMoreThanGoroutines(t *testing.T) {
	t.Parallel()
	goroutine := runIOTasks(t, 1000, "10ms")
	thread := runIOTasks(t, 1000, "10ms", "--os-threads")
	t.Logf("%.1f KiB per OS thread, %.1f KiB per goroutine", thread, goroutine)
	if thread < 2*goroutine {
		t.Errorf("%.1f KiB per OS thread against %.1f per goroutine: want at least twice as much", thread, goroutine)
	}
	checkEstimate(t, "OS thread", thread, osThreadTaskBytes)
}

// The estimate that tasks warns with: within a generous margin of what a run
// measures (as TestTasksIOMemoryPerGoroutine and
// TestTasksOSThreadsCostMoreThanGoroutines do), and a warning only past
// 1 GiB, which the default, and the most OS threads allowed, stay below.
func TestTasksMemoryWarning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n           int
		onOSThreads bool
		warning     string
	}{
		{5000, false, ""},
		{380_000, false, ""},
		{maxOSThreadTasks, true, ""},
		{400_000, false, "tasks: 400000 waiting goroutines will take about 1.0 GiB of memory; Ctrl-C to stop\n"},
		{1_000_000, false, "tasks: 1000000 waiting goroutines will take about 2.6 GiB of memory; Ctrl-C to stop\n"},
		{100_000, true, "tasks: 100000 waiting OS threads will take about 1.9 GiB of memory; Ctrl-C to stop\n"},
	} {
		var stderr strings.Builder
		warnOfMemory(&stderr, tc.n, tc.onOSThreads)
		if stderr.String() != tc.warning {
			t.Errorf("%d tasks, on OS threads %v: warning %q, want %q", tc.n, tc.onOSThreads, stderr.String(), tc.warning)
		}
	}
	// A million goroutines measured 2653 MiB.
	if mib := ioBoundMemory(1_000_000, false) >> 20; mib < 2400 || mib > 2900 {
		t.Errorf("a million goroutines estimated at %d MiB, where a run measured 2653", mib)
	}
	// The default prints no warning, nor anything else on stderr.
	runIOTasks(t, 5000, "1ms")
}

// One task is one goroutine, in the singular.
func TestTasksOne(t *testing.T) {
	t.Parallel()
	runIOTasks(t, 1, "1ms")
	runIOTasks(t, 1, "1ms", "--os-threads")
}

// Past Go's limit of 10,000 OS threads the runtime would stop the program:
// tasks refuses before.
func TestTasksFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		firstLine string
	}{
		{[]string{"tasks", "--os-threads", "--n", "9001"}, "tasks: --n must be at most 9000 with --os-threads, not 9001: Go stops a program that uses more than 10000 OS threads"},
		{[]string{"tasks", "--os-threads", "--kind", "cpu"}, "tasks: --os-threads goes with --kind io"},
		{[]string{"tasks", "--n", "0"}, "tasks: --n must be positive, not 0"},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d, stdout %q, stderr first line %q, want exit 2 and %q", tc.args, exit, stdout, proctest.Lines(stderr)[0], tc.firstLine)
		}
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
