//go:build unix

// Tests of spin --python, the GIL paragraph's experiment in Python beside
// Go. Unix only: the CPU time of a child is measured there.

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"multithreading/internal/proctest"
	"multithreading/internal/python"
	"multithreading/internal/pythontest"

	"github.com/google/go-cmp/cmp"
)

// spinRow is one row of spin --python's table.
type spinRow struct {
	label            string
	wall, cpu, cores float64
}

// spinRowLine is a row of the table; the label is padded to the widest.
var spinRowLine = regexp.MustCompile(`^(\S.*?) +(\d+\.\d\d)s +(\d+\.\d\d)s +(\d+\.\d\d)$`)

// spinTable checks the whole output of spin --python against the table
// that its labels make, each figure masked (N.NNs), and returns the rows with
// their figures.
func spinTable(t *testing.T, stdout string, loops int, duration string, labels ...string) map[string]spinRow {
	t.Helper()
	width := 0
	for _, label := range labels {
		width = max(width, len(label))
	}
	want := fmt.Sprintf("%d busy loops for %s, on %d cores:\n", loops, duration, runtime.NumCPU())
	want += fmt.Sprintf("%-*s %8s %8s %6s\n", width, "", "wall", "CPU", "cores")
	for _, label := range labels {
		want += fmt.Sprintf("%-*s    N.NNs    N.NNs   N.NN\n", width, label)
	}
	digit := regexp.MustCompile(`\d`)
	rows := map[string]spinRow{}
	var got strings.Builder
	for _, line := range proctest.Lines(stdout) {
		m := spinRowLine.FindStringSubmatch(line)
		if m == nil {
			got.WriteString(line + "\n")
			continue
		}
		// The figures masked digit by digit, so that the columns still show.
		label := m[1]
		got.WriteString(label + digit.ReplaceAllString(line[len(label):], "N") + "\n")
		row := spinRow{label: label}
		row.wall, _ = strconv.ParseFloat(m[2], 64)
		row.cpu, _ = strconv.ParseFloat(m[3], 64)
		row.cores, _ = strconv.ParseFloat(m[4], 64)
		rows[label] = row
	}
	if diff := cmp.Diff(want, got.String()); diff != "" {
		t.Fatalf("spin --python's table, figures masked (-want +got):\n%s\nthe output:\n%s", diff, stdout)
	}
	return rows
}

// The tutorial's claim, on this machine, with each Python from 3.11 up:
// two busy loops in Python's threads keep at most about one core busy (the
// GIL); in processes, as many as goroutines do. What a busy machine cannot
// break is asserted always; the rest only when the goroutines, in the same
// run, got the two cores that they ask for.
//
// Not in parallel with the other tests, whose own busy loops would take the
// cores it measures.
func TestSpinPython(t *testing.T) {
	for _, py := range pythontest.ForTest(t) {
		// One at a time: two runs side by side would share the cores.
		t.Run(py.String(), func(t *testing.T) {
			name := "Python " + py.Version
			if py.FreeThreaded {
				name += "t"
			}
			threads, processes, goroutines := name+" threads", name+" processes", "Go goroutines"
			withGIL := !py.FreeThreaded
			// The load may change from one row to the next: a run whose
			// processes fall short while the goroutines after them got their
			// cores is tried again, up to three times.
			for attempt := 1; ; attempt++ {
				stdout, stderr, exit := runBinaryWithin(t, 30*time.Second, program, "spin", "--python="+py.Path, "--for", "1s", "--goroutines", "2")
				if exit != 0 || withoutBusyNote(stderr) != "" {
					t.Fatalf("exit %d, stderr %q, stdout:\n%s", exit, stderr, stdout)
				}
				rows := spinTable(t, stdout, 2, "1s", threads, processes, goroutines)
				t.Logf("\n%s", stdout)
				for _, row := range rows {
					if row.wall < 1 || row.wall > 20 || row.cpu <= 0 {
						t.Errorf("%s: wall %.2f s, CPU %.2f s: want at least the 1 s the loops last, and some CPU", row.label, row.wall, row.cpu)
					}
				}
				if withGIL && rows[threads].cores > 1.3 {
					t.Errorf("%s kept %.2f cores busy: want at most about one, the GIL's", threads, rows[threads].cores)
				}
				if rows[goroutines].cores < 1.6 {
					t.Logf("goroutines got %.2f cores: the machine is busy, so processes are not compared", rows[goroutines].cores)
					return
				}
				short := rows[processes].cores < 1.3 || !withGIL && rows[threads].cores < 1.3
				if !short {
					return
				}
				if attempt == 3 {
					t.Errorf("%s kept %.2f cores busy, %s %.2f, goroutines %.2f: want more than one where the GIL does not stop them",
						processes, rows[processes].cores, threads, rows[threads].cores, rows[goroutines].cores)
					return
				}
			}
		})
	}
}

// spinPATH returns a directory, to be the whole PATH, that holds the given
// programs, each a shell script.
func spinPATH(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, script := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runSpinWithPATH runs spin --python alone with a PATH of one directory.
func runSpinWithPATH(t *testing.T, path string, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, append([]string{"spin", "--python"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+path)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Run()
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// --python alone takes python3 from the PATH, with any free-threaded
// python3.13t there for its threads. Without python3, one line says so and
// the table has the rest. This machine may have no free-threaded build: a
// script that says it is one stands in for it, and runs an ordinary Python.
func TestSpinPythonFromThePATH(t *testing.T) {
	t.Parallel()
	pythons := pythontest.ForTest(t)
	// The interpreter itself, not a shim that needs the whole PATH.
	interpreter := strings.TrimSpace(string(pythontest.Run(t, pythons[0], nil, "import sys; print(sys.executable)")))
	py, err := python.Ask(interpreter)
	if err != nil {
		t.Fatal(err)
	}
	freeThreaded := fmt.Sprintf(`case "$1" in -c) echo 3 99 0 True;; *) exec %s "$@";; esac`, interpreter)
	for _, tc := range []struct {
		name    string
		scripts map[string]string
		stderr  string
		labels  []string
	}{
		{"python3", map[string]string{"python3": "exec " + interpreter + ` "$@"`}, "",
			[]string{"Python " + py.Version + " threads", "Python " + py.Version + " processes", "Go goroutines"}},
		{"python3 and python3.99t", map[string]string{"python3": "exec " + interpreter + ` "$@"`, "python3.99t": freeThreaded}, "",
			[]string{"Python " + py.Version + " threads", "Python " + py.Version + " processes", "Python 3.99.0t threads", "Go goroutines"}},
		{"no Python", nil, "spin: no python3 on the PATH; showing the Go row only\n",
			[]string{"Go goroutines"}},
		{"python3.99t alone", map[string]string{"python3.99t": freeThreaded}, "spin: no python3 on the PATH; showing the other rows\n",
			[]string{"Python 3.99.0t threads", "Go goroutines"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, exit := runSpinWithPATH(t, spinPATH(t, tc.scripts), "--for", "200ms", "--goroutines", "2")
			if stderr = withoutBusyNote(stderr); exit != 0 || stderr != tc.stderr {
				t.Fatalf("exit %d, stderr %q (want %q), stdout:\n%s", exit, stderr, tc.stderr, stdout)
			}
			spinTable(t, stdout, 2, "200ms", tc.labels...)
		})
	}
}

// busyNote is spin's note when the machine left its goroutines too few
// cores, which only the load decides.
var busyNote = regexp.MustCompile(`(?m)^spin: the goroutines got [\d.]+ of the \d+ cores they could use: .*\n`)

// withoutBusyNote is stderr without spin's note of a busy machine.
func withoutBusyNote(stderr string) string {
	return busyNote.ReplaceAllString(stderr, "")
}

// What the reader types wrong: a Python that is not there is a failure, in
// one line; a value after a space, a usage error.
func TestSpinPythonFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args      []string
		exit      int
		firstLine string
	}{
		{[]string{"--python=/nonexistent"}, 1, "spin: --python=/nonexistent: stat /nonexistent: no such file or directory"},
		{[]string{"--python=python3.99"}, 1, "spin: --python=python3.99: executable file not found in $PATH"},
		{[]string{"--python", "/usr/bin/python3"}, 2, "spin: write --python=/usr/bin/python3, not --python /usr/bin/python3: --python takes its value after =, or none"},
		{[]string{"--python="}, 2, `spin: invalid value "" for --python: empty: give a value after =, or the flag alone`},
		{[]string{"--python", "--goroutines", "65"}, 2, "spin: --goroutines must be at most 64 with --python, not 65: each loop is a Python process"},
		{[]string{"--show-python", "--for", "0"}, 2, "spin: --for must be positive, not 0s"},
	} {
		args := append([]string{"spin"}, tc.args...)
		stdout, stderr, exit := runInProcess(t, args...)
		if exit != tc.exit || stdout != "" || proctest.Lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d (want %d), stdout %q, stderr:\n%s\nwant first line %q", args, exit, tc.exit, stdout, stderr, tc.firstLine)
		}
		if tc.exit == 1 && stderr != tc.firstLine+"\n" {
			t.Errorf("%v: a failure says one line; stderr:\n%s", args, stderr)
		}
	}
}

// --show-python prints the script that --python runs, and the script runs
// alone, under each Python, as its comment says.
func TestSpinShowPython(t *testing.T) {
	t.Parallel()
	stdout, stderr, exit := runInProcess(t, "spin", "--show-python", "--for", "1s")
	if diff := cmp.Diff(spinPython, stdout); diff != "" || exit != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q, output (-want +got):\n%s", exit, stderr, diff)
	}
	script := filepath.Join(t.TempDir(), "spin.py")
	if err := os.WriteFile(script, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, py := range pythontest.ForTest(t) {
		for _, tc := range []struct {
			args   []string
			exit   int
			output string
		}{
			{[]string{"threads", "2", "0.2"}, 0, ""},
			{[]string{"processes", "2", "0.2"}, 0, ""},
			{[]string{"fibers", "2", "0.2"}, 1, "usage: python3 spin.py threads|processes LOOPS SECONDS\n"},
		} {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			cmd := exec.CommandContext(ctx, py.Path, append([]string{script}, tc.args...)...)
			out, _ := cmd.CombinedOutput()
			cancel()
			if exit := cmd.ProcessState.ExitCode(); exit != tc.exit || string(out) != tc.output {
				t.Errorf("%s spin.py %v: exit %d (want %d), output %q (want %q)", py, tc.args, exit, tc.exit, out, tc.output)
			}
		}
	}
}
