// Package master is the master's side of what multiprocessing.managers does
// for section 分布式进程: it serves the master's queues to workers on other
// machines, Go's and the tutorial's own Python ones, and logs what it turns
// away without letting the log hold up the queue.
//
// QueueManager.register('get_task_queue') becomes a type with exported
// methods on an rpc.Server. Each connection gets its own rpc.Server, after
// the authkey handshake, so gob never decodes a byte from a peer that has not
// proven it knows the key, and the tasks leased over a connection hang off
// it and go back in the queue as soon as it ends. Knowing the key makes a
// worker authenticated, not trusted: the queue checks every result against
// the lease it quotes, package rpcwire bounds every message and the
// calls in flight, and admission.go bounds the peers still proving the key.
package master

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"sync"
	"syscall"
	"time"

	"multithreading/internal/logging"
	"multithreading/internal/mpconn"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
)

// Config is what the master needs to serve its queue. A zero field
// means its default, as in net/http's Server.
type Config struct {
	Authkey          []byte
	Lease            time.Duration // how long a Go worker's task stays its own unrenewed: 3 s
	PythonLease      time.Duration // a Python worker's, which it cannot renew: 10 s
	HandshakeTimeout time.Duration // to connect and prove the authkey: 5 s
	IdleTimeout      time.Duration // to hang up on a worker that asks nothing: 2 min
	ReadTimeout      time.Duration // for a message, once begun, to arrive whole: 10 s
	MaxWorkers       int           // workers connected at once: 64
	MaxHandshakes    int           // peers proving the authkey at once: 32
	Log              io.Writer     // hears of the peers turned away and the results refused; nil: nobody
}

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	c.Lease = max(cmp.Or(c.Lease, 3*time.Second), MinLease)
	c.PythonLease = max(cmp.Or(c.PythonLease, 10*time.Second), MinLease)
	c.HandshakeTimeout = cmp.Or(c.HandshakeTimeout, 5*time.Second)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, rpcwire.DefaultIdleTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, rpcwire.DefaultReadTimeout)
	c.MaxWorkers = cmp.Or(c.MaxWorkers, 64)
	c.MaxHandshakes = cmp.Or(c.MaxHandshakes, 32)
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

const (
	MinLease      = 30 * time.Millisecond // the shortest lease a master may give
	ShutdownGrace = 2 * time.Second       // for workers to hang up once the master is done
)

// TaskQueue is the task queue as one worker connection sees it.
type TaskQueue struct {
	queue  *queue.Queue
	holder *queue.Holder // the connection the tasks are leased to
}

// Get is task.get(timeout=...), for up to args.Max tasks at once.
func (t *TaskQueue) Get(args rpcwire.GetArgs, batch *rpcwire.TaskBatch) error {
	if args.Max < 1 || args.Max > rpcwire.MaxBatch || args.Wait < 0 || args.Wait > rpcwire.MaxWait {
		return fmt.Errorf("get: want 1 to %d tasks and a wait of at most %v", rpcwire.MaxBatch, rpcwire.MaxWait)
	}
	batch.Tasks, batch.Closed = t.queue.Get(t.holder, args.Max, args.Wait)
	batch.LeaseFor = t.holder.LeaseFor
	return nil
}

// Renew extends the leases of the tasks the worker is still working on.
func (t *TaskQueue) Renew(leases rpcwire.LeaseList, renewed *int) error {
	*renewed = t.queue.Renew(t.holder, leases) // LeaseList has checked the count
	return nil
}

// ResultQueue is the result queue as one worker connection sees it.
type ResultQueue struct {
	queue   *queue.Queue
	holder  *queue.Holder
	refused *logging.Throttled
}

// Put is result.put(r), for up to MaxBatch results at once. Results that do
// not answer a task leased to this connection are refused: the reply says
// how many and why, and the log gets a line.
func (r *ResultQueue) Put(results rpcwire.ResultBatch, reply *rpcwire.PutReply) error {
	reasons, err := r.queue.PutResults(r.holder, results)
	refused := logging.Tally(reasons)
	if n := refused.Count(); n > 0 {
		r.refused.Add(fmt.Sprintf("%d result(s) from %s (%v)", n, r.holder.Name, refused), refused)
		*reply = rpcwire.PutReply{Refused: n, Why: refused.String()}
	}
	return err
}

// QueueManager serves a queue.Queue to the workers that know the authkey.
type QueueManager struct {
	queue      *queue.Queue
	cfg        Config
	turnedAway *logging.Throttled
	refused    *logging.Throttled

	listener net.Listener
	served   chan struct{}  // closed when the accept loop has returned
	handlers sync.WaitGroup // one per connection

	mu          sync.Mutex            // guards the fields below
	handshaking []*pendingPeer        // peers still proving the key, oldest first
	workers     map[net.Conn]struct{} // authenticated connections
	stopping    bool                  // shutdown has begun
}

// New serves tasks to the workers that know cfg.Authkey.
func New(tasks *queue.Queue, cfg Config) *QueueManager {
	cfg = cfg.withDefaults()
	return &QueueManager{queue: tasks, cfg: cfg,
		turnedAway: logging.NewThrottled(cfg.Log, "rejected ", "turned away %d more peer%s"),
		refused:    logging.NewThrottled(cfg.Log, "refused ", "refused %d more result%s"),
		served:     make(chan struct{}), workers: map[net.Conn]struct{}{}}
}

// Start listens on addr and serves in the background (Python: manager.start()).
func (m *QueueManager) Start(addr string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno // "address already in use": the caller said which address
		}
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	m.listener = listener
	if _, port, _ := net.SplitHostPort(addr); port == "0" {
		fmt.Fprintf(m.cfg.Log, "master: listening on %s\n", listener.Addr())
	}
	go m.serve()
	return nil
}

// handle checks the peer's authkey, then serves it the queues until its
// connection ends, when the tasks it held go back in the queue.
func (m *QueueManager) handle(peer *pendingPeer) {
	conn := peer.Conn
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	protocol, err := mpconn.ServerHandshake(peer, m.cfg.Authkey, rand.Reader, func(p mpconn.Protocol) error {
		return m.proven(peer, p)
	})
	switch why := m.admitted(peer, protocol, err); why {
	case "":
	case shuttingDown: // not worth a line: the master is done
		return
	case crowdedOut:
		m.turnedAway.Add(fmt.Sprintf("%s: crowded out: %d newer peers were proving the key", conn.RemoteAddr(), m.cfg.MaxHandshakes), logging.Tally{why: 1})
		return
	case tooManyWorkers:
		m.turnedAway.Add(fmt.Sprintf("%s: %s (at most %d at once)", conn.RemoteAddr(), why, m.cfg.MaxWorkers), logging.Tally{why: 1})
		return
	default:
		m.turnedAway.Add(fmt.Sprintf("%s: %v", conn.RemoteAddr(), err), logging.Tally{why: 1})
		return
	}
	defer m.dismiss(conn)
	conn.SetDeadline(time.Time{})
	if protocol.IsPython() {
		m.servePython(conn)
		return
	}

	worker := queue.NewHolder(conn.RemoteAddr().String(), m.cfg.Lease, true)
	codec := rpcwire.NewServerCodec(conn, rpcwire.Config{IdleTimeout: m.cfg.IdleTimeout, ReadTimeout: m.cfg.ReadTimeout}, func(err error) {
		m.queue.HungUp(worker)
		if errors.Is(err, rpcwire.ErrFrameTooLarge) || errors.Is(err, rpcwire.ErrMalformed) {
			m.turnedAway.Add(fmt.Sprintf("%s: hung up on it: %v", worker.Name, err), logging.Tally{"bad message": 1})
		}
	})
	server := rpc.NewServer()
	server.Register(&TaskQueue{queue: m.queue, holder: worker})
	server.Register(&ResultQueue{queue: m.queue, holder: worker, refused: m.refused})
	server.ServeCodec(codec)
}

// dismiss forgets a worker connection that has ended.
func (m *QueueManager) dismiss(conn net.Conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.workers, conn)
}

// Shutdown stops serving (Python: manager.shutdown()). Peers still in their
// handshake are closed at once. Workers are told that no task will come and
// given up to grace to hang up on their own, so that the answer to their
// last call is not cut off, unless ctx ends first; then their connections
// close.
func (m *QueueManager) Shutdown(ctx context.Context, grace time.Duration) {
	m.mu.Lock()
	if m.stopping {
		m.mu.Unlock()
		return
	}
	m.stopping = true
	for _, conn := range m.handshaking {
		conn.Close()
	}
	m.mu.Unlock()

	m.listener.Close()
	<-m.served
	m.queue.Shutdown()
	handled := make(chan struct{})
	go func() { m.handlers.Wait(); close(handled) }()
	select {
	case <-handled:
	case <-ctx.Done():
	case <-time.After(grace):
	}
	m.mu.Lock()
	for conn := range m.workers {
		conn.Close()
	}
	m.mu.Unlock()
	<-handled
	m.turnedAway.Flush()
	m.refused.Flush()
}

// Addr is the address the master listens on, once started.
func (m *QueueManager) Addr() net.Addr { return m.listener.Addr() }
