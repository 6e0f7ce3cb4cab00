// What multiprocessing.managers does for section 分布式进程: serve the master's
// queues to workers on other machines, and hand a worker its end of them.
//
// QueueManager.register('get_task_queue') becomes a type with exported
// methods on an rpc.Server. Each connection gets its own rpc.Server, after
// the authkey handshake, so gob never decodes a byte from a peer that has not
// proven it knows the key, and each task leased over a connection can be
// given back when that connection closes. Every blocking step on the network
// has a deadline.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"sync"
	"syscall"
	"time"
)

const (
	handshakeTimeout = 5 * time.Second  // to connect and prove the authkey
	answerTimeout    = 10 * time.Second // for the master to answer a call, beyond the wait asked for
	maxWait          = time.Minute      // the longest a worker may ask the master to wait for a task
	shutdownGrace    = 2 * time.Second  // for workers to hang up once the master is done
)

// GetArgs asks the task queue for up to Max tasks, waiting up to Wait for one.
type GetArgs struct {
	Max  int
	Wait time.Duration
}

// TaskBatch is the answer: some tasks, none (the queue is empty), or none
// ever again (Closed: every task has its result, or the master is stopping).
type TaskBatch struct {
	Tasks  []Task
	Closed bool
}

// TaskQueue is the task queue as one worker connection sees it.
type TaskQueue struct {
	queue *leasedQueue
	owner int // the connection the tasks are leased to
}

// Get is task.get(timeout=...), for up to args.Max tasks at once.
func (t *TaskQueue) Get(args GetArgs, batch *TaskBatch) error {
	if args.Max < 1 || args.Wait < 0 || args.Wait > maxWait {
		return fmt.Errorf("get: want 1 or more tasks and a wait of at most %v", maxWait)
	}
	batch.Tasks, batch.Closed = t.queue.get(t.owner, args.Max, args.Wait)
	return nil
}

// ResultQueue is the result queue as the workers see it.
type ResultQueue struct {
	queue *leasedQueue
}

// Put is result.put(r), for any number of results at once.
func (r *ResultQueue) Put(results []Result, _ *struct{}) error {
	return r.queue.putResults(results)
}

// QueueManager serves a leasedQueue to the workers that know the authkey.
type QueueManager struct {
	queue   *leasedQueue
	authkey []byte
	stderr  io.Writer // where rejected peers are reported

	listener net.Listener
	served   chan struct{}  // closed when the accept loop has returned
	handlers sync.WaitGroup // one per connection

	mu        sync.Mutex            // guards the fields below
	conns     map[net.Conn]struct{} // open connections
	lastOwner int                   // the id of the newest authenticated connection
	stopping  bool                  // shutdown has begun
	hangingUp bool                  // shutdown is closing every connection
}

func newQueueManager(queue *leasedQueue, authkey []byte, stderr io.Writer) *QueueManager {
	return &QueueManager{queue: queue, authkey: authkey, stderr: stderr,
		served: make(chan struct{}), conns: map[net.Conn]struct{}{}}
}

// start listens on addr and serves in the background (Python: manager.start()).
func (m *QueueManager) start(addr string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, unwrapSyscall(err))
	}
	m.listener = listener
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		fmt.Fprintf(m.stderr, "master: listening on %s\n", listener.Addr())
	}
	go m.serve()
	return nil
}

func (m *QueueManager) serve() {
	defer close(m.served)
	pause := 5 * time.Millisecond
	for {
		conn, err := m.listener.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of file descriptors, say: wait, as net/http does
			fmt.Fprintf(m.stderr, "master: accept: %v\n", err)
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		// The handshake runs here, off the accept loop, so a silent peer
		// holds up no one else.
		m.handlers.Go(func() { m.handle(conn) })
	}
}

// handle checks the peer's authkey, then serves it the queues until it hangs
// up, and gives back whatever tasks it still held.
func (m *QueueManager) handle(conn net.Conn) {
	defer conn.Close()
	if !m.track(conn) {
		return
	}
	defer m.untrack(conn)

	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := serverHandshake(conn, m.authkey); err != nil {
		fmt.Fprintf(m.stderr, "master: rejected %s: %v\n", conn.RemoteAddr(), err)
		return
	}
	conn.SetDeadline(time.Time{})
	owner := m.newOwner()
	defer m.queue.releaseOwner(owner)

	server := rpc.NewServer()
	server.Register(&TaskQueue{queue: m.queue, owner: owner})
	server.Register(&ResultQueue{queue: m.queue})
	server.ServeConn(conn)
}

func (m *QueueManager) track(conn net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hangingUp {
		return false
	}
	m.conns[conn] = struct{}{}
	return true
}

func (m *QueueManager) untrack(conn net.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.conns, conn)
}

// newOwner names an authenticated connection, for the leases it takes.
func (m *QueueManager) newOwner() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastOwner++
	return m.lastOwner
}

// shutdown stops serving (Python: manager.shutdown()). Workers are told that
// no task will come and given up to grace to hang up on their own, so that
// the answer to their last call is not cut off; then their connections close.
func (m *QueueManager) shutdown(grace time.Duration) {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	m.stopping = true
	m.mu.Unlock()

	m.listener.Close()
	<-m.served
	// A worker still in its handshake gets in, and is told there are no tasks.
	m.queue.shutdown()
	handled := make(chan struct{})
	go func() { m.handlers.Wait(); close(handled) }()
	select {
	case <-handled:
		return
	case <-time.After(grace):
	}
	m.mu.Lock()
	m.hangingUp = true
	for conn := range m.conns {
		conn.Close()
	}
	m.mu.Unlock()
	<-handled
}

// Errors a worker's calls end with.
var (
	errEmpty       = errors.New("task queue is empty") // Python's queue.Empty
	errNoTasksLeft = errors.New("the master has no tasks left")
	errLost        = errors.New("lost connection to master")
)

// RemoteQueueManager is task_worker.py's QueueManager: the worker's
// connection to the master's queues.
type RemoteQueueManager struct {
	client *rpc.Client
}

// connectQueueManager dials the master and proves the authkey (Python: m.connect()).
func connectQueueManager(ctx context.Context, addr string, authkey []byte) (*RemoteQueueManager, error) {
	dialer := net.Dialer{Timeout: handshakeTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("cannot connect to %s: connection refused (is the master running?)", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, unwrapSyscall(err))
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := clientHandshake(conn, authkey); err != nil {
		conn.Close()
		if errors.Is(err, errAuth) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot connect to %s: %w (is that a master?)", addr, err)
	}
	conn.SetDeadline(time.Time{})
	return &RemoteQueueManager{client: rpc.NewClient(conn)}, nil
}

func (m *RemoteQueueManager) Close() error { return m.client.Close() }

// call makes one RPC, giving up after timeout or when ctx is done.
func (m *RemoteQueueManager) call(ctx context.Context, method string, args, reply any, timeout time.Duration) error {
	call := m.client.Go(method, args, reply, make(chan *rpc.Call, 1))
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-call.Done:
		if errors.Is(call.Error, rpc.ErrShutdown) || errors.Is(call.Error, io.EOF) || errors.Is(call.Error, io.ErrUnexpectedEOF) {
			return errLost
		}
		return call.Error
	case <-timer.C:
		m.client.Close()
		return fmt.Errorf("%w: no answer to %s within %v", errLost, method, timeout)
	case <-ctx.Done():
		m.client.Close()
		return errInterrupted
	}
}

// getTaskQueue returns the worker's end of the task queue.
func (m *RemoteQueueManager) getTaskQueue() remoteTaskQueue { return remoteTaskQueue{m} }

// getResultQueue returns the worker's end of the result queue.
func (m *RemoteQueueManager) getResultQueue() remoteResultQueue { return remoteResultQueue{m} }

type remoteTaskQueue struct{ m *RemoteQueueManager }

// Get waits up to wait for a task (Python: task.get(timeout=1)). It fails
// with errEmpty if none came, and errNoTasksLeft once none ever will.
func (q remoteTaskQueue) Get(ctx context.Context, wait time.Duration) (Task, error) {
	tasks, err := q.GetBatch(ctx, 1, wait)
	if err != nil {
		return Task{}, err
	}
	return tasks[0], nil
}

// GetBatch is Get for up to most tasks.
func (q remoteTaskQueue) GetBatch(ctx context.Context, most int, wait time.Duration) ([]Task, error) {
	var batch TaskBatch
	if err := q.m.call(ctx, "TaskQueue.Get", GetArgs{Max: most, Wait: wait}, &batch, wait+answerTimeout); err != nil {
		return nil, err
	}
	switch {
	case len(batch.Tasks) > 0:
		return batch.Tasks, nil
	case batch.Closed:
		return nil, errNoTasksLeft
	default:
		return nil, errEmpty
	}
}

type remoteResultQueue struct{ m *RemoteQueueManager }

// Put sends the result r of task (Python: result.put(r)).
func (q remoteResultQueue) Put(ctx context.Context, task Task, r string) error {
	return q.PutBatch(ctx, []Result{{ID: task.ID, Lease: task.Lease, Text: r}})
}

// PutBatch sends many results in one call.
func (q remoteResultQueue) PutBatch(ctx context.Context, results []Result) error {
	return q.m.call(ctx, "ResultQueue.Put", results, &struct{}{}, answerTimeout)
}

// unwrapSyscall shortens "dial tcp 1.2.3.4:5: connect: connection refused"
// to its last part, since the caller says which address it was.
func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
