//go:build unix

// Tests of master --files and worker --root that need Unix: symbolic links,
// named pipes, sparse files, SIGKILL.

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

// A symbolic link that leads out of the worker's root is refused, whether
// its target is relative or absolute; one that stays inside is followed. A
// named pipe in a file's place is refused without being opened: opening it
// would wait for a writer, and the worker would hang. (Those who run the
// tests as root, as CI does, can read any file: a pipe is what cannot be
// read.)
func TestFilesLinksAndPipes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"root/logs/app.log": "inside\n", "outside/secret.log": "outside\n"})
	root := filepath.Join(dir, "root")
	for link, target := range map[string]string{
		"logs/out.log":      "../../outside/secret.log",
		"logs/absolute.log": filepath.Join(dir, "outside", "secret.log"),
		"logs/in.log":       "app.log",
		"logs/loop.log":     "loop.log",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "logs", "pipe.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	master, addr := startFilesMaster(t, root, "logs/*.log")
	worker := start(t, "worker", "worker", "--server", addr, "--root", root, "--tries", "0", "--work", "1ms")
	checkFilesOutput(t, master,
		[]string{"logs/absolute.log", "logs/app.log", "logs/in.log", "logs/loop.log", "logs/out.log", "logs/pipe.log"},
		[]string{
			"logs/absolute.log: refused: path escapes the worker's root",
			summary("logs/app.log", "inside\n"),
			summary("logs/in.log", "inside\n"),
			"logs/loop.log: cannot open: " + syscall.ELOOP.Error(),
			"logs/out.log: refused: path escapes the worker's root",
			"logs/pipe.log: refused: a named pipe, not a regular file",
		})
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.Stderr)
	}
}

// A worker killed with SIGKILL while it works on a file: the file's task
// goes back in the queue as its connection closes, long before its lease
// of a minute would run out, and another worker does it. Every file has
// one result.
func TestFilesKilledWorkerLosesNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{"logs/a.log": "a\n", "logs/b.log": "b\nb\n", "logs/c.log": "c\nc\nc\n"}
	writeFiles(t, dir, files)
	master, addr := startFilesMaster(t, dir, "logs/*.log", "--lease", "1m", "--timeout", "2m")
	doomed := start(t, "doomed worker", "worker", "--server", addr, "--root", dir, "--work", "1h")
	m := doomed.Stdout.WaitFor(t, doomed, regexp.MustCompile(`^run task (logs/\w\.log)\.\.\.$`))
	doomed.Cmd.Process.Signal(syscall.SIGKILL)
	doomed.Wait()
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: task #\d \(`+regexp.QuoteMeta(m[1])+`\) back in the queue: its worker 127\.0\.0\.1:\d+ hung up$`))

	fresh := start(t, "fresh worker", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "1ms")
	paths := []string{"logs/a.log", "logs/b.log", "logs/c.log"}
	var want []string
	for _, path := range paths {
		want = append(want, summary(path, files[path]))
	}
	checkFilesOutput(t, master, paths, want)
	if exit := fresh.Wait(); exit != 0 {
		t.Errorf("fresh worker exited %d: %s", exit, fresh.Stderr)
	}
	if diff := cmp.Diff(paths, filesRun(fresh), proctest.SameLines); diff != "" {
		t.Errorf("the fresh worker should read every file, the killed one's (%s) too (-want +got):\n%s", m[1], diff)
	}
}

// A file of a GiB streams through the worker: it holds under 32 MiB at its
// peak, as it reports it (a quiet worker does, as it exits). It works on
// the file, and three seconds more, for several leases of 1 s, and keeps
// the task all along: its connection renews the lease while it works, the
// task never goes back in the queue, and the master waits past its 2 s
// --timeout for a result that a live worker is still at. The file is
// sparse: it takes no disk.
func TestFilesGigabyteStreams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	big, err := os.Create(filepath.Join(dir, "big.log"))
	if err == nil {
		err = big.Truncate(1 << 30)
		big.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	// The file takes longer than the master's wait for a result: a worker
	// that renews its lease holds the wait off.
	master, addr := startFilesMaster(t, dir, "big.log", "--lease", "1s", "--timeout", "2s")
	worker := start(t, "worker", "worker", "--server", addr, "--root", dir, "--tries", "0", "--work", "3s", "--quiet")
	// `head -c 1G /dev/zero | sha256sum`
	const zeros = "big.log: 0 lines, 1073741824 bytes, sha256 49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"
	checkFilesOutput(t, master, []string{"big.log"}, []string{zeros})
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.Stderr)
	}
	if strings.Contains(master.Stderr.String(), "back in the queue") {
		t.Errorf("the task went back in the queue while its worker worked on it:\n%s", master.Stderr)
	}
	peak := peakMiB(t, worker)
	t.Logf("the worker's peak memory: %.1f MiB", peak)
	if peak >= 32 {
		t.Errorf("the worker's peak memory %.1f MiB, want under 32 MiB", peak)
	}
}
