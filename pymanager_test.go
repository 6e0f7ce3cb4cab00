// Tests of pymanager.go: a Go worker against a master of section 分布式进程
// written in Python (testdata/python/master.py), under each Python, and
// against a fake one that misbehaves.

package main

import (
	"context"
	"fmt"
	"io"
	"multithreading/internal/cli"
	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startPyMaster starts testdata/python/master.py on a free port, with args,
// and returns it, once it has put its tasks, with its address and stdin.
func startPyMaster(t *testing.T, py pythontest.Python, args ...string) (*proctest.Proc, string, io.WriteCloser) {
	t.Helper()
	master, stdin := pythontest.Start(t, py, "python master", "master.py", append([]string{"--port", "0"}, args...)...)
	addr := master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))[1]
	master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Try get results\.\.\.$`))
	return master, addr, stdin
}

// The tutorial's run, with the master in Python and the worker in Go: each
// task comes through in order, each result lands, and both print what the
// tutorial shows.
func TestPyMasterGoWorker(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, _ := startPyMaster(t, py, "--seed", "1")
			worker := start(t, "go worker", "worker", "--server", addr, "--work", "1ms")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("worker exited %d: %s", exit, worker.Stderr)
			}
			if exit := master.Wait(); exit != 0 {
				t.Fatalf("master exited %d: %s", exit, master.Stderr)
			}
			tasks := checkMasterOutput(t, master)
			want := "Connect to server 127.0.0.1...\n"
			for _, n := range tasks {
				want += fmt.Sprintf("run task %d * %d...\n", n, n)
			}
			want += "worker exit.\n"
			if diff := cmp.Diff(want, worker.Stdout.String()); diff != "" || worker.Stderr.String() != "" {
				t.Errorf("worker, stderr %q (-want +got):\n%s", worker.Stderr, diff)
			}
			if len(tasks) != 10 {
				t.Errorf("the master put %d tasks, want 10", len(tasks))
			}
			if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
				t.Errorf("master's stderr:\n%s", got)
			}
		})
	}
}

// A get that times out is Python's queue.Empty, which the worker prints as
// task_worker.py does; and the master, which keeps going until told to
// stop, then ends as usual.
func TestPyMasterQueueEmpty(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, stdin := startPyMaster(t, py, "--tasks", "2", "--hold")
			worker := start(t, "go worker", "worker", "--server", addr, "--work", "1ms", "--tries", "4", "--get-timeout", "100ms")
			if exit := worker.Wait(); exit != 0 {
				t.Fatalf("worker exited %d: %s", exit, worker.Stderr)
			}
			got := worker.Stdout.String()
			tasks := ranTasks(got)
			want := []string{"Connect to server 127.0.0.1..."}
			for _, n := range tasks {
				want = append(want, fmt.Sprintf("run task %d * %d...", n, n))
			}
			want = append(want, "task queue is empty.", "task queue is empty.", "worker exit.")
			if diff := cmp.Diff(want, proctest.Lines(got)); diff != "" || len(tasks) != 2 {
				t.Errorf("worker ran %d tasks (-want +got):\n%s", len(tasks), diff)
			}
			stdin.Close() // the master may now shut down
			if exit := master.Wait(); exit != 0 {
				t.Fatalf("master exited %d: %s", exit, master.Stderr)
			}
			checkMasterOutput(t, master)
		})
	}
}

// ranTasks returns the tasks a worker's output says it ran.
func ranTasks(out string) []int {
	var tasks []int
	for _, line := range proctest.Lines(out) {
		var n int
		if _, err := fmt.Sscanf(line, "run task %d * ", &n); err == nil {
			tasks = append(tasks, n)
		}
	}
	return tasks
}

// A worker with the wrong key is turned away with one clear error, and the
// master, none the worse, serves the next worker.
func TestPyMasterWrongKey(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, _ := startPyMaster(t, py, "--tasks", "1")
			intruder := start(t, "go worker with a wrong key", "worker", "--server", addr, "--authkey", "hello")
			const wantErr = "worker: authentication failed: the master rejected our authkey\n"
			if exit := intruder.Wait(); exit != 1 || intruder.Stderr.String() != wantErr {
				t.Errorf("worker with a wrong key: exit %d, stderr %q; want exit 1, %q", exit, intruder.Stderr, wantErr)
			}
			if got := intruder.Stdout.String(); got != "Connect to server 127.0.0.1...\n" {
				t.Errorf("worker with a wrong key printed:\n%s", got)
			}
			good := start(t, "go worker", "worker", "--server", addr, "--tries", "1", "--work", "1ms")
			if exit := good.Wait(); exit != 0 {
				t.Errorf("then a worker with the right key exited %d: %s", exit, good.Stderr)
			}
			if exit := master.Wait(); exit != 0 {
				t.Errorf("master exited %d: %s", exit, master.Stderr)
			}
			checkMasterOutput(t, master)
			if got := master.Stderr.String(); got != "master: listening on "+addr+"\n" {
				t.Errorf("master's stderr:\n%s", got)
			}
		})
	}
}

// A master that goes away while the worker still has tries left: the
// worker's next call ends with errMasterGone, the error the listing reports.
func TestPyMasterGoesAway(t *testing.T) {
	t.Parallel()
	for _, py := range pythontest.ForTest(t) {
		t.Run(py.String(), func(t *testing.T) {
			t.Parallel()
			master, addr, stdin := startPyMaster(t, py, "--tasks", "1", "--hold")
			worker := start(t, "go worker", "worker", "--server", addr, "--tries", "1000", "--get-timeout", "100ms", "--work", "1ms")
			// The worker has done the one task and is asking for more.
			master.Stdout.WaitFor(t, master, regexp.MustCompile(`^Result: \d+ \* \d+ = \d+$`))
			stdin.Close()
			if exit := master.Wait(); exit != 0 {
				t.Errorf("master exited %d: %s", exit, master.Stderr)
			}
			if exit := worker.Wait(); exit != 1 || worker.Stderr.String() != "worker: the master hung up\n" {
				t.Errorf("worker: exit %d, stderr %q; want exit 1, %q", exit, worker.Stderr, "worker: the master hung up\n")
			}
		})
	}
}

// No master: one line that says so.
func TestPyMasterNotThere(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	_, err := dialPyQueueManager(t.Context(), addr, []byte("hello world"))
	want := fmt.Sprintf("cannot connect to %s: connection refused (is the master running?)", addr)
	if fmt.Sprint(err) != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// Ctrl-C during a long get ends it at once.
func TestPyMasterGetInterrupted(t *testing.T) {
	t.Parallel()
	py := pythontest.ForTest(t)[0]
	_, addr, _ := startPyMaster(t, py, "--tasks", "0", "--hold")
	m, err := dialPyQueueManager(t.Context(), addr, []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond) // Ctrl-C
	defer cancel()
	start := time.Now()
	_, err = m.getTaskQueue().Get(ctx, maxWait)
	if err != cli.ErrInterrupted {
		t.Errorf("got %v, want %v", err, cli.ErrInterrupted)
	}
	if waited := time.Since(start); waited > maxWait/2 {
		t.Errorf("a get interrupted after 100ms returned after %v", waited)
	}
}

// fakePyManager serves as a Python 3.12 master does, as far as pyQueueManager
// goes, except that get answers with the pickles in gets, in turn. It
// returns the address it listens on.
func fakePyManager(t *testing.T, authkey string, gets [][]byte) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(proctest.Timeout))
				if mpconn.PythonServerHandshake(conn, []byte(authkey)) != nil {
					return
				}
				for {
					message, err := mpconn.ReadMessage(conn, mpconn.MaxMessage)
					if err != nil {
						return
					}
					request, _ := pickle.Decode(message)
					reply, _ := pickle.Encode(pickle.Tuple{"#RETURN", nil})
					switch method := request.(pickle.Tuple)[1]; method {
					case "create":
						reply, _ = pickle.Encode(pickle.Tuple{"#RETURN", pickle.Tuple{"7f00", pickle.Tuple{"get", "put"}}})
					case "get":
						reply, gets = gets[0], gets[1:]
					}
					if mpconn.WriteMessage(conn, reply) != nil {
						return
					}
				}
			}()
		}
	}()
	return listener.Addr().String()
}

// A master that sends what no Python master would: each is a clean error
// for the worker, and a reply the worker could not read ends the connection.
func TestPyMasterMisbehaves(t *testing.T) {
	t.Parallel()
	pickled := func(v any) []byte {
		b, err := pickle.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		reply   []byte
		wantErr string
		broken  bool // no call after it can succeed
	}{
		{"a str for a task", pickled(pickle.Tuple{"#RETURN", "7"}),
			`the master sent task "7": want an integer from -3037000499 to 3037000499`, false},
		{"a task too large to square", pickled(pickle.Tuple{"#RETURN", int64(3037000500)}),
			"the master sent task 3037000500: want an integer from -3037000499 to 3037000499", false},
		{"an exception", pickled(pickle.Tuple{"#ERROR", pickle.Exception{Module: "builtins", Name: "RuntimeError", Args: pickle.Tuple{"boom"}}}),
			`the master raised RuntimeError("boom")`, false},
		{"a traceback", pickled(pickle.Tuple{"#TRACEBACK", "Traceback (most recent call last):\n  File...\nKeyError: '7f00'\n"}),
			"the master failed: KeyError: '7f00'", false},
		{"no reply", pickled(pickle.Tuple{"#RETURN"}), `the master answered ("#RETURN",), which is no reply`, false},
		{"a call of os.system", []byte("\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x04true\x85R."),
			`the master's answer to get: pickle: at byte 17: refusing to name "posix"."system": only a few exception classes may appear`, true},
		{"an oversized reply", []byte(strings.Repeat("x", mpconn.MaxMessage+1)),
			"the master's answer to get: message too long: a message of 65537 bytes (at most 65536)", true},
	} {
		addr := fakePyManager(t, "hello world", [][]byte{tc.reply, pickled(pickle.Tuple{"#RETURN", int64(5)})})
		m, err := dialPyQueueManager(t.Context(), addr, []byte("hello world"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = m.getTaskQueue().Get(t.Context(), time.Second)
		if fmt.Sprint(err) != tc.wantErr {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.wantErr)
		}
		task, err := m.getTaskQueue().Get(t.Context(), time.Second)
		switch {
		case tc.broken && fmt.Sprint(err) != tc.wantErr:
			t.Errorf("%s: the next get: %v, want the same error", tc.name, err)
		case !tc.broken && (err != nil || task.N != 5):
			t.Errorf("%s: the next get: %v, %v, want task 5", tc.name, task, err)
		}
		m.Close()
	}
}

// dialPyQueueManager connects as the worker does, to a master that must
// speak Python.
func dialPyQueueManager(ctx context.Context, addr string, authkey []byte) (*pyQueueManager, error) {
	m, err := connectQueueManager(ctx, addr, authkey, 0, io.Discard)
	if err != nil {
		return nil, err
	}
	py, ok := m.(*pyQueueManager)
	if !ok {
		m.Close()
		return nil, fmt.Errorf("the master at %s speaks Go", addr)
	}
	return py, nil
}
