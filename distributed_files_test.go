// Tests of the tutorial's last advice in section 分布式进程: send a log
// file's path, not the file, and let the worker read it from a shared disk.
// master --files puts the paths; workers read the files under --root. Each
// test makes its own files in a directory of its own, which is the master's
// current directory and the workers' root.

package main

import (
	"crypto/sha256"
	"fmt"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"

	"github.com/google/go-cmp/cmp"
)

// writeFiles makes the files, by their paths with slashes, under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for path, text := range files {
		name := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startFilesMaster starts master --files pattern, with args, in dir, on a
// free loopback port, and returns it once it has put its tasks, with the
// address it listens on.
func startFilesMaster(t *testing.T, dir, pattern string, args ...string) (*proctest.Proc, string) {
	t.Helper()
	cmd := exec.Command(program, append([]string{"master", "--addr", "127.0.0.1:0", "--files", pattern}, args...)...)
	cmd.Dir = dir
	master := proctest.Start(t, "master", cmd)
	addr := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))[1]
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	return master, addr
}

// summary is the result a worker should give for the file at path, whose
// content is text: its newlines, its bytes and its SHA-256.
func summary(path, text string) string {
	return fmt.Sprintf("%s: %d lines, %d bytes, sha256 %x", path, strings.Count(text, "\n"), len(text), sha256.Sum256([]byte(text)))
}

// checkFilesOutput checks a files master's whole output: a put for each of
// paths, in order, then results, which are want's in any order, each once.
func checkFilesOutput(t *testing.T, master *proctest.Proc, paths []string, want []string) {
	t.Helper()
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	var wantLines []string
	for _, path := range paths {
		wantLines = append(wantLines, "Put task "+path+"...")
	}
	wantLines = append(wantLines, "Try get results...")
	for _, result := range want {
		wantLines = append(wantLines, "Result: "+result)
	}
	wantLines = append(wantLines, "master exit.")
	got := proctest.Lines(master.Stdout.String())
	if len(got) != len(wantLines) {
		t.Fatalf("master printed %d lines, want %d (-want +got):\n%s", len(got), len(wantLines), cmp.Diff(wantLines, got))
	}
	puts := len(paths) + 1
	if diff := cmp.Diff(wantLines[:puts], got[:puts]); diff != "" {
		t.Errorf("master's puts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLines[puts:len(got)-1], got[puts:len(got)-1], proctest.SameLines); diff != "" {
		t.Errorf("master's results, each once (-want +got):\n%s", diff)
	}
	if got[len(got)-1] != "master exit." {
		t.Errorf("master's last line %q, want \"master exit.\"", got[len(got)-1])
	}
}

// filesRun returns the paths a worker says it ran, from its run lines.
func filesRun(worker *proctest.Proc) []string {
	var paths []string
	for _, line := range proctest.Lines(worker.Stdout.String()) {
		if path, ok := strings.CutPrefix(line, "run task "); ok && !strings.Contains(path, " * ") {
			paths = append(paths, strings.TrimSuffix(path, "..."))
		}
	}
	return paths
}

// The tutorial's two terminals, with paths for tasks: the master in the
// directory of the logs, two workers elsewhere whose --root is that
// directory, the tutorial's and a batch worker. Every file gets one result,
// whose lines, bytes and SHA-256 are the file's, and each worker prints the
// tutorial's lines.
func TestFilesEachOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"logs/app.log":          "GET / 200\nGET /favicon.ico 404\nPOST /login 302\n",
		"logs/no-newline.log":   "one line, no newline",
		"logs/empty.log":        "",
		"logs/with space.log":   "a\r\nb\r\n",
		"logs/错误.log":           "2019-05-11 ERROR 磁盘满了\n",
		"logs/nested/deep.log":  "not matched by logs/*.log\n",
		"logs/ignored.txt":      "not a .log\n",
		"elsewhere/other.log":   "not matched either\n",
		"logs/nested/other.log": "nor this\n",
	}
	writeFiles(t, dir, files)
	paths := []string{"logs/app.log", "logs/empty.log", "logs/no-newline.log", "logs/with space.log", "logs/错误.log"}
	master, addr := startFilesMaster(t, dir, "logs/*.log")
	workers := []*proctest.Proc{
		start(t, "worker 1", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "1ms"),
		// The batch worker, with two calls in flight of two tasks each.
		start(t, "worker 2", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "1ms", "--jobs", "2", "--batch", "2"),
	}
	var want, ran []string
	for _, path := range paths {
		want = append(want, summary(path, files[path]))
	}
	checkFilesOutput(t, master, paths, want)
	for _, w := range workers {
		if exit := w.Wait(); exit != 0 || w.Stderr.String() != "" {
			t.Errorf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
		lines := proctest.Lines(w.Stdout.String())
		if lines[0] != "Connect to server 127.0.0.1..." || lines[len(lines)-1] != "worker exit." {
			t.Errorf("%s printed:\n%s", w.Name, w.Stdout)
		}
		ran = append(ran, filesRun(w)...)
	}
	if diff := cmp.Diff(paths, ran, proctest.SameLines); diff != "" {
		t.Errorf("files run by the two workers, each once (-want +got):\n%s", diff)
	}
	if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
		t.Errorf("master's stderr:\n%s", got)
	}
}

// A path that leads out of the worker's root is refused, whatever the
// master sends: "..", or the absolute path that an absolute pattern
// matches. The master puts them as it matched them, and says in one line
// that workers will refuse them; the worker's refusal is the result.
func TestFilesOutsideTheRootAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"root/logs/app.log": "inside\n", "outside/secret.log": "outside\n"})
	root := filepath.Join(dir, "root")
	absolute := filepath.ToSlash(filepath.Join(dir, "outside", "secret.log"))
	for _, tc := range []struct{ name, pattern, path string }{
		{"dot-dot", "../outside/*.log", "../outside/secret.log"},
		{"absolute", filepath.Join(dir, "outside", "*.log"), absolute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			master, addr := startFilesMaster(t, root, tc.pattern)
			worker := start(t, "worker", "worker", "--server", addr, "--root", root, "--tries", "0", "--work", "1ms")
			checkFilesOutput(t, master, []string{tc.path}, []string{tc.path + ": refused: path escapes the worker's root"})
			if exit := worker.Wait(); exit != 0 {
				t.Errorf("worker exited %d: %s", exit, worker.Stderr)
			}
			want := []string{
				"master: listening on " + addr,
				"master: 1 of the 1 paths lead out of this directory, as " + tc.path + ": workers read only under their --root, and will refuse them",
			}
			if diff := cmp.Diff(want, proctest.Lines(master.Stderr.String()), proctest.SameLines); diff != "" {
				t.Errorf("master's stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// A file deleted after the master put it, and a directory where a file
// was: each has a result that says why it was not read, and the worker
// goes on to the next task. A directory that the pattern matches is no
// task at all.
func TestFilesMissingOrNotAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"logs/a.log": "a\n", "logs/dir.log": "soon a directory\n", "logs/gone.log": "soon gone\n", "logs/z.log": "z\n",
		"logs/sub.log/x": "a directory the master skips\n"})
	master, addr := startFilesMaster(t, dir, "logs/*.log")
	// Once the tasks are put: one file goes, another becomes a directory.
	err := os.Remove(filepath.Join(dir, "logs", "gone.log"))
	if err == nil {
		err = os.Remove(filepath.Join(dir, "logs", "dir.log"))
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "logs", "dir.log"), 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	worker := start(t, "worker", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "1ms")
	checkFilesOutput(t, master, []string{"logs/a.log", "logs/dir.log", "logs/gone.log", "logs/z.log"}, []string{
		summary("logs/a.log", "a\n"),
		"logs/dir.log: refused: a directory, not a regular file",
		"logs/gone.log: cannot open: " + noSuchFile(t),
		summary("logs/z.log", "z\n"),
	})
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.Stderr)
	}
}

// noSuchFile is how this system says a file does not exist.
func noSuchFile(t *testing.T) string {
	t.Helper()
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	return systemError(err).Error()
}

// The file work, called directly: what a path may be, and what the worker
// says of a file it cannot read.
func TestSummarize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"root/logs/app.log": "1\n2\n3\n", "secret.log": "no\n"})
	root, err := os.OpenRoot(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, tc := range []struct{ path, want string }{
		{"logs/app.log", summary("logs/app.log", "1\n2\n3\n")},
		{"logs/../logs/app.log", summary("logs/../logs/app.log", "1\n2\n3\n")}, // it stays inside
		{"./logs/app.log", summary("./logs/app.log", "1\n2\n3\n")},
		{"../secret.log", "../secret.log: refused: path escapes the worker's root"},
		{"logs/../../secret.log", "logs/../../secret.log: refused: path escapes the worker's root"},
		{filepath.ToSlash(filepath.Join(dir, "secret.log")), filepath.ToSlash(filepath.Join(dir, "secret.log")) + ": refused: path escapes the worker's root"},
		{"logs", "logs: refused: a directory, not a regular file"},
		{".", ".: refused: a directory, not a regular file"},
		{"logs/none.log", "logs/none.log: cannot open: " + noSuchFile(t)},
		{"logs/app.log/x", "logs/app.log/x: cannot open: " + notADirectory(t)},
	} {
		if got := summarize(t.Context(), root, tc.path); got != tc.want {
			t.Errorf("summarize(%q):\n got %q\nwant %q", tc.path, got, tc.want)
		}
	}
	// A worker given no --root reads no file, whatever a master sends.
	if got, want := summarize(t.Context(), nil, "logs/app.log"), "logs/app.log: refused: this worker reads no file: start it with --root DIR"; got != want {
		t.Errorf("summarize with no root:\n got %q\nwant %q", got, want)
	}
}

// notADirectory is how this system says a path goes through a file.
func notADirectory(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "file")
	writeFiles(t, filepath.Dir(file), map[string]string{"file": ""})
	_, err := os.Open(filepath.Join(file, "x"))
	return systemError(err).Error()
}

// A peer that knows the key cannot answer a path task it was not given,
// as for a number: its result is refused, and the holder's is the one the
// master prints. The path crossed the wire whole.
func TestFilesMasterRefusesForgedResults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"logs/app.log": "x\n"})
	master, addr := startFilesMaster(t, dir, "logs/*.log", "--lease", "20s", "--timeout", "30s")
	honest, forger := rpcClient(t, addr), rpcClient(t, addr)
	var batch rpcwire.TaskBatch
	if err := honest.Call("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: proctest.Timeout}, &batch); err != nil || len(batch.Tasks) != 1 {
		t.Fatalf("get: %v, %d tasks", err, len(batch.Tasks))
	}
	task := batch.Tasks[0]
	if task.Path != "logs/app.log" {
		t.Fatalf("the task's path is %q, want logs/app.log", task.Path)
	}
	for _, tc := range []struct {
		name    string
		from    *rpc.Client
		results []queue.Result
		want    rpcwire.PutReply
	}{
		{"a forged id", forger, []queue.Result{{ID: task.ID, Text: "logs/app.log: forged"}}, rpcwire.PutReply{Refused: 1, Why: "not leased to it: 1"}},
		{"another connection's lease", forger, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: "logs/app.log: forged"}}, rpcwire.PutReply{Refused: 1, Why: "not leased to it: 1"}},
		{"the lease holder", honest, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: summary("logs/app.log", "x\n")}}, rpcwire.PutReply{}},
	} {
		var reply rpcwire.PutReply
		if err := tc.from.Call("ResultQueue.Put", rpcwire.ResultBatch(tc.results), &reply); err != nil || reply != tc.want {
			t.Errorf("%s: reply %+v, error %v; want %+v", tc.name, reply, err, tc.want)
		}
	}
	honest.Close() // so that the master, done, need not wait for them to hang up
	forger.Close()
	checkFilesOutput(t, master, []string{"logs/app.log"}, []string{summary("logs/app.log", "x\n")})
}

// The tutorial's own worker squares numbers: against a master of paths,
// its first get raises a ValueError that says what to run instead, and it
// exits with Python's traceback. It gets no task; the master says why in
// one line, and waits on for a Go worker, which does the tasks.
func TestFilesMasterRefusesPythonWorker(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"logs/app.log": "x\n"})
			master, addr := startFilesMaster(t, dir, "logs/*.log")
			python := startPyWorker(t, py, "python worker", addr, "--work", "0")
			const raised = "ValueError: this master hands out file paths; the tutorial's worker squares numbers: use go run . worker --root DIR"
			if exit := python.Wait(); exit != 1 || !slices.Contains(proctest.Lines(python.Stderr.String()), raised) {
				t.Errorf("python worker exited %d, want 1 with %q last:\n%s", exit, raised, python.Stderr)
			}
			if got := python.Stdout.String(); got != "Connect to server 127.0.0.1...\n" {
				t.Errorf("python worker printed:\n%s", got)
			}
			refused := regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: a Python worker, which squares numbers; this master hands out file paths$`)
			master.Stderr.WaitFor(t, master, refused)
			worker := start(t, "go worker", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "1ms")
			checkFilesOutput(t, master, []string{"logs/app.log"}, []string{summary("logs/app.log", "x\n")})
			if exit := worker.Wait(); exit != 0 {
				t.Errorf("go worker exited %d: %s", exit, worker.Stderr)
			}
			if lines := proctest.Lines(master.Stderr.String()); len(lines) != 2 || !refused.MatchString(lines[1]) {
				t.Errorf("master's stderr, want where it listens, then one line of the refusal:\n%s", master.Stderr)
			}
		})
	}
}

// --files puts paths, not numbers: the flags of the numbers do not go with
// it, a pattern must match, and every path must fit in a task. A worker's
// --root must be a directory.
func TestFilesFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 200), strings.Repeat("e", 200), strings.Repeat("f", 200))
	writeFiles(t, long, map[string]string{"x.log": ""})
	longPath := filepath.ToSlash(filepath.Join(long, "x.log"))
	for _, tc := range []struct {
		args      []string
		firstLine string
	}{
		{[]string{"master", "--files", "logs/*.log", "--tasks", "3"}, "master: --files and --tasks do not go together: --files puts one task per file it matches, with a line for each"},
		{[]string{"master", "--seed", "1", "--files", "logs/*.log"}, "master: --files and --seed do not go together: --files puts one task per file it matches, with a line for each"},
		{[]string{"master", "--files", "logs/*.log", "--quiet"}, "master: --files and --quiet do not go together: --files puts one task per file it matches, with a line for each"},
		{[]string{"master", "--files", filepath.Join(dir, "none", "*.log")}, fmt.Sprintf("master: --files %q matches no file", filepath.Join(dir, "none", "*.log"))},
		{[]string{"master", "--files", ""}, `master: --files "" matches no file`},
		{[]string{"master", "--files", "logs/[.log"}, `master: --files "logs/[.log": syntax error in pattern`},
		{[]string{"master", "--files", filepath.Join(long, "*.log")}, fmt.Sprintf("master: --files %q: a path of %d bytes (at most %d), which cannot be a task", filepath.Join(long, "*.log"), len(longPath), queue.MaxPath)},
		{[]string{"worker", "--root", filepath.Join(dir, "none")}, fmt.Sprintf("worker: --root %q: %s", filepath.Join(dir, "none"), noSuchFile(t))},
		{[]string{"worker", "--root", filepath.Join(long, "x.log")}, fmt.Sprintf("worker: --root %q: %s", filepath.Join(long, "x.log"), notADirectory(t))},
	} {
		stdout, stderr, exit := runInProcess(t, tc.args...)
		if exit != 2 || stdout != "" || proctest.Lines(stderr)[0] != tc.firstLine {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr first line:\n %q\nwant\n %q", tc.args, exit, stdout, proctest.Lines(stderr)[0], tc.firstLine)
		}
	}
}
