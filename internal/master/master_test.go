// Tests of the master's limits, which are its Config's, set small.

package master

import (
	"context"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	"multithreading/internal/mpconn"
	"multithreading/internal/proctest"
	"multithreading/internal/queue"
	"multithreading/internal/worker"
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
	defer first.Close()
	// The second one's handshake completes before the master counts its
	// workers, so it learns of it at its first call: the master hung up.
	second, err := worker.Connect(t.Context(), addr, worker.Config{Authkey: key})
	if err == nil {
		defer second.Close()
		_, err = second.GetTaskQueue().Get(t.Context(), time.Second)
	}
	if !errors.Is(err, worker.ErrMasterGone) {
		t.Errorf("a second worker, with room for one: %v, want %v", err, worker.ErrMasterGone)
	}
	log.WaitFor(t, nil, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: too many workers \(at most 1 at once\)$`))

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
	log.WaitFor(t, nil, regexp.MustCompile(`^master: turned away 1 more peer in the last 1s \(silent: 1\)$`))
}
