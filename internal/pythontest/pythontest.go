// Package pythontest finds the Pythons that the tests of section 分布式进程
// speak with: every CPython from 3.11 up that this machine has, as python3
// on the PATH or under pyenv, and runs the helper scripts in the module's
// testdata/python.
package pythontest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"multithreading/internal/proctest"
	"multithreading/internal/python"
)

// Python is one interpreter, known by its version ("3.12.1").
type Python = python.Interpreter

// findPythons looks for interpreters once per test binary.
var findPythons = sync.OnceValue(func() []Python {
	candidates := []string{}
	if path, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, path)
	}
	if root := pyenvRoot(); root != "" {
		found, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		candidates = append(candidates, found...)
	}
	var pythons []Python
	for _, path := range candidates {
		p, ok := Interpreter(path)
		if !ok || p.Major != 3 || p.Minor < 11 {
			continue
		}
		if !slices.ContainsFunc(pythons, func(q Python) bool { return q.String() == p.String() }) {
			pythons = append(pythons, p)
		}
	}
	slices.SortFunc(pythons, func(a, b Python) int { return a.Minor - b.Minor }) // all are 3.x
	return pythons
})

// pyenvRoot asks pyenv where it keeps its Pythons, if pyenv is installed.
func pyenvRoot() string {
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		return root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "pyenv", "root").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// Interpreter runs path to learn its version.
func Interpreter(path string) (Python, bool) {
	p, err := python.Ask(path)
	return p, err == nil
}

// ForTest returns the Pythons to test against. CI must have a 3.11
// and a 3.12 or later, since their handshakes differ: there, missing one
// fails the test. Elsewhere a test without Python is skipped.
func ForTest(t *testing.T) []Python {
	t.Helper()
	pythons := findPythons()
	legacy := slices.ContainsFunc(pythons, func(p Python) bool { return p.Minor == 11 })
	modern := slices.ContainsFunc(pythons, func(p Python) bool { return p.Minor >= 12 })
	if !legacy || !modern {
		missing := fmt.Sprintf("found Pythons %v: want a 3.11 and a 3.12 or later, as python3 or under `pyenv root`", pythons)
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		if len(pythons) == 0 {
			t.Skip(missing)
		}
		t.Log(missing)
	}
	return pythons
}

// Run runs a Python script with stdin, at most a minute, and returns
// its stdout; a failure ends the test with its stderr.
func Run(t *testing.T, py Python, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py.Path, append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", py, err, stderr.String())
	}
	return out
}

// Start runs testdata/python/script, in the module root, under py, with a
// pipe to its stdin. At the end of the test it gets SIGTERM, which master.py turns
// into a clean shutdown of its manager's process, then if need be SIGKILL.
func Start(t testing.TB, py Python, name, script string, args ...string) (*proctest.Proc, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(py.Path, append([]string{Script(t, script)}, args...)...)
	// The manager's own process could outlive a killed master and hold its
	// stdout open: Wait need not wait for it.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, name, cmd) // which kills what is left of it, last
	t.Cleanup(func() {
		stdin.Close()
		p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.Exited:
		case <-time.After(5 * time.Second): // proctest kills it
		}
	})
	return p, stdin
}

// Script returns the path of testdata/python/name in the module's root,
// wherever in the module the test runs.
func Script(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "python", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// StartMaster starts testdata/python/master.py on a free port, with args,
// and returns it, once it has put its tasks, with its address and stdin.
func StartMaster(t testing.TB, py Python, args ...string) (*proctest.Proc, string, io.WriteCloser) {
	t.Helper()
	master, stdin := Start(t, py, "python master", "master.py", append([]string{"--port", "0"}, args...)...)
	addr := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))[1]
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	return master, addr, stdin
}
