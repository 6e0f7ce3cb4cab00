// Package worker is the worker's side of what multiprocessing.managers does
// for section 分布式进程: task_worker.py's QueueManager(...).connect() and
// the proxies it hands out, for a master in Go or in Python.
//
// As Python's proxies hide the network from task_worker.py, this package
// hides it from the listing: every call has a deadline that covers its write as well
// as its answer, Ctrl-C ends any call at once, and while the worker works on
// its tasks, the connection renews their leases in the background, so that a
// live worker keeps its task however long the task takes.
package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/mpconn"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
)

// Config is what a worker's connection to its master needs. A zero field
// means its default, as in net/http's Server.
type Config struct {
	Authkey          []byte
	Retry            time.Duration // how long to keep trying to reach a master that is not there yet; 0: one try
	HandshakeTimeout time.Duration // to connect and prove the authkey: 5 s
	ReplyTimeout     time.Duration // for the master to answer a call, beyond the wait asked for: 10 s
	Log              io.Writer     // hears of waiting for the master, and of results it refused; nil: nobody
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	c.HandshakeTimeout = cmp.Or(c.HandshakeTimeout, 5*time.Second)
	c.ReplyTimeout = cmp.Or(c.ReplyTimeout, 10*time.Second)
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// minRenewEvery bounds how often a worker renews its leases, whatever the
// master says.
const minRenewEvery = 10 * time.Millisecond

// Errors a worker's calls end with.
var (
	ErrNoTasksLeft = fmt.Errorf("%w: the master has no tasks left", queue.ErrEmpty) // an empty queue for good
	ErrMasterGone  = errors.New("the master hung up")
	ErrNoAnswer    = errors.New("the master stopped answering")
	ErrNoMaster    = errors.New("connection refused (is the master running?)")
)

// goQueueManager is task_worker.py's QueueManager: the worker's
// connection to a Go master's queues.
type goQueueManager struct {
	client    *rpc.Client
	cfg       Config
	closed    chan struct{} // closed by Close: the renewals stop
	closeOnce sync.Once
	noAnswer  atomic.Pointer[error] // why a call's timer closed the connection
	leased    chan struct{}         // holds a token when a new lease has come

	mu         sync.Mutex     // guards the fields below
	held       map[uint64]int // leases held, with the results still to send for each
	renewEvery time.Duration  // a third of the master's lease
}

// TaskQueue is the worker's end of the master's task queue, whichever
// protocol the master speaks: goTaskQueue or pyTaskQueue.
type TaskQueue interface {
	Get(ctx context.Context, wait time.Duration) (queue.Task, error)
	GetBatch(ctx context.Context, most int, wait time.Duration) ([]queue.Task, error)
}

// ResultQueue is the worker's end of the master's result queue:
// goResultQueue or pyResultQueue.
type ResultQueue interface {
	Put(ctx context.Context, task queue.Task, r string) error
	PutBatch(ctx context.Context, results []queue.Result) error
}

// QueueManager is task_worker.py's QueueManager once connected:
// goQueueManager, or pyQueueManager for a Python master.
type QueueManager interface {
	GetTaskQueue() TaskQueue
	GetResultQueue() ResultQueue
	Close() error
}

// Connect dials the master and proves the authkey (Python:
// m.connect()), whether the master is this program or the tutorial's
// task_master.py. If no master listens yet, or a crowded one closes the
// handshake, it tries again for up to cfg.Retry, saying so once in cfg.Log.
func Connect(ctx context.Context, addr string, cfg Config) (QueueManager, error) {
	cfg = cfg.withDefaults()
	retry := cfg.Retry
	giveUp := time.Now().Add(retry)
	pause := 50 * time.Millisecond
	for said := false; ; said = true {
		m, err := connectOnce(ctx, addr, cfg)
		if err == nil {
			return m, nil
		}
		if !retriable(err) || time.Now().Add(pause).After(giveUp) {
			return nil, err
		}
		if !said {
			if errors.Is(err, mpconn.ErrBusy) {
				fmt.Fprintf(cfg.Log, "worker: the master at %s serves as many workers as it may; trying for up to %v\n", addr, retry)
			} else {
				fmt.Fprintf(cfg.Log, "worker: no master at %s yet; trying for up to %v\n", addr, retry)
			}
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
	var timeout net.Error
	return errors.Is(err, ErrNoMaster) || errors.Is(err, mpconn.ErrBusy) || isHangUp(err) ||
		errors.As(err, &timeout) && timeout.Timeout() // a crowded master's line
}

// isHangUp reports whether err says that the master hung up: the
// connection ended, was reset, or was closed under a call.
func isHangUp(err error) bool {
	for _, hungUp := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, rpc.ErrShutdown, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, hungUp) {
			return true
		}
	}
	return false
}

// connectOnce connects and runs the handshake, all within cfg.HandshakeTimeout
// and cut short by ctx. The master's challenge tells whether it speaks Go,
// or Python's multiprocessing (python.go).
func connectOnce(ctx context.Context, addr string, cfg Config) (QueueManager, error) {
	conn, err := dialTCP(ctx, addr, cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	message, err := mpconn.ReadHandshake(conn)
	protocol := mpconn.Go
	if err == nil {
		protocol, err = mpconn.ClassifyChallenge(message)
	}
	if err == nil && protocol.IsPython() && stop() {
		return connectPyQueueManager(ctx, conn, message, addr, cfg)
	}
	if err == nil {
		err = mpconn.FinishClientHandshake(conn, cfg.Authkey, message, rand.Reader)
	}
	stop()
	conn.SetDeadline(time.Time{})
	if err := handshakeError(ctx, addr, err); err != nil {
		conn.Close()
		return nil, err
	}
	m := &goQueueManager{client: rpc.NewClientWithCodec(rpcwire.NewClientCodec(conn, rpcwire.Config{})), cfg: cfg,
		closed: make(chan struct{}), leased: make(chan struct{}, 1), held: map[uint64]int{}, renewEvery: time.Second}
	go m.renewLeases()
	return m, nil
}

// dialTCP opens a connection to the master, within timeout.
func dialTCP(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	dialer := net.Dialer{Timeout: timeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	switch {
	case err == nil:
		return conn, nil
	case ctx.Err() != nil:
		return nil, cli.Stopped(ctx)
	case errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("cannot connect to %s: %w", addr, ErrNoMaster)
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
	case errors.Is(err, mpconn.ErrBusy):
		return fmt.Errorf("cannot connect to %s: %w", addr, err)
	}
	return fmt.Errorf("cannot connect to %s: %w (is that a master?)", addr, err)
}

func (m *goQueueManager) Close() error {
	m.closeOnce.Do(func() { close(m.closed) }) // jobs of a batch worker may close it at once
	return m.client.Close()
}

// call makes one RPC within timeout, write included. Ctrl-C, or the
// timeout, closes the connection, which ends every call on it at once.
func (m *goQueueManager) call(ctx context.Context, method string, args, reply any, timeout time.Duration) error {
	if ctx.Err() != nil {
		return cli.Stopped(ctx)
	}
	stop := context.AfterFunc(ctx, func() { m.client.Close() })
	defer stop()
	timer := time.AfterFunc(timeout, func() {
		// Every call on the connection ends with it, and says why: a put
		// cut off by a renewal's timeout did not see the master hang up.
		why := fmt.Errorf("%w: no answer to %s within %v", ErrNoAnswer, method, timeout)
		m.noAnswer.CompareAndSwap(nil, &why)
		m.client.Close()
	})
	defer timer.Stop()
	err := m.client.Call(method, args, reply)
	var serverErr rpc.ServerError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return cli.Stopped(ctx)
	case m.noAnswer.Load() != nil:
		return *m.noAnswer.Load()
	case errors.As(err, &serverErr):
		return err
	case isHangUp(err):
		return ErrMasterGone
	default:
		return fmt.Errorf("%s: %w", method, err)
	}
}

// renewLeases renews, every third of a lease, the leases of the tasks the
// worker is working on, until Close. A failed renewal needs no handling:
// the calls the worker makes meet the same failure.
func (m *goQueueManager) renewLeases() {
	// No renewal is due until the first lease comes: until then the timer
	// is nil, and so is its channel, which never fires.
	var timer *time.Timer
	var due <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-m.closed:
			return
		case <-m.leased: // the first lease, or a new length: time from now
			m.mu.Lock()
			if timer == nil {
				timer = time.NewTimer(m.renewEvery)
				due = timer.C
			} else {
				timer.Reset(m.renewEvery)
			}
			m.mu.Unlock()
			continue
		case <-due:
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
			m.call(context.Background(), "TaskQueue.Renew", rpcwire.LeaseList(leases[:min(len(leases), rpcwire.MaxInFlight)]), &renewed, m.cfg.ReplyTimeout)
		}
	}
}

// GetTaskQueue returns the worker's end of the task queue.
func (m *goQueueManager) GetTaskQueue() TaskQueue { return goTaskQueue{m} }

// GetResultQueue returns the worker's end of the result queue.
func (m *goQueueManager) GetResultQueue() ResultQueue { return goResultQueue{m} }

type goTaskQueue struct{ m *goQueueManager }

// Get waits up to wait for a task (Python: task.get(timeout=1)). It fails
// with queue.ErrEmpty if none came, and ErrNoTasksLeft once none ever will.
func (q goTaskQueue) Get(ctx context.Context, wait time.Duration) (queue.Task, error) {
	tasks, err := q.GetBatch(ctx, 1, wait)
	if err != nil {
		return queue.Task{}, err
	}
	return tasks[0], nil
}

// GetBatch is Get for up to most tasks. The tasks' lease is renewed until
// their results are put.
func (q goTaskQueue) GetBatch(ctx context.Context, most int, wait time.Duration) ([]queue.Task, error) {
	var batch rpcwire.TaskBatch
	if err := q.m.call(ctx, "TaskQueue.Get", rpcwire.GetArgs{Max: most, Wait: wait}, &batch, wait+q.m.cfg.ReplyTimeout); err != nil {
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
		return nil, ErrNoTasksLeft
	default:
		return nil, queue.ErrEmpty
	}
}

// hold notes a batch's lease, to renew it.
func (m *goQueueManager) hold(batch rpcwire.TaskBatch) {
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
func (m *goQueueManager) release(results []queue.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range results {
		if m.held[r.Lease]--; m.held[r.Lease] <= 0 {
			delete(m.held, r.Lease)
		}
	}
}

type goResultQueue struct{ m *goQueueManager }

// Put sends the result r of task (Python: result.put(r)).
func (q goResultQueue) Put(ctx context.Context, task queue.Task, r string) error {
	return q.PutBatch(ctx, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: r}})
}

// PutBatch sends many results in one call. If the master refuses some,
// because their lease ran out and their task went to another worker, the
// worker says so and goes on.
func (q goResultQueue) PutBatch(ctx context.Context, results []queue.Result) error {
	for _, r := range results {
		if len(r.Text) > queue.MaxText {
			return fmt.Errorf("the result of task #%d is %d bytes, more than the master takes (%d)", r.ID, len(r.Text), queue.MaxText)
		}
	}
	var reply rpcwire.PutReply
	if err := q.m.call(ctx, "ResultQueue.Put", rpcwire.ResultBatch(results), &reply, q.m.cfg.ReplyTimeout); err != nil {
		return err
	}
	if reply.Refused > 0 {
		fmt.Fprintf(q.m.cfg.Log, "worker: the master refused %d of %d results (%s)\n", reply.Refused, len(results), reply.Why)
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
