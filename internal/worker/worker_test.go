// Tests of worker.go, the worker's connection to its master, against fake
// masters in this process.

package worker

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/rpc"
	"testing"
	"time"

	"multithreading/internal/mpconn"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
)

// greedyQueue is a master's task queue that hands out more than it is asked.
type greedyQueue struct{}

func (greedyQueue) Get(args rpcwire.GetArgs, batch *rpcwire.TaskBatch) error {
	batch.Tasks = make([]queue.Task, args.Max+2)
	batch.LeaseFor = time.Minute
	return nil
}

// fakeMaster serves queue, under the name TaskQueue, to one worker that
// knows the tutorial's key.
func fakeMaster(t *testing.T, queue any) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		conn, err := listener.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := mpconn.ServerHandshake(conn, []byte("hello world"), rand.Reader, nil); err != nil {
			return
		}
		server := rpc.NewServer()
		server.RegisterName("TaskQueue", queue)
		server.ServeCodec(rpcwire.NewServerCodec(conn, rpcwire.Config{}, func(error) {}))
	}()
	return listener.Addr().String()
}

// A worker takes no more tasks than it asked for: a master that sends more
// is not one to trust.
func TestWorkerRefusesALargerBatch(t *testing.T) {
	t.Parallel()
	m, err := Connect(t.Context(), fakeMaster(t, greedyQueue{}), Config{Authkey: []byte("hello world")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tasks, err := m.GetTaskQueue().GetBatch(t.Context(), 3, time.Second)
	if want := "the master sent 5 tasks, more than the 3 asked for"; fmt.Sprint(err) != want || tasks != nil {
		t.Errorf("got %d tasks, error %q; want none, and %q", len(tasks), fmt.Sprint(err), want)
	}
}

// silentQueue is a master's task queue that never answers: each get waits
// until the test is over.
type silentQueue struct{ over chan struct{} }

func (q silentQueue) Get(rpcwire.GetArgs, *rpcwire.TaskBatch) error {
	<-q.over
	return nil
}

// When one call's timer finds the master silent, it closes the connection,
// and every call on it ends: each says the master stopped answering, not
// that it hung up, whichever timer went off first.
func TestSilentMasterEndsEveryCall(t *testing.T) {
	t.Parallel()
	over := make(chan struct{})
	defer close(over)
	m, err := Connect(t.Context(), fakeMaster(t, silentQueue{over}), Config{Authkey: []byte("hello world"), ReplyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	long := make(chan error, 1)
	go func() {
		_, err := m.GetTaskQueue().Get(t.Context(), time.Minute) // would wait a minute
		long <- err
	}()
	_, short := m.GetTaskQueue().Get(t.Context(), 0)
	want := "the master stopped answering: no answer to TaskQueue.Get within 50ms"
	if fmt.Sprint(short) != want {
		t.Errorf("the call whose timer went off: %v, want %q", short, want)
	}
	if err := <-long; fmt.Sprint(err) != want {
		t.Errorf("the call cut off with it: %v, want %q", err, want)
	}
}
