// Section 分布式进程 from the master's side when the worker is the tutorial's
// own task_worker.py: what Python's BaseManager server does for it, over
// package mpconn's connections and package pickle's pickles.
//
// A Python worker opens a connection for each request to the manager itself
// ('dummy', 'create', 'incref', 'decref'), and one more, with
// 'accept_connection', over which its thread calls the queues' methods, get
// and put. That connection is the worker, as the queue sees it: a task its
// get takes is leased to it, and its put, which names no task, answers the
// oldest task leased to it. A Python worker cannot renew a lease, so its
// leases last as long as the master waits for a result (Config.PythonLease):
// the tutorial's one-second tasks are never done twice. Every limit of the
// Go path holds: a size for each message, a deadline for each read and
// write, the same admission. The master never runs code a peer sends:
// package pickle builds only plain values.

package master

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"multithreading/internal/logging"
	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
)

// pythonSlack is how long after its lease a Python worker's request may
// still come: the time a worker gives the master to answer.
const pythonSlack = 10 * time.Second

// The names task_master.py registers its queues under, and their ids, as
// Python's proxies name them.
const (
	registeredTaskQueue   = "get_task_queue"
	registeredResultQueue = "get_result_queue"

	pyTaskQueueID   = "task_queue"
	pyResultQueueID = "result_queue"
)

// pyWorkerForPaths is what a Python worker's get raises when the tasks are
// paths of files (master --files): the tutorial's task_worker.py squares
// numbers.
const pyWorkerForPaths = "this master hands out file paths; the tutorial's worker squares numbers: use go run . worker --root DIR"

// pyExposed is what a proxy of either queue may call.
var pyExposed = pickle.Tuple{"get", "put"}

// A pyRequest is a pickled (ident, methodname, args, kwds).
type pyRequest struct {
	ident  any // a queue's id, or None for the manager itself
	method string
	args   pickle.Tuple
	kwds   pickle.Dict
}

// servePython answers one Python worker connection's requests until it
// ends, and becomes the worker's queue connection at 'accept_connection'.
func (m *QueueManager) servePython(conn net.Conn) {
	// Python writes #WELCOME# and its first request apart: with Nagle's
	// algorithm on its side and a delayed ACK on ours, the request would
	// wait some 40 ms for an ACK. An ACK now sends it on its way.
	quickAck(conn)
	for {
		request, err := m.readPyRequest(conn)
		if err != nil {
			return
		}
		reply, accepted := m.managerRequest(request)
		if writePyReply(conn, reply) != nil {
			return
		}
		if accepted {
			m.servePythonQueues(conn)
			return
		}
	}
}

// managerRequest answers a request to the manager itself, and says whether
// it was 'accept_connection'.
func (m *QueueManager) managerRequest(r pyRequest) (reply pickle.Tuple, accepted bool) {
	if r.ident != nil {
		return pyRaise("KeyError", fmt.Sprintf("%s: this connection calls no queue's methods", pickle.Repr(r.ident))), false
	}
	switch r.method {
	case "dummy": // m.connect()
		return pyReturn(nil), false
	case "create": // m.get_task_queue(), m.get_result_queue()
		typeid, _ := pyArg(r.args, 0).(string)
		switch typeid {
		case registeredTaskQueue:
			return pyReturn(pickle.Tuple{pyTaskQueueID, pyExposed}), false
		case registeredResultQueue:
			return pyReturn(pickle.Tuple{pyResultQueueID, pyExposed}), false
		}
		return pyRaise("KeyError", fmt.Sprintf("no queue is registered as %s", pickle.Repr(pyArg(r.args, 0)))), false
	case "incref", "decref": // the queues live as long as the master: nothing to count
		if id := pyArg(r.args, 0); id != pyTaskQueueID && id != pyResultQueueID {
			return pyRaise("KeyError", fmt.Sprintf("no queue has the id %s", pickle.Repr(id))), false
		}
		return pyReturn(nil), false
	case "accept_connection":
		return pyReturn(nil), true
	case "shutdown":
		return pyRaise("RuntimeError", "a worker may not shut the master down"), false
	}
	return pyRaise("RuntimeError", fmt.Sprintf("%s is not served", pickle.Repr(r.method))), false
}

// servePythonQueues answers a Python worker's calls of the queues' methods
// until its connection ends, when the tasks leased to it go back.
func (m *QueueManager) servePythonQueues(netConn net.Conn) {
	conn := &watchedConn{Conn: netConn}
	worker := queue.NewHolder(conn.RemoteAddr().String(), m.cfg.PythonLease, false)
	defer m.queue.HungUp(worker)
	var leased []queue.Task // oldest first: a put answers leased[0]
	told := false           // the log has heard that this worker squares numbers where the tasks are paths
	for {
		request, err := m.readPyRequest(conn)
		if err != nil {
			return
		}
		var reply pickle.Tuple
		switch {
		case request.ident == pyTaskQueueID && request.method == "get" && m.queue.HandsOutPaths():
			// The tutorial's worker would take a path for n, and fail on
			// n * n with the task in hand: it gets no task, but a reason.
			reply = pyRaise("ValueError", pyWorkerForPaths)
			if !told {
				m.turnedAway.Add(fmt.Sprintf("%s: a Python worker, which squares numbers; this master hands out file paths", worker.Name),
					logging.Tally{"a Python worker for file paths": 1})
				told = true
			}
		case request.ident == pyTaskQueueID && request.method == "get":
			reply, leased = m.pyGet(conn, worker, request, leased)
		case request.ident == pyResultQueueID && request.method == "put":
			reply, leased = m.pyPut(worker, request, leased)
		default:
			reply = pyRaise("RuntimeError", fmt.Sprintf("%s.%s() is not served", pickle.Repr(request.ident), request.method))
		}
		if writePyReply(conn, reply) != nil {
			return
		}
	}
}

// pyGet is task.get(block=True, timeout=None): a task leased to worker, or
// queue.Empty once the wait is over. A get with no timeout waits, as in
// Python, until a task comes, or no task ever will.
func (m *QueueManager) pyGet(conn *watchedConn, worker *queue.Holder, r pyRequest, leased []queue.Task) (pickle.Tuple, []queue.Task) {
	wait, err := pyGetWait(r)
	if err != nil {
		return pyRaise("ValueError", err.Error()), leased
	}
	for {
		// While the get waits, nothing else reads the connection: watch it,
		// so that a worker that hangs up ends its get, and its place, at once.
		stopWatching := conn.watch(func() { m.queue.HungUp(worker) })
		tasks, closed := m.queue.Get(worker, 1, wait.most)
		hungUp := stopWatching()
		if len(tasks) > 0 {
			return pyReturn(tasks[0].N), append(leased, tasks[0])
		}
		if hungUp || closed || !wait.untilATask {
			return pickle.Tuple{"#ERROR", pickle.Empty}, leased
		}
	}
}

// A watchedConn is a Python worker's queue connection, which the master
// reads while it waits for a task for the worker, to see it hang up.
type watchedConn struct {
	net.Conn
	early []byte // what the worker sent while it was watched, for the next Read
}

func (c *watchedConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// watch reads the connection until the returned stop, and calls hungUp
// (from another goroutine) as soon as the worker hangs up. stop says
// whether it did; a byte the worker sent meanwhile is kept for Read.
func (c *watchedConn) watch(hungUp func()) (stop func() (hungUp bool)) {
	var gone bool
	done := make(chan struct{})
	// The watch lasts as long as the get: none of the request's deadline.
	c.Conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(done)
		var b [1]byte
		n, err := c.Conn.Read(b[:])
		c.early = append(c.early, b[:n]...)
		var timeout net.Error
		if err != nil && !(errors.As(err, &timeout) && timeout.Timeout()) {
			gone = true
			hungUp()
		}
	}()
	return func() bool {
		c.Conn.SetReadDeadline(time.Unix(1, 0)) // wakes the read
		<-done
		return gone
	}
}

// A pyWait is how long a get waits for a task: at most most, or, for a get
// with no timeout, until a task comes, most at a time.
type pyWait struct {
	most       time.Duration
	untilATask bool
}

// pyGetWait reads get's block and timeout, from args or kwds as Python
// allows. A timeout is bounded by rpcwire.MaxWait.
func pyGetWait(r pyRequest) (pyWait, error) {
	block, timeout := pyArg(r.args, 0), pyArg(r.args, 1)
	for _, item := range r.kwds {
		switch item.Key {
		case "block":
			block = item.Value
		case "timeout":
			timeout = item.Value
		default:
			return pyWait{}, fmt.Errorf("get() got an unexpected keyword argument %s", pickle.Repr(item.Key))
		}
	}
	if block == false {
		return pyWait{}, nil
	}
	var seconds float64
	switch t := timeout.(type) {
	case nil:
		return pyWait{most: rpcwire.MaxWait, untilATask: true}, nil
	case int64:
		seconds = float64(t)
	case float64:
		seconds = t
	default:
		return pyWait{}, errors.New("'timeout' must be a number")
	}
	if !(seconds >= 0) { // NaN too
		return pyWait{}, errors.New("'timeout' must be a non-negative number")
	}
	return pyWait{most: time.Duration(min(seconds, rpcwire.MaxWait.Seconds()) * float64(time.Second))}, nil
}

// pyPut is result.put(r): the answer to the oldest task leased to worker,
// as Python's str(r) would print it. A result whose lease ran out is
// refused and logged, but not raised in the worker: the task went to
// another worker, and the tutorial's worker would die of the exception.
func (m *QueueManager) pyPut(worker *queue.Holder, r pyRequest, leased []queue.Task) (pickle.Tuple, []queue.Task) {
	if len(leased) == 0 {
		m.refused.Add(fmt.Sprintf("a result from %s (no task leased to it)", worker.Name), logging.Tally{queue.NotLeased: 1})
		return pyRaise("RuntimeError", "refused: no task is leased to this worker"), leased
	}
	task := leased[0]
	reasons, err := m.queue.PutResults(worker, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: pyStr(pyArg(r.args, 0))}})
	refused := logging.Tally(reasons)
	if n := refused.Count(); n > 0 {
		m.refused.Add(fmt.Sprintf("%d result(s) from %s (%v)", n, worker.Name, refused), refused)
		if refused[queue.NotLeased] == n {
			return pyReturn(nil), leased[1:]
		}
		return pyRaise("RuntimeError", fmt.Sprintf("refused: %v", refused)), leased[1:]
	}
	if err != nil {
		return pyRaise("RuntimeError", err.Error()), leased[1:]
	}
	return pyReturn(nil), leased[1:]
}

// readPyRequest reads one request, and hangs up with a logged reason on one
// that is too large or not a request. It waits for a request at least as
// long as a Python worker may work on a task; once begun, the request must
// arrive within ReadTimeout, as a Go worker's must.
func (m *QueueManager) readPyRequest(conn net.Conn) (pyRequest, error) {
	conn.SetReadDeadline(time.Now().Add(max(m.cfg.IdleTimeout, m.cfg.PythonLease+pythonSlack)))
	message, err := mpconn.ReadMessage(&begunWithin{conn: conn, limit: m.cfg.ReadTimeout}, mpconn.MaxMessage)
	if err != nil {
		if errors.Is(err, mpconn.ErrTooLong) {
			m.turnedAway.Add(fmt.Sprintf("%s: hung up on it: %v", conn.RemoteAddr(), err), logging.Tally{"bad message": 1})
		}
		return pyRequest{}, err
	}
	value, err := pickle.Decode(message)
	var r pyRequest
	if parts, ok := value.(pickle.Tuple); err == nil && ok && len(parts) == 4 {
		r.ident = parts[0]
		r.method, _ = parts[1].(string)
		r.args, _ = parts[2].(pickle.Tuple)
		r.kwds, ok = parts[3].(pickle.Dict)
		if r.method != "" && ok && (r.ident == nil || isString(r.ident)) {
			return r, nil
		}
	}
	if err == nil {
		err = fmt.Errorf("%w: %s is not a request", pickle.ErrInvalid, pickle.Repr(value))
	}
	m.turnedAway.Add(fmt.Sprintf("%s: hung up on it: %v", conn.RemoteAddr(), err), logging.Tally{"bad message": 1})
	return pyRequest{}, err
}

// writePyReply sends a reply within rpcwire.DefaultWriteTimeout.
func writePyReply(conn net.Conn, reply pickle.Tuple) error {
	message, err := pickle.Encode(reply)
	if err != nil {
		message, _ = pickle.Encode(pyRaise("RuntimeError", err.Error()))
	}
	conn.SetWriteDeadline(time.Now().Add(rpcwire.DefaultWriteTimeout))
	return mpconn.WriteMessage(conn, message)
}

func pyReturn(value any) pickle.Tuple { return pickle.Tuple{"#RETURN", value} }

// pyRaise is a reply that raises a builtin exception in the worker.
func pyRaise(class, message string) pickle.Tuple {
	return pickle.Tuple{"#ERROR", pickle.Exception{Module: "builtins", Name: class, Args: pickle.Tuple{message}}}
}

// pyArg is args[i], or None.
func pyArg(args pickle.Tuple, i int) any {
	if i < len(args) {
		return args[i]
	}
	return nil
}

// pyStr is what Python's str() makes of a plain value.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		// Python's repr: the shortest digits, ".0" on a whole number, an
		// exponent below 1e-4 and from 1e16.
		if exp := math.Abs(v); exp != 0 && (exp < 1e-4 || exp >= 1e16) || math.IsInf(v, 0) || math.IsNaN(v) {
			return strings.NewReplacer("+Inf", "inf", "-Inf", "-inf", "NaN", "nan").Replace(strconv.FormatFloat(v, 'e', -1, 64))
		}
		if v == math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', 1, 64)
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return pickle.Repr(v) // None, True, 3, (1, 2) ...
}

func isString(v any) bool {
	_, ok := v.(string)
	return ok
}

// begunWithin reads from conn, and once the first byte has come, gives the
// rest limit to arrive: a request may be long in coming, never in arriving.
type begunWithin struct {
	conn  net.Conn
	limit time.Duration
	begun bool
}

func (r *begunWithin) Read(p []byte) (int, error) {
	n, err := r.conn.Read(p)
	if n > 0 && !r.begun {
		r.begun = true
		r.conn.SetReadDeadline(time.Now().Add(r.limit))
	}
	return n, err
}
