// Section 分布式进程 from the worker's side when the master is the tutorial's
// own task_master.py: what task_worker.py's QueueManager does in Python's
// multiprocessing.managers, over package mpconn's connections and package
// pickle's pickles.
//
// m.connect() sends 'dummy' over a first connection; each
// m.get_task_queue() sends 'create' over another, and the master answers
// with the queue's id; the first method call opens the connection every
// later call goes over, with 'accept_connection'; and at exit each queue
// gets a 'decref' over a connection of its own. Python's proxy adds an
// 'incref' and a 'decref' of its own after each 'create', which cancel
// out: they are left out here. Each request is a pickled
// (id, method, args, kwds) and each reply ('#RETURN', value), or
// ('#ERROR', exception), as ('#ERROR', _queue.Empty()) from a get that
// timed out, or ('#TRACEBACK', text).
//
// pyQueueManager gives the listing in distributed.go the same queues as
// goQueueManager does, so the listing reads the same whichever
// language the master speaks.

package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/mpconn"
	"multithreading/internal/pickle"
	"multithreading/internal/queue"
)

// pyQueueManager is a worker's connection to a Python master's queues.
type pyQueueManager struct {
	addr     string
	cfg      Config
	taskID   string        // the master's id for the task queue
	resultID string        // and for the result queue
	methods  *mpconn.Conn  // accept_connection's: every get and put goes over it
	turn     chan struct{} // holds a token while no call uses methods: calls take turns
	broken   error         // why methods is unusable; guarded by turn
}

// The names task_master.py registers its queues under.
const (
	pyTaskQueueName   = "get_task_queue"
	pyResultQueueName = "get_result_queue"
)

// maxSquarable is the largest n whose n*n fits in an int (3037000499, or
// 46340 where an int has 32 bits): a Python master's tasks may be any int,
// and the worker must not square one wrong.
const maxSquarable = strconv.IntSize/64*3037000499 + (1-strconv.IntSize/64)*46340

// connectPyQueueManager is task_worker.py's m.connect() and its two
// m.get_*_queue() calls. conn is the worker's first connection to the
// master, with a deadline set for the handshake, whose first message, the
// master's challenge, the caller has read (to tell that the master speaks
// Python, with mpconn.ClassifyChallenge). connectPyQueueManager closes conn.
func connectPyQueueManager(ctx context.Context, conn net.Conn, challenge []byte, addr string, cfg Config) (*pyQueueManager, error) {
	defer conn.Close()
	m := &pyQueueManager{addr: addr, cfg: cfg, turn: make(chan struct{}, 1)}
	m.turn <- struct{}{}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	_, err := mpconn.FinishPythonClientHandshake(conn, cfg.Authkey, challenge)
	stop()
	switch {
	case ctx.Err() != nil:
		return nil, cli.Stopped(ctx)
	case errors.Is(err, mpconn.ErrAuth):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, err)
	}

	// m.connect(): a request that does nothing, to see the master answers.
	first := &mpconn.Conn{NetConn: conn, MaxReply: mpconn.MaxMessage}
	if _, err := m.request(ctx, first, "dummy"); err != nil {
		return nil, err
	}
	// m.get_task_queue(), m.get_result_queue(): the ids of the two queues.
	if m.taskID, err = m.create(ctx, pyTaskQueueName, "get"); err != nil {
		return nil, err
	}
	if m.resultID, err = m.create(ctx, pyResultQueueName, "put"); err != nil {
		m.Close()
		return nil, err
	}
	// The connection the queues' methods are called over.
	if m.methods, err = m.dial(ctx); err == nil {
		// Python names the connection after its process and thread.
		_, err = m.request(ctx, m.methods, "accept_connection", "MainProcess")
	}
	if err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// create asks the master for the queue it registered as typeid, which must
// have method, and returns its id.
func (m *pyQueueManager) create(ctx context.Context, typeid, method string) (string, error) {
	c, err := m.dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := m.request(ctx, c, "create", typeid)
	if err != nil {
		return "", fmt.Errorf("the master has no %s: %w", typeid, err)
	}
	// (ident, exposed): the object's id, and the methods it may be called by.
	created, _ := reply.(pickle.Tuple)
	if len(created) == 2 {
		id, isString := created[0].(string)
		exposed, _ := created[1].(pickle.Tuple)
		if isString && slices.Contains(exposed, any(method)) {
			return id, nil
		}
	}
	return "", fmt.Errorf("the master's %s is not a queue: it answered %s", typeid, pickle.Repr(reply))
}

// decref tells the master this worker is done with the object id.
// Python ignores a decref that fails, as the master may be gone: so does this.
func (m *pyQueueManager) decref(ctx context.Context, id string) {
	if c, err := m.dial(ctx); err == nil {
		m.request(ctx, c, "decref", id)
		c.Close()
	}
}

// dial opens one more authenticated connection to the master.
func (m *pyQueueManager) dial(ctx context.Context) (*mpconn.Conn, error) {
	conn, err := dialTCP(ctx, m.addr, m.cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := mpconn.PythonClientHandshake(conn, m.cfg.Authkey); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, cli.Stopped(ctx)
		}
		return nil, err
	}
	return &mpconn.Conn{NetConn: conn, MaxReply: mpconn.MaxMessage}, nil
}

// request makes a request of the master itself, not of a queue, over c,
// and returns the value of its reply.
func (m *pyQueueManager) request(ctx context.Context, c *mpconn.Conn, method string, args ...any) (any, error) {
	reply, err := c.Call(ctx, pickle.Tuple{nil, method, pickle.Tuple(args), pickle.Dict{}}, m.cfg.ReplyTimeout)
	if err != nil {
		return nil, pyCallError(err, method, m.cfg.ReplyTimeout)
	}
	return pyReturned(reply)
}

// call calls a method of a queue over the methods connection, one call at
// a time, as each of Python's threads does over its own connection.
func (m *pyQueueManager) call(ctx context.Context, id, method string, args pickle.Tuple, kwds pickle.Dict, timeout time.Duration) (any, error) {
	select {
	case <-m.turn:
	case <-ctx.Done():
		return nil, cli.Stopped(ctx)
	}
	defer func() { m.turn <- struct{}{} }()
	if m.broken != nil {
		return nil, m.broken
	}
	reply, err := m.methods.Call(ctx, pickle.Tuple{id, method, args, kwds}, timeout)
	if err != nil {
		// The connection may be in the middle of a message: no call can use it.
		m.methods.Close()
		m.broken = pyCallError(err, method, timeout)
		return nil, m.broken
	}
	return pyReturned(reply)
}

// pyCallError says why a call got no reply.
func pyCallError(err error, method string, timeout time.Duration) error {
	switch {
	case errors.Is(err, cli.ErrInterrupted):
		return err // which signal it was
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: no answer to %s within %v", ErrNoAnswer, method, timeout)
	case isHangUp(err):
		return ErrMasterGone
	case errors.Is(err, pickle.ErrInvalid), errors.Is(err, mpconn.ErrTooLong):
		return fmt.Errorf("the master's answer to %s: %w", method, err)
	}
	return fmt.Errorf("%w: %v", ErrMasterGone, unwrapSyscall(err))
}

// pyReturned is the value of a ('#RETURN', value) reply; any other reply
// is an error, queue.ErrEmpty for ('#ERROR', _queue.Empty()).
func pyReturned(reply any) (any, error) {
	parts, _ := reply.(pickle.Tuple)
	if len(parts) != 2 {
		return nil, fmt.Errorf("the master answered %s, which is no reply", pickle.Repr(reply))
	}
	kind, _ := parts[0].(string)
	switch value := parts[1]; kind {
	case "#RETURN":
		return value, nil
	case "#ERROR":
		if exception, ok := value.(pickle.Exception); ok && exception.Name == "Empty" {
			return nil, queue.ErrEmpty // queue.Empty, from the master's _queue or queue
		}
		return nil, fmt.Errorf("the master raised %s", pickle.Repr(value))
	case "#TRACEBACK", "#UNSERIALIZABLE":
		// A traceback's last line names the exception.
		text, _ := value.(string)
		text = strings.TrimSpace(text)
		text = text[strings.LastIndexByte(text, '\n')+1:]
		if shown := []rune(text); len(shown) > 200 {
			text = string(shown[:200]) + "..."
		}
		return nil, fmt.Errorf("the master failed: %s", strings.ToValidUTF8(text, "?"))
	}
	return nil, fmt.Errorf("the master answered %s, which is no reply", pickle.Repr(reply))
}

func (m *pyQueueManager) GetTaskQueue() TaskQueue     { return pyTaskQueue{m} }
func (m *pyQueueManager) GetResultQueue() ResultQueue { return pyResultQueue{m} }

// Close hangs up, and tells the master the worker is done with its queues,
// as Python does at exit: in all, for at most half a second.
func (m *pyQueueManager) Close() error {
	if m.methods != nil {
		m.methods.Close()
	}
	// A master that has stopped answering must not hold up the worker's
	// exit, Ctrl-C's included: half a second, for what is only courtesy.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for _, id := range []string{m.resultID, m.taskID} {
		if id != "" {
			m.decref(ctx, id)
		}
	}
	return nil
}

type pyTaskQueue struct{ m *pyQueueManager }

// Get waits up to wait for a task (Python: task.get(timeout=1)). It fails
// with queue.ErrEmpty if none came.
func (q pyTaskQueue) Get(ctx context.Context, wait time.Duration) (queue.Task, error) {
	value, err := q.m.call(ctx, q.m.taskID, "get", pickle.Tuple{}, pickle.Dict{{Key: "timeout", Value: wait.Seconds()}}, wait+q.m.cfg.ReplyTimeout)
	if err != nil {
		return queue.Task{}, err
	}
	n, ok := value.(int64)
	if !ok || n > maxSquarable || n < -maxSquarable {
		return queue.Task{}, fmt.Errorf("the master sent task %s: want an integer from %d to %d", pickle.Repr(value), -maxSquarable, maxSquarable)
	}
	return queue.Task{N: int(n)}, nil
}

// GetBatch gets one task: a Python queue hands them out one at a time.
func (q pyTaskQueue) GetBatch(ctx context.Context, _ int, wait time.Duration) ([]queue.Task, error) {
	task, err := q.Get(ctx, wait)
	if err != nil {
		return nil, err
	}
	return []queue.Task{task}, nil
}

type pyResultQueue struct{ m *pyQueueManager }

// Put sends the result r (Python: result.put(r)). A Python master keeps no
// track of which worker holds which task, so task goes unused.
func (q pyResultQueue) Put(ctx context.Context, _ queue.Task, r string) error {
	_, err := q.m.call(ctx, q.m.resultID, "put", pickle.Tuple{r}, pickle.Dict{}, q.m.cfg.ReplyTimeout)
	return err
}

// PutBatch puts each result in turn.
func (q pyResultQueue) PutBatch(ctx context.Context, results []queue.Result) error {
	for _, r := range results {
		if err := q.Put(ctx, queue.Task{}, r.Text); err != nil {
			return err
		}
	}
	return nil
}
