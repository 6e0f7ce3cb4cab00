package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"multithreading/internal/proctest"
)

// program is this module's binary, built once for the tests that run it as
// a separate process; buildDir holds it.
var program, buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "multithreading-test-jetstream")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	program = filepath.Join(dir, "jetstream")
	if err := proctest.Build(".", program); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start runs the program with args, as a process named name.
func start(t testing.TB, name string, args ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, name, exec.Command(program, args...))
}

// embeddedServer matches the master's first line on stderr.
var embeddedServer = regexp.MustCompile(`^master: an embedded NATS server with JetStream on (nats://127\.0\.0\.1:\d+), storing in (.+)$`)

// runMasterProcess starts a master with an embedded server on a free port,
// storing in store, and returns it with its server's URL.
func runMasterProcess(t testing.TB, store string, args ...string) (*proctest.Proc, string) {
	t.Helper()
	master := start(t, "master", append([]string{"master", "--addr", "127.0.0.1:0", "--store", store}, args...)...)
	m := master.Stderr.WaitFor(t, master, embeddedServer)
	if m[2] != store {
		t.Errorf("the master names its store %q, not %q", m[2], store)
	}
	return master, m[1]
}

// golden reads the main program's testdata/name: this module's listings
// print what the main program's do.
func golden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// goldenResults is the master's golden Result lines.
func goldenResults(t *testing.T) []string {
	var results []string
	for _, line := range proctest.Lines(golden(t, "master.golden")) {
		if strings.HasPrefix(line, "Result: ") {
			results = append(results, line)
		}
	}
	return results
}

// wantExit waits for p and checks its exit code.
func wantExit(t *testing.T, p *proctest.Proc, want int) {
	t.Helper()
	if got := p.Wait(); got != want {
		t.Fatalf("%s exited %d, want %d\nstdout:\n%s\nstderr:\n%s", p.Name, got, want, p.Stdout, p.Stderr)
	}
}

// The tutorial's two terminals, line for line, as the main program prints
// them (seed 1 draws the tasks), and a store that the finished run leaves
// empty.
func TestTutorialOutput(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	master, url := runMasterProcess(t, store, "--seed", "1")
	// As in the tutorial, the worker comes once the tasks are in: one that
	// came before would use up a try on an empty queue.
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	worker := start(t, "worker", "worker", "--nats", url, "--work", "10ms")
	wantExit(t, worker, 0)
	wantExit(t, master, 0)
	if diff := cmp.Diff(golden(t, "master.golden"), master.Stdout.String()); diff != "" {
		t.Errorf("master's output (-tutorial +got):\n%s", diff)
	}
	if diff := cmp.Diff(golden(t, "worker.golden"), worker.Stdout.String()); diff != "" {
		t.Errorf("worker's output (-tutorial +got):\n%s", diff)
	}
	if diff := cmp.Diff(fmt.Sprintf("master: an embedded NATS server with JetStream on %s, storing in %s\n", url, store), master.Stderr.String()); diff != "" {
		t.Errorf("master's stderr (-want +got):\n%s", diff)
	}

	// Nothing is left to resume: a master with another seed starts afresh.
	again, url := runMasterProcess(t, store, "--seed", "2", "--tasks", "1")
	wantExit(t, start(t, "worker", "worker", "--nats", url, "--work", "0", "--tries", "1"), 0)
	wantExit(t, again, 0)
}

// Mistakes on the command line get one line and exit 2; a failure, one line
// and exit 1.
func TestBadInput(t *testing.T) {
	t.Parallel()
	nobody := "nats://" + proctest.FreeAddr(t)
	tests := []struct {
		args     []string
		exit     int
		firstErr string
	}{
		{[]string{"worker", "--nats", "foo"}, 2, `worker: --nats wants nats://host:port, not "foo"`},
		{[]string{"master", "--tasks", "0"}, 2, "master: --tasks must be positive, not 0"},
		{[]string{"master", "--lease", "10s", "--timeout", "5s"}, 2, "master: --lease 10s must be shorter than --timeout 5s"},
		{[]string{"server", "--routes", "127.0.0.1:1"}, 2, "server: --routes needs --cluster: the address this node's own routes listen on"},
		{[]string{"master", "--nats", nobody, "--store", "x"}, 2, "master: --store and --addr are the embedded server's: with --nats, the run lives in those servers"},
		{[]string{"worker", "--nats", ","}, 2, `worker: --nats names no server: ","`},
		{[]string{"server", "--cluster", "127.0.0.1:99999"}, 2, `server: --cluster "127.0.0.1:99999": the port must be a number from 1 to 65535`},
		{[]string{"sing"}, 2, `unknown command "sing"`},
		{[]string{"worker", "--nats", nobody}, 1, "worker: no server at " + nobody + " (start the master first, or give --retry)"},
		{[]string{"worker", "--nats", nobody, "--retry", "300ms"}, 1, "worker: no server at " + nobody + " after 300ms"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			p := start(t, "program", tt.args...)
			wantExit(t, p, tt.exit)
			stderr := proctest.Lines(p.Stderr.String())
			if stderr[len(stderr)-1] != tt.firstErr && stderr[0] != tt.firstErr {
				t.Errorf("stderr does not say %q:\n%s", tt.firstErr, p.Stderr)
			}
		})
	}
}

// A worker with the wrong key is told so plainly, and takes nothing.
func TestWrongAuthkey(t *testing.T) {
	t.Parallel()
	master, url := runMasterProcess(t, t.TempDir(), "--tasks", "1", "--seed", "1")
	worker := start(t, "worker", "worker", "--nats", url, "--authkey", "wrong")
	wantExit(t, worker, 1)
	if diff := cmp.Diff("worker: the server refused the authkey: give the one it was started with (--authkey, or $TASK_AUTHKEY)\n", worker.Stderr.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantExit(t, start(t, "worker", "worker", "--nats", url, "--tries", "1", "--work", "0"), 0)
	wantExit(t, master, 0)
}
