// The worker's side of what multiprocessing.managers does for section
// 分布式进程: task_worker.py's QueueManager(...).connect() and the proxies
// it hands out.
//
// As Python's proxies hide the network from task_worker.py, this file hides
// it from taskWorker: every call has a deadline that covers its write as well
// as its answer, Ctrl-C ends any call at once, and while the worker works on
// its tasks, the connection renews their leases in the background, so that a
// live worker keeps its task however long the task takes.

package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"multithreading/internal/cli"
	"multithreading/internal/mpconn"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
	"net"
	"net/rpc"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// A worker's limits.
const (
	dialTimeout   = 5 * time.Second  // to connect and prove the authkey
	replyTimeout  = 10 * time.Second // for the master to answer a call, beyond the wait asked for
	minRenewEvery = 10 * time.Millisecond
)

// Errors a worker's calls end with.
var (
	errNoTasksLeft = fmt.Errorf("%w: the master has no tasks left", queue.ErrEmpty) // an empty queue for good
	errMasterGone  = errors.New("the master hung up")
	errNoAnswer    = errors.New("the master stopped answering")
	errNoMaster    = errors.New("connection refused (is the master running?)")
)

// RemoteQueueManager is task_worker.py's QueueManager: the worker's
// connection to the master's queues.
type RemoteQueueManager struct {
	client *rpc.Client
	stderr io.Writer     // hears of results the master refused
	closed chan struct{} // closed by Close: the renewals stop
	leased chan struct{} // holds a token when a new lease has come

	mu         sync.Mutex     // guards the fields below
	held       map[uint64]int // leases held, with the results still to send for each
	renewEvery time.Duration  // a third of the master's lease
}

// connectQueueManager dials the master and proves the authkey (Python:
// m.connect()), whether the master is this program or the tutorial's
// task_master.py. If no master listens yet, or a crowded one closes the
// handshake, it tries again for up to retry, saying so once on stderr.
func connectQueueManager(ctx context.Context, addr string, authkey []byte, retry time.Duration, stderr io.Writer) (workerQueueManager, error) {
	giveUp := time.Now().Add(retry)
	pause := 50 * time.Millisecond
	for said := false; ; said = true {
		m, err := connectOnce(ctx, addr, authkey, stderr)
		if err == nil {
			return m, nil
		}
		if !retriable(err) || time.Now().Add(pause).After(giveUp) {
			return nil, err
		}
		if !said {
			fmt.Fprintf(stderr, "worker: no master at %s yet; trying for up to %v\n", addr, retry)
		}
		if err := cli.Sleep(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(2*pause, time.Second)
	}
}

// retriable says whether a failed connection may succeed later: nobody
// listens yet, or a master crowded with peers closed the handshake.
func retriable(err error) bool {
	return errors.Is(err, errNoMaster) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connectOnce connects and runs the handshake, all within dialTimeout
// and cut short by ctx. The master's challenge tells whether it speaks Go,
// or Python's multiprocessing (pymanager.go).
func connectOnce(ctx context.Context, addr string, authkey []byte, stderr io.Writer) (workerQueueManager, error) {
	conn, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(dialTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	message, err := mpconn.ReadHandshake(conn)
	protocol := mpconn.Go
	if err == nil {
		protocol, err = mpconn.ClassifyChallenge(message)
	}
	if err == nil && protocol.IsPython() && stop() {
		return connectPyQueueManager(ctx, conn, message, addr, authkey)
	}
	if err == nil {
		err = mpconn.FinishClientHandshake(conn, authkey, message, rand.Reader)
	}
	stop()
	conn.SetDeadline(time.Time{})
	if err := handshakeError(ctx, addr, err); err != nil {
		conn.Close()
		return nil, err
	}
	m := &RemoteQueueManager{client: rpc.NewClientWithCodec(rpcwire.NewClientCodec(conn, rpcwire.Config{})), stderr: stderr,
		closed: make(chan struct{}), leased: make(chan struct{}, 1), held: map[uint64]int{}, renewEvery: time.Second}
	go m.renewLeases()
	return m, nil
}

// dialTCP opens a connection to the master, within dialTimeout.
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	dialer := net.Dialer{Timeout: dialTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		return conn, nil
	case ctx.Err() != nil:
		return nil, cli.Stopped(ctx)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, errNoMaster)
	}
	return nil, fmt.Errorf("cannot connect to %s: %w", addr, unwrapSyscall(err))
}

// handshakeError says why a handshake with the master at addr failed.
func handshakeError(ctx context.Context, addr string, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return cli.Stopped(ctx)
	case errors.Is(err, mpconn.ErrAuth):
		return err
	}
	return fmt.Errorf("cannot connect to %s: %w (is that a master?)", addr, err)
}

func (m *RemoteQueueManager) Close() error {
	select {
	case <-m.closed:
	default:
		close(m.closed)
	}
	return m.client.Close()
}

// call makes one RPC within timeout, write included. Ctrl-C, or the
// timeout, closes the connection, which ends every call on it at once.
func (m *RemoteQueueManager) call(ctx context.Context, method string, args, reply any, timeout time.Duration) error {
	if ctx.Err() != nil {
		return cli.Stopped(ctx)
	}
	stop := context.AfterFunc(ctx, func() { m.client.Close() })
	defer stop()
	var timedOut atomic.Bool
	timer := time.AfterFunc(timeout, func() { timedOut.Store(true); m.client.Close() })
	defer timer.Stop()
	err := m.client.Call(method, args, reply)
	var serverErr rpc.ServerError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return cli.Stopped(ctx)
	case timedOut.Load():
		return fmt.Errorf("%w: no answer to %s within %v", errNoAnswer, method, timeout)
	case errors.As(err, &serverErr):
		return err
	case errors.Is(err, rpc.ErrShutdown), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return errMasterGone
	default:
		return fmt.Errorf("%s: %w", method, err)
	}
}

// renewLeases renews, every third of a lease, the leases of the tasks the
// worker is working on, until Close. A failed renewal needs no handling:
// the calls the worker makes meet the same failure.
func (m *RemoteQueueManager) renewLeases() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-m.closed:
			return
		case <-m.leased: // the first lease, or a new length: time from now
			m.mu.Lock()
			timer.Reset(m.renewEvery)
			m.mu.Unlock()
			continue
		case <-timer.C:
		}
		m.mu.Lock()
		timer.Reset(m.renewEvery)
		leases := make([]uint64, 0, len(m.held))
		for id := range m.held {
			leases = append(leases, id)
		}
		m.mu.Unlock()
		if len(leases) > 0 {
			var renewed int
			m.call(context.Background(), "TaskQueue.Renew", rpcwire.LeaseList(leases[:min(len(leases), rpcwire.MaxInFlight)]), &renewed, replyTimeout)
		}
	}
}

// getTaskQueue returns the worker's end of the task queue.
func (m *RemoteQueueManager) getTaskQueue() workerTaskQueue { return remoteTaskQueue{m} }

// getResultQueue returns the worker's end of the result queue.
func (m *RemoteQueueManager) getResultQueue() workerResultQueue { return remoteResultQueue{m} }

type remoteTaskQueue struct{ m *RemoteQueueManager }

// Get waits up to wait for a task (Python: task.get(timeout=1)). It fails
// with queue.ErrEmpty if none came, and errNoTasksLeft once none ever will.
func (q remoteTaskQueue) Get(ctx context.Context, wait time.Duration) (queue.Task, error) {
	tasks, err := q.GetBatch(ctx, 1, wait)
	if err != nil {
		return queue.Task{}, err
	}
	return tasks[0], nil
}

// GetBatch is Get for up to most tasks. The tasks' lease is renewed until
// their results are put.
func (q remoteTaskQueue) GetBatch(ctx context.Context, most int, wait time.Duration) ([]queue.Task, error) {
	var batch rpcwire.TaskBatch
	if err := q.m.call(ctx, "TaskQueue.Get", rpcwire.GetArgs{Max: most, Wait: wait}, &batch, wait+replyTimeout); err != nil {
		return nil, err
	}
	switch {
	case len(batch.Tasks) > most:
		q.m.Close()
		return nil, fmt.Errorf("the master sent %d tasks, more than the %d asked for", len(batch.Tasks), most)
	case len(batch.Tasks) > 0:
		q.m.hold(batch)
		return batch.Tasks, nil
	case batch.Closed:
		return nil, errNoTasksLeft
	default:
		return nil, queue.ErrEmpty
	}
}

// hold notes a batch's lease, to renew it.
func (m *RemoteQueueManager) hold(batch rpcwire.TaskBatch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	wasIdle := len(m.held) == 0
	for _, t := range batch.Tasks {
		m.held[t.Lease]++
	}
	// A third of a lease leaves two renewals' time for one to arrive; no
	// faster than minRenewEvery, whatever the master says. The renewals time
	// themselves from the first lease held, not from each new one, or a
	// worker that keeps taking tasks would never renew its oldest.
	every := max(batch.LeaseFor/3, minRenewEvery)
	if wasIdle || every != m.renewEvery {
		m.renewEvery = every
		select {
		case m.leased <- struct{}{}:
		default:
		}
	}
}

// release forgets the results sent for a lease.
func (m *RemoteQueueManager) release(results []queue.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range results {
		if m.held[r.Lease]--; m.held[r.Lease] <= 0 {
			delete(m.held, r.Lease)
		}
	}
}

type remoteResultQueue struct{ m *RemoteQueueManager }

// Put sends the result r of task (Python: result.put(r)).
func (q remoteResultQueue) Put(ctx context.Context, task queue.Task, r string) error {
	return q.PutBatch(ctx, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: r}})
}

// PutBatch sends many results in one call. If the master refuses some,
// because their lease ran out and their task went to another worker, the
// worker says so and goes on.
func (q remoteResultQueue) PutBatch(ctx context.Context, results []queue.Result) error {
	for _, r := range results {
		if len(r.Text) > queue.MaxText {
			return fmt.Errorf("the result of task #%d is %d bytes, more than the master takes (%d)", r.ID, len(r.Text), queue.MaxText)
		}
	}
	var reply rpcwire.PutReply
	if err := q.m.call(ctx, "ResultQueue.Put", rpcwire.ResultBatch(results), &reply, replyTimeout); err != nil {
		return err
	}
	if reply.Refused > 0 {
		fmt.Fprintf(q.m.stderr, "worker: the master refused %d of %d results (%s)\n", reply.Refused, len(results), reply.Why)
	}
	q.m.release(results)
	return nil
}

// unwrapSyscall shortens "dial tcp 1.2.3.4:5: connect: connection refused"
// to its last part, since the caller says which address it was.
func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) {
		return sysErr.Err
	}
	return err
}
