// Tests of python.go: the requests of Python's BaseManager clients, answered
// one by one. The real binary with the tutorial's own worker is tested at
// the root, in distributed_python_test.go.

package master

import (
	"fmt"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"multithreading/internal/pickle"
	"multithreading/internal/proctest"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"

	"github.com/google/go-cmp/cmp"
)

// What the master answers each request to the manager itself: what
// task_worker.py needs, and a clean error, never a crash, for the rest.
func TestManagerRequests(t *testing.T) {
	t.Parallel()
	m := New(queue.New(1, nil, nil), Config{Authkey: []byte("hello world")})
	for _, tc := range []struct {
		request  pyRequest
		reply    pickle.Tuple
		accepted bool
	}{
		{pyRequest{method: "dummy"}, pyReturn(nil), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_task_queue"}}, pyReturn(pickle.Tuple{pyTaskQueueID, pyExposed}), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_result_queue"}}, pyReturn(pickle.Tuple{pyResultQueueID, pyExposed}), false},
		{pyRequest{method: "create", args: pickle.Tuple{"get_secret"}}, pyRaise("KeyError", `no queue is registered as "get_secret"`), false},
		{pyRequest{method: "incref", args: pickle.Tuple{pyTaskQueueID}}, pyReturn(nil), false},
		{pyRequest{method: "decref", args: pickle.Tuple{"7f00deadbeef"}}, pyRaise("KeyError", `no queue has the id "7f00deadbeef"`), false},
		{pyRequest{method: "accept_connection", args: pickle.Tuple{"MainProcess"}}, pyReturn(nil), true},
		{pyRequest{method: "shutdown"}, pyRaise("RuntimeError", "a worker may not shut the master down"), false},
		{pyRequest{method: "debug_info"}, pyRaise("RuntimeError", `"debug_info" is not served`), false},
		{pyRequest{ident: pyTaskQueueID, method: "get"}, pyRaise("KeyError", `"task_queue": this connection calls no queue's methods`), false},
	} {
		reply, accepted := m.managerRequest(tc.request)
		if diff := cmp.Diff(tc.reply, reply); diff != "" || accepted != tc.accepted {
			t.Errorf("%+v: accepted %v (-want +got):\n%s", tc.request, accepted, diff)
		}
		if _, err := pickle.Encode(reply); err != nil {
			t.Errorf("%+v: the reply does not pickle: %v", tc.request, err)
		}
	}
}

// get's block and timeout, as Python passes them, and the longest wait.
func TestPyGetWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args pickle.Tuple
		kwds pickle.Dict
		wait pyWait
		err  string
	}{
		{nil, pickle.Dict{{Key: "timeout", Value: int64(1)}}, pyWait{most: time.Second}, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: 0.25}}, pyWait{most: 250 * time.Millisecond}, ""},
		{pickle.Tuple{true, int64(2)}, nil, pyWait{most: 2 * time.Second}, ""},
		{pickle.Tuple{false}, nil, pyWait{}, ""},
		{nil, nil, pyWait{most: rpcwire.MaxWait, untilATask: true}, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: 1e9}}, pyWait{most: rpcwire.MaxWait}, ""},
		{nil, pickle.Dict{{Key: "timeout", Value: -1.0}}, pyWait{}, "'timeout' must be a non-negative number"},
		{nil, pickle.Dict{{Key: "timeout", Value: math.NaN()}}, pyWait{}, "'timeout' must be a non-negative number"},
		{nil, pickle.Dict{{Key: "timeout", Value: "soon"}}, pyWait{}, "'timeout' must be a number"},
		{nil, pickle.Dict{{Key: "wait", Value: int64(1)}}, pyWait{}, `get() got an unexpected keyword argument "wait"`},
	} {
		wait, err := pyGetWait(pyRequest{method: "get", args: tc.args, kwds: tc.kwds})
		if wait != tc.wait || fmt.Sprint(err) != orNil(tc.err) {
			t.Errorf("get(*%v, **%v): %v, %v; want %v, %q", tc.args, tc.kwds, wait, err, tc.wait, tc.err)
		}
	}
}

// A Python worker slower than its lease, which it cannot renew, has its
// task go to another worker; its late result is refused and logged, but
// not raised in it: the tutorial's worker would die of the exception.
func TestPyPutAfterTheLeaseRanOut(t *testing.T) {
	t.Parallel()
	taskQueue := queue.New(1, make(chan queue.Result, 1), io.Discard)
	taskQueue.Put(7)
	masterLog := proctest.NewLineLog()
	m := New(taskQueue, Config{Authkey: []byte("hello world"), Lease: time.Second, PythonLease: 20 * time.Millisecond, Log: masterLog})
	slow := queue.NewHolder("127.0.0.1:7001", m.cfg.PythonLease, false)
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	reply, leased := m.pyGet(&watchedConn{Conn: ours}, slow, pyRequest{method: "get", kwds: pickle.Dict{{Key: "timeout", Value: int64(1)}}}, nil)
	if diff := cmp.Diff(pyReturn(7), reply); diff != "" || len(leased) != 1 {
		t.Fatalf("get (-want +got):\n%s", diff)
	}
	// Another worker waits until the slow one's lease has run out.
	if tasks, _ := taskQueue.Get(queue.NewHolder("127.0.0.1:7002", time.Hour, true), 1, proctest.Timeout); len(tasks) != 1 {
		t.Fatalf("the other worker got %v", tasks)
	}
	reply, leased = m.pyPut(slow, pyRequest{method: "put", args: pickle.Tuple{"7 * 7 = 49"}}, leased)
	if diff := cmp.Diff(pyReturn(nil), reply); diff != "" || len(leased) != 0 {
		t.Errorf("late put (-want +got):\n%s", diff)
	}
	if answered, _, _ := taskQueue.Progress(); answered != 0 {
		t.Errorf("the late result counted")
	}
	m.refused.Flush()
	if want := "master: refused 1 result(s) from 127.0.0.1:7001 (not leased to it: 1)\n"; masterLog.String() != want {
		t.Errorf("master's log %q, want %q", masterLog.String(), want)
	}
}

// A result that is no str is kept as Python's str() would print it.
func TestPyStr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value any
		want  string
	}{
		{"7 * 7 = 49", "7 * 7 = 49"},
		{int64(49), "49"},
		{1.0, "1.0"},
		{0.1, "0.1"},
		{100000.0, "100000.0"},
		{0.0001, "0.0001"},
		{1.5e-7, "1.5e-07"},
		{1e16, "1e+16"},
		{nil, "None"},
		{true, "True"},
		{pickle.Tuple{int64(7), int64(49)}, "(7, 49)"},
	} {
		if got := pyStr(tc.value); got != tc.want {
			t.Errorf("str(%#v) = %q, want %q", tc.value, got, tc.want)
		}
	}
}

// orNil is the text of an error that is want, or "<nil>" for none.
func orNil(want string) string {
	if want == "" {
		return "<nil>"
	}
	return want
}
