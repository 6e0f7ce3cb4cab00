// The Pythons the tests of section 分布式进程 speak with: every CPython from
// 3.11 up that this machine has, as python3 on the PATH or under pyenv.

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// python is one interpreter, known by its version ("3.12.1").
type python struct {
	version      string
	major, minor int
	path         string
}

func (p python) String() string { return "python" + p.version }

// findPythons looks for interpreters once per test binary.
var findPythons = sync.OnceValue(func() []python {
	candidates := []string{}
	if path, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, path)
	}
	if root := pyenvRoot(); root != "" {
		found, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		candidates = append(candidates, found...)
	}
	var pythons []python
	for _, path := range candidates {
		p, ok := pythonVersion(path)
		if !ok || p.major != 3 || p.minor < 11 {
			continue
		}
		if !slices.ContainsFunc(pythons, func(q python) bool { return q.version == p.version }) {
			pythons = append(pythons, p)
		}
	}
	slices.SortFunc(pythons, func(a, b python) int { return a.minor - b.minor }) // all are 3.x
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

// pythonVersion runs path to learn its version.
func pythonVersion(path string) (python, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-c",
		"import sys; print('%d %d %d' % sys.version_info[:3])").Output()
	if err != nil {
		return python{}, false
	}
	var major, minor, micro int
	if _, err := fmt.Sscan(string(out), &major, &minor, &micro); err != nil {
		return python{}, false
	}
	return python{version: fmt.Sprintf("%d.%d.%d", major, minor, micro), major: major, minor: minor, path: path}, true
}

// pythonsForTest returns the Pythons to test against. CI must have a 3.11
// and a 3.12 or later, since their handshakes differ: there, missing one
// fails the test. Elsewhere a test without Python is skipped.
func pythonsForTest(t *testing.T) []python {
	t.Helper()
	pythons := findPythons()
	legacy := slices.ContainsFunc(pythons, func(p python) bool { return p.minor == 11 })
	modern := slices.ContainsFunc(pythons, func(p python) bool { return p.minor >= 12 })
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

// runPython runs a Python script with stdin, at most a minute, and returns
// its stdout; a failure ends the test with its stderr.
func runPython(t *testing.T, py python, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py.path, append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", py, err, stderr.String())
	}
	return out
}

// startPython runs testdata/python/script under py, with a pipe to its
// stdin. At the end of the test it gets SIGTERM, which master.py turns
// into a clean shutdown of its manager's process, then if need be SIGKILL.
func startPython(t testing.TB, py python, name, script string, args ...string) (*proc, io.WriteCloser) {
	t.Helper()
	p := &proc{t: t, name: name, stdout: newLineLog(), stderr: newLineLog(), exited: make(chan struct{}),
		cmd: exec.Command(py.path, append([]string{filepath.Join("testdata", "python", script)}, args...)...)}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	// The manager's own process could outlive a killed master and hold its
	// stdout open: Wait need not wait for it.
	p.cmd.WaitDelay = 5 * time.Second
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.exit = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p, stdin
}
