// Tests of the master's limits, which are its Config's, set small.

package master

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/queue"
	"multithreading/internal/worker"

	"github.com/google/go-cmp/cmp"
)

// With room for one worker, a second is turned away, and the log says why;
// a peer that says nothing for HandshakeTimeout is hung up on as silent.
func TestMasterLimits(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	log := proctest.NewLineLog()
	tasks := queue.New(1, nil, nil)
	tasks.Put(7)
	m := New(tasks, Config{Authkey: key, MaxWorkers: 1, HandshakeTimeout: 100 * time.Millisecond, Log: log})
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background(), 0)
	addr := m.Addr().String()

	first, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key})
	if err != nil {
		t.Fatal(err)
	}
	// The second one is told so in its handshake, and with --retry, tries
	// again until the first is done.
	if second, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key}); !errors.Is(err, mpconn.ErrBusy) {
		if err == nil {
			second.Close()
		}
		t.Fatalf("a second worker, with room for one: %v, want %v", err, mpconn.ErrBusy)
	}
	log.WaitFor(t, nil, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: too many workers \(at most 1 at once\)$`))
	waiting := proctest.NewLineLog()
	retried := make(chan error, 1)
	go func() {
		second, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key, Retry: proctest.Timeout, Log: waiting})
		if err == nil {
			second.Close()
		}
		retried <- err
	}()
	waiting.WaitFor(t, nil, regexp.MustCompile(`^worker: the master at 127\.0\.0\.1:\d+ serves as many workers as it may; trying for up to 30s$`))
	first.Close()
	if err := <-retried; err != nil {
		t.Errorf("the second worker, trying again once the first is gone: %v", err)
	}

	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetDeadline(time.Now().Add(proctest.Timeout))
	if _, err := mpconn.ReadHandshake(silent); err != nil { // the challenge, unanswered
		t.Fatal(err)
	}
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Error("the master sent more to a peer that never answered")
	}
	// (The second worker's tries may be summed up in the same line.)
	log.WaitFor(t, nil, regexp.MustCompile(`^master: turned away \d+ more peers? in the last 1s \(.*\bsilent: 1\b.*\)$`))
}

// A Python peer's request, once begun, must arrive within ReadTimeout, as a
// Go worker's must, however long the master would wait for it to begin.
func TestMasterHangsUpOnATrickledPythonRequest(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	m := New(queue.New(1, nil, nil), Config{Authkey: key, IdleTimeout: time.Hour, ReadTimeout: 100 * time.Millisecond})
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background(), 0)
	conn, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(proctest.Timeout))
	if err := pythonWorkerHandshake(conn, key); err != nil {
		t.Fatal(err)
	}
	// A request of 100 bytes, of which only the length and one byte come.
	conn.Write([]byte{0, 0, 0, 100, 0x80})
	start := time.Now()
	if n, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the master answered %d bytes of a request it has not had", n)
	}
	if waited := time.Since(start); waited > proctest.Timeout/2 {
		t.Errorf("the master waited %v for the rest of the request", waited)
	}
}

// pythonWorkerHandshake is a Python 3.12 worker's side of the handshake, as
// multiprocessing.connection's answer_challenge and deliver_challenge: it
// answers whatever challenge it gets, Go's master's too.
func pythonWorkerHandshake(conn net.Conn, key []byte) error {
	message, err := mpconn.ReadMessage(conn, 256)
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(bytes.TrimPrefix(message, []byte("#CHALLENGE#")))
	mpconn.WriteMessage(conn, append([]byte("{sha256}"), mac.Sum(nil)...))
	if verdict, err := mpconn.ReadMessage(conn, 256); err != nil || string(verdict) != "#WELCOME#" {
		return fmt.Errorf("the master's verdict: %q, %v", verdict, err)
	}
	mpconn.WriteMessage(conn, append([]byte("#CHALLENGE#{sha256}"), make([]byte, 40)...))
	if _, err := mpconn.ReadMessage(conn, 256); err != nil { // its answer, taken on trust
		return err
	}
	return mpconn.WriteMessage(conn, []byte("#WELCOME#"))
}

// A Python worker that hangs up while its get waits, with no timeout, for
// a task gives up its place at once, and no task is handed to it: here the
// one place a master has for a worker goes to the next one, within a second.
func TestDeadPythonGetGivesUpItsPlace(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	tasks := queue.New(1, nil, nil)
	m := New(tasks, Config{Authkey: key, MaxWorkers: 1, ReadTimeout: 50 * time.Millisecond})
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background(), 0)
	addr := m.Addr().String()

	dead, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	dead.SetDeadline(time.Now().Add(proctest.Timeout))
	if err := pythonWorkerHandshake(dead, key); err != nil {
		t.Fatal(err)
	}
	for _, request := range []pickle.Tuple{
		{nil, "accept_connection", pickle.Tuple{"MainProcess"}, pickle.Dict{}},
		{"task_queue", "get", pickle.Tuple{}, pickle.Dict{}}, // no timeout: until a task comes
	} {
		message, _ := pickle.Encode(request)
		mpconn.WriteMessage(dead, message)
	}
	if _, err := mpconn.ReadMessage(dead, 256); err != nil { // accept_connection's reply
		t.Fatal(err)
	}
	// It dies later in its wait than a request may take to arrive, which
	// once ended the watch on it.
	time.Sleep(4 * 50 * time.Millisecond)
	dead.Close()

	// The next worker may knock before the master has let the dead one go:
	// it is then told there is no room, and tries again, for a second.
	next, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key, Retry: time.Second})
	if err != nil {
		t.Fatalf("the next worker, after the dead get: %v", err)
	}
	defer next.Close()
	if _, err := next.GetTaskQueue().Get(t.Context(), 50*time.Millisecond); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("the next worker's get, with no task yet: %v, want %v", err, queue.ErrEmpty)
	}
	tasks.Put(7)
	if task, err := next.GetTaskQueue().Get(t.Context(), proctest.Timeout); err != nil || task.N != 7 {
		t.Errorf("the next worker got %+v, %v; want the task, not the dead get", task, err)
	}
}

// The tutorial's worker squares numbers: a master of file paths (--files)
// answers its every get with a ValueError that says why, and hands it no
// task; the log says so once for the connection, however often it asks.
func TestPythonWorkerGetsNoPath(t *testing.T) {
	t.Parallel()
	key := []byte("hello world")
	log := proctest.NewLineLog()
	tasks := queue.NewForPaths(1, nil, nil)
	tasks.PutPath("logs/app.log")
	m := New(tasks, Config{Authkey: key, Log: log})
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background(), 0)
	addr := m.Addr().String()

	python, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer python.Close()
	python.SetDeadline(time.Now().Add(proctest.Timeout))
	if err := pythonWorkerHandshake(python, key); err != nil {
		t.Fatal(err)
	}
	get := pickle.Tuple{"task_queue", "get", pickle.Tuple{}, pickle.Dict{{Key: "timeout", Value: 1.0}}}
	for i, request := range []pickle.Tuple{{nil, "accept_connection", pickle.Tuple{"MainProcess"}, pickle.Dict{}}, get, get} {
		message, _ := pickle.Encode(request)
		mpconn.WriteMessage(python, message)
		message, err := mpconn.ReadMessage(python, mpconn.MaxMessage)
		if err != nil {
			t.Fatal(err)
		}
		reply, err := pickle.Decode(message)
		want := pyReturn(nil)
		if i > 0 {
			want = pyRaise("ValueError", "this master hands out file paths; the tutorial's worker squares numbers: use go run . worker --root DIR")
		}
		if diff := cmp.Diff(want, reply); err != nil || diff != "" {
			t.Errorf("reply to %s: %v (-want +got):\n%s", pickle.Repr(request[1]), err, diff)
		}
	}
	m.turnedAway.Flush()
	want := regexp.MustCompile(`^master: listening on \S+\nmaster: rejected 127\.0\.0\.1:\d+: a Python worker, which squares numbers; this master hands out file paths\n$`)
	if !want.MatchString(log.String()) {
		t.Errorf("master's log:\n%s\nwant it to match %v", log, want)
	}
	// The task was never the Python worker's: a Go worker gets it at once.
	goWorker, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer goWorker.Close()
	if task, err := goWorker.GetTaskQueue().Get(t.Context(), 0); err != nil || task.Path != "logs/app.log" {
		t.Errorf("the Go worker got %+v, %v; want logs/app.log", task, err)
	}
}
