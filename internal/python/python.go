// Package python finds the Python interpreters of this machine, asks each
// what its sys module says of it (its version, whether it has the GIL), and
// runs a script under one: spin --python runs the GIL experiment so, and the
// tests of section 分布式进程 speak with them through internal/pythontest.
package python

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"multithreading/internal/rusage"
)

// Interpreter is one Python, known by its version ("3.12.1").
type Interpreter struct {
	Version      string
	Major, Minor int
	FreeThreaded bool // runs without the GIL, as python3.13t does unless PYTHON_GIL=1
	Path         string
}

// String names the interpreter as its command does: python3.12.1, and
// python3.13.0t for a free-threaded build that runs without the GIL.
func (p Interpreter) String() string {
	if p.FreeThreaded {
		return "python" + p.Version + "t"
	}
	return "python" + p.Version
}

// askSys is what Ask has the interpreter print: its sys.version_info, and
// whether it runs without the GIL (sys._is_gil_enabled came with the builds
// that can, in 3.13).
const askSys = `import sys
print(*sys.version_info[:3], not getattr(sys, '_is_gil_enabled', lambda: True)())`

// Ask runs path, or the command of that name on the PATH, to learn what
// Python it is. It fails for a program that is not a Python 3, and for one
// that says too much or takes too long to say it: the program could be
// anything the PATH holds.
func Ask(path string) (Interpreter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, stderr := cappedBuffer{stop: cancel}, cappedBuffer{stop: cancel}
	cmd := exec.CommandContext(ctx, path, "-c", askSys)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = time.Second // a child of its own may keep the output open
	err := cmd.Run()
	switch {
	case out.full || stderr.full:
		return Interpreter{}, fmt.Errorf("%s does not run as a Python 3: it says too much", path)
	case ctx.Err() != nil:
		return Interpreter{}, fmt.Errorf("%s does not run as a Python 3: no answer within 10s", path)
	case err != nil && stderr.kept.Len() > 0:
		return Interpreter{}, fmt.Errorf("%s does not run as a Python 3: %s", path, lastLine(stderr.kept.Bytes()))
	case err != nil:
		return Interpreter{}, fmt.Errorf("%s does not run as a Python 3: %w", path, err)
	}
	p := Interpreter{Path: path}
	var micro int
	if _, err := fmt.Sscan(out.kept.String(), &p.Major, &p.Minor, &micro, &p.FreeThreaded); err != nil {
		return Interpreter{}, fmt.Errorf("%s does not run as a Python 3: it answered %q", path, out.kept.String())
	}
	p.Version = fmt.Sprintf("%d.%d.%d", p.Major, p.Minor, micro)
	return p, nil
}

// cappedBuffer keeps the first 4 KiB written to it; more stops the
// program, so that one that floods its output is stopped, not stored.
// (Not an embedded bytes.Buffer: io.Copy would use its ReadFrom, and read
// all there is.)
type cappedBuffer struct {
	kept bytes.Buffer
	stop func() // kills the program
	full bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.kept.Len()+len(p) > 4<<10 {
		c.full = true
		c.stop()
		return 0, errors.New("too much output")
	}
	return c.kept.Write(p)
}

// lastLine is the last line of a program's stderr: the error, after a
// Python traceback.
func lastLine(stderr []byte) string {
	lines := bytes.Split(bytes.TrimSpace(stderr), []byte("\n"))
	return string(bytes.TrimSpace(lines[len(lines)-1]))
}

// FreeThreadedOnPath returns the free-threaded Pythons that the PATH holds
// under their usual names, python3.13t, python3.14t, ..., one per version,
// the oldest first. A name that does not run as one is passed over.
func FreeThreadedOnPath() []Interpreter {
	var found []Interpreter
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue // the current directory or one under it, which exec.LookPath also refuses
		}
		names, _ := filepath.Glob(filepath.Join(dir, "python3.*t"))
		for _, path := range names {
			p, err := Ask(path)
			seen := slices.ContainsFunc(found, func(q Interpreter) bool { return q.Version == p.Version })
			if err == nil && p.FreeThreaded && !seen {
				found = append(found, p)
			}
		}
	}
	slices.SortFunc(found, func(a, b Interpreter) int { return a.Minor - b.Minor })
	return found
}

// RunScript saves source as a file called name and runs it under p with
// args, to its end, and returns what the run took (rusage.Run: the end of
// ctx kills it). A file, and not python -c: multiprocessing's spawn starts
// each process by importing the main module again, from its file. The
// script's output goes to stderr, where the reader sees its errors.
func (p Interpreter) RunScript(ctx context.Context, stderr io.Writer, name, source string, args ...string) (rusage.Usage, error) {
	dir, err := os.MkdirTemp("", "python-script-")
	if err != nil {
		return rusage.Usage{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, name)
	if err := os.WriteFile(script, []byte(source), 0o644); err != nil {
		return rusage.Usage{}, err
	}
	cmd := exec.Command(p.Path, append([]string{script}, args...)...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	used, err := rusage.Run(ctx, cmd)
	if err != nil && ctx.Err() == nil {
		return rusage.Usage{}, fmt.Errorf("%s %s: %w", p.Path, name, err)
	}
	return used, err
}
