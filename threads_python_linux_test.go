// Ctrl-C during a Python row of spin --python, where Linux's /proc shows
// which of Python's processes are left.

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"multithreading/internal/pythontest"
)

// The terminal's Ctrl-C reaches spin alone, not Python, which runs in a
// process group of its own: spin kills the group, Python's main process and
// the processes it started, removes the script, and exits 130 at once.
func TestSpinPythonInterrupted(t *testing.T) {
	t.Parallel()
	py := pythontest.ForTest(t)[0]
	tmp := t.TempDir() // where spin saves the script
	spin := startWithEnv(t, "spin", []string{"TMPDIR=" + tmp}, "spin", "--python="+py.Path, "--for", "3s", "--goroutines", "2")
	// Once the threads' row is printed, the processes' row is running.
	spin.Stdout.WaitFor(t, spin, regexp.MustCompile(`^Python \S+ threads +\d`))
	group, ok := waitForGroup(t, tmp, 3)
	if !ok {
		t.Skip("the processes' row ended before this test saw its three processes: the machine is busy")
	}
	sent := time.Now()
	exit := signalAndWait(t, spin, os.Interrupt)
	if took := time.Since(sent); exit != 130 || spin.Stderr.String() != "spin: interrupted\n" || took > 2*time.Second {
		t.Errorf("after Ctrl-C: exit %d (want 130) after %v, stderr %q (want \"spin: interrupted\\n\")", exit, took, spin.Stderr)
	}
	// Killed, they are gone in a moment; left alone, they would spin to the
	// end of their 3 s, which is still seconds away.
	for deadline := time.Now().Add(time.Second); len(liveInGroup(group)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of Python's group %d outlived spin by a second", liveInGroup(group), group)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("spin left %s in its temporary directory", left[0].Name())
	}
}

// waitForGroup waits until Python's main process, the one that runs the
// script saved under dir, and its processes number at least n, all in the
// main process's group, and returns the group. It reports false if the main
// process ends first.
func waitForGroup(t *testing.T, dir string, n int) (group int, ok bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, file := range cmdlines {
			cmdline, _ := os.ReadFile(file)
			if !strings.Contains(string(cmdline), dir) || !strings.Contains(string(cmdline), "processes") {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(file)))
			if group == 0 {
				group = pid
			}
		}
		if group == 0 {
			continue
		}
		switch live := len(liveInGroup(group)); {
		case live >= n:
			return group, true
		case live == 0:
			return group, false
		}
	}
	t.Fatalf("no Python process ran the script saved in %s within 30 s", dir)
	return 0, false
}

// liveInGroup lists the processes of a process group that have not exited
// (zombies, which wait for their parent to reap them, have).
func liveInGroup(group int) []int {
	var pids []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, file := range stats {
		stat, _ := os.ReadFile(file)
		// The fields after the command's name, which may hold anything
		// but ends at the last ')': state, parent, group.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(group) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(file)))
		pids = append(pids, pid)
	}
	return pids
}
