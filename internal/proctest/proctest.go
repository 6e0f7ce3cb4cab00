// Package proctest runs programs as processes for tests and waits on the
// lines they print.
package proctest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
)

// Lines splits a program's output into its lines.
func Lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// SameLines compares two outputs as multisets of lines: for goroutines
// whose order of printing is up to the scheduler.
var SameLines = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// Proc is a running program whose output a test reads as it comes.
type Proc struct {
	T              testing.TB
	Name           string
	Cmd            *exec.Cmd
	Stdout, Stderr *LineLog
	Exited         chan struct{} // closed when the process has exited
	Exit           int
}

// Start runs cmd, named name in the test's messages; its stdout and stderr
// go to the Proc's logs, unless cmd has its own. At the end of the test, it
// is killed with every process it started (on Unix, its process group), so
// that none outlives the test.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{T: t, Name: name, Cmd: cmd, Stdout: NewLineLog(), Stderr: NewLineLog(), Exited: make(chan struct{})}
	if p.Cmd.Stdout == nil {
		p.Cmd.Stdout = p.Stdout
	}
	if p.Cmd.Stderr == nil {
		p.Cmd.Stderr = p.Stderr
	}
	inGroup(p.Cmd)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.Cmd.Wait()
		p.Exit = p.Cmd.ProcessState.ExitCode()
		close(p.Exited)
	}()
	t.Cleanup(func() {
		killGroup(p.Cmd)
		<-p.Exited
	})
	return p
}

// Timeout bounds every wait in these tests.
const Timeout = 30 * time.Second

// Wait waits for the process to exit and returns its exit code.
func (p *Proc) Wait() int {
	p.T.Helper()
	select {
	case <-p.Exited:
		return p.Exit
	case <-time.After(Timeout):
		p.T.Fatalf("%s still running after %v\nstdout:\n%s\nstderr:\n%s", p.Name, Timeout, p.Stdout, p.Stderr)
		return -1
	}
}

// LineLog collects a process's output and lets a test wait for a line.
type LineLog struct {
	mu      sync.Mutex
	text    bytes.Buffer
	changed chan struct{} // closed and replaced at each write
}

// NewLineLog returns an empty log.
func NewLineLog() *LineLog { return &LineLog{changed: make(chan struct{})} }

func (l *LineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.changed)
	l.changed = make(chan struct{})
	return l.text.Write(b)
}

func (l *LineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}

// WaitFor waits until a whole line matches re, and returns its submatches.
// p is the process that writes to l, or nil for a log that no process
// writes.
func (l *LineLog) WaitFor(t testing.TB, p *Proc, re *regexp.Regexp) []string {
	t.Helper()
	if p == nil {
		p = &Proc{Name: "the log", Stdout: l, Stderr: NewLineLog()} // never exits
	}
	timeout := time.After(Timeout)
	for {
		l.mu.Lock()
		text, changed := l.text.String(), l.changed
		l.mu.Unlock()
		if m := matchLine(text, re); m != nil {
			return m
		}
		select {
		case <-changed:
		case <-p.Exited:
			// The process may have written the line just before it exited.
			if m := matchLine(l.String(), re); m != nil {
				return m
			}
			t.Fatalf("%s exited (%d) before printing a line like %v\nstdout:\n%s\nstderr:\n%s", p.Name, p.Exit, re, p.Stdout, p.Stderr)
		case <-timeout:
			t.Fatalf("%s printed no line like %v within %v\nstdout:\n%s\nstderr:\n%s", p.Name, re, Timeout, p.Stdout, p.Stderr)
		}
	}
}

// matchLine returns the submatches of the first whole line of text that
// matches re; a last line without its newline is not whole yet.
func matchLine(text string, re *regexp.Regexp) []string {
	for _, line := range strings.SplitAfter(text, "\n") {
		if m := re.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil && strings.HasSuffix(line, "\n") {
			return m
		}
	}
	return nil
}

// CPU is the CPU time, user and system, of an exited process.
func (p *Proc) CPU() time.Duration {
	return p.Cmd.ProcessState.UserTime() + p.Cmd.ProcessState.SystemTime()
}

// FreeAddr returns a loopback address where nothing listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// BuildTimeout bounds a build that a test needs, with a cold cache.
const BuildTimeout = 5 * time.Minute

// Build builds the package in dir ("." for the test's own) into the
// binary out, within BuildTimeout, as TestMain does before the tests that
// run it; the go command's errors go to os.Stderr.
func Build(dir, out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	build.Dir = dir
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building %s: %w", dir, err)
	}
	return nil
}
