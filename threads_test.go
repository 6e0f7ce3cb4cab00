// Tests of threads.go: sections 多线程, GIL and 进程 VS 线程.

package main

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

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
