// Tests of python.go: a Go worker against a master of section 分布式进程
// written in Python (testdata/python/master.py), under each Python, and
// against a fake one that misbehaves.

package worker

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
)

// No master: one line that says so.
func TestPyMasterNotThere(t *testing.T) {
	t.Parallel()
	addr := proctest.FreeAddr(t)
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
	_, addr, _ := pythontest.StartMaster(t, py, "--tasks", "0", "--hold")
	m, err := dialPyQueueManager(t.Context(), addr, []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond) // Ctrl-C
	defer cancel()
	start := time.Now()
	_, err = m.GetTaskQueue().Get(ctx, time.Minute)
	if err != cli.ErrInterrupted {
		t.Errorf("got %v, want %v", err, cli.ErrInterrupted)
	}
	if waited := time.Since(start); waited > time.Minute/2 {
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
		_, err = m.GetTaskQueue().Get(t.Context(), time.Second)
		if fmt.Sprint(err) != tc.wantErr {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.wantErr)
		}
		task, err := m.GetTaskQueue().Get(t.Context(), time.Second)
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
	m, err := Connect(ctx, addr, Config{Authkey: authkey})
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
