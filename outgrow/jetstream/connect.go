// Connecting to the NATS server, the twin of the main program's handshake:
// the authkey is the server's token, and a worker waits --retry for a server
// that is not there yet, or that went away (a master restarting).

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A conn is a client's connection to the servers, and the server the master
// embeds, if it does.
type conn struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server // nil for a worker, or with --nats
	finished bool           // the master has its run's every result: its workers get a grace
	unlock   func()         // lets another master use the store
	log      io.Writer
	retry    retrier
}

// connConfig says whom to connect to and how patiently.
type connConfig struct {
	urls    []string
	authkey []byte
	retry   time.Duration // how long to wait for a server that is not there (0: one try)
	rideOut time.Duration // how long to retry JetStream's errors while connected
	log     io.Writer
}

// connect connects to the first server of urls that answers, within retry.
func connect(ctx context.Context, cfg connConfig) (*conn, error) {
	deadline := time.Now().Add(cfg.retry)
	said := false
	for {
		nc, err := nats.Connect(strings.Join(cfg.urls, ","),
			nats.Token(string(cfg.authkey)),
			nats.Timeout(2*time.Second),
			// Once connected, a client reconnects for as long as it is
			// told to wait, which retrier.do bounds.
			nats.MaxReconnects(-1),
			nats.ReconnectWait(200*time.Millisecond),
		)
		switch {
		case err == nil:
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, err
			}
			return &conn{nc: nc, js: js, log: cfg.log, retry: retrier{nc: nc, rideOut: cfg.rideOut, retry: cfg.retry, try: 2 * time.Second}}, nil
		case errors.Is(err, nats.ErrAuthorization):
			return nil, errors.New("the server refused the authkey: give the one it was started with (--authkey, or $TASK_AUTHKEY)")
		case time.Now().After(deadline):
			why := "" // refused: nothing listens there
			if !errors.Is(err, nats.ErrNoServers) {
				why = ": " + err.Error() // a host that does not answer, or is not found
			}
			if cfg.retry > 0 {
				return nil, fmt.Errorf("no server at %s after %v%s", strings.Join(cfg.urls, ", "), cfg.retry, why)
			}
			return nil, fmt.Errorf("no server at %s%s (start the master first, or give --retry)", strings.Join(cfg.urls, ", "), why)
		case !said:
			fmt.Fprintf(cfg.log, "waiting up to %v for a server at %s...\n", cfg.retry, strings.Join(cfg.urls, ", "))
			said = true
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close closes the connection, then the embedded server, once its workers
// have left or shutdownGrace has passed: a worker that sees the run gone
// ends at once, where one that sees its server gone waits --retry for it.
func (c *conn) Close() {
	c.nc.Close()
	if c.embedded != nil {
		for start := time.Now(); c.finished && c.embedded.NumClients() > 0 && time.Since(start) < shutdownGrace; {
			time.Sleep(10 * time.Millisecond)
		}
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
		c.unlock()
	}
}

// startMaster starts the embedded server, unless --nats names servers, and
// connects to it. The first line on stderr says where the run lives.
func startMaster(ctx context.Context, stderr io.Writer, cfg masterConfig) (*conn, error) {
	if cfg.server == nil {
		fmt.Fprintf(stderr, "master: using the NATS servers at %s\n", strings.Join(cfg.conn.urls, ", "))
		return connect(ctx, cfg.conn)
	}
	// The server says nothing when its port is taken: try it first.
	if l, err := net.Listen("tcp", cfg.server.addr); err != nil {
		return nil, fmt.Errorf("cannot serve on %s: %w", cfg.server.addr, err)
	} else {
		l.Close()
	}
	// One master to a store: two embedded servers would write the same files.
	unlock, err := lockStore(cfg.server.store)
	if err != nil {
		return nil, err
	}
	ns, err := startServer(*cfg.server)
	if err != nil {
		unlock()
		return nil, err
	}
	fmt.Fprintf(stderr, "master: an embedded NATS server with JetStream on %s, storing in %s\n", ns.ClientURL(), cfg.server.store)
	cfg.conn.urls = []string{ns.ClientURL()}
	c, err := connect(ctx, cfg.conn)
	if err != nil {
		ns.Shutdown()
		unlock()
		return nil, err
	}
	c.embedded, c.unlock = ns, unlock
	return c, nil
}

// runConfigOf says how the master's run is stored: replicated on three
// nodes when it was given three servers or more.
func runConfigOf(cfg masterConfig) runConfig {
	rc := runConfig{tasks: cfg.tasks, seed: cfg.seed, seedSet: cfg.seedSet, lease: cfg.lease, replicas: 1}
	if cfg.server != nil {
		rc.where = cfg.server.store
		rc.startAfresh = "delete that directory to start another"
	} else {
		rc.startAfresh = "delete its streams to start another (nats stream rm " + taskStream + ", " + resultStream + ", KV_" + runBucket + ")"
		rc.where = strings.Join(cfg.conn.urls, ",")
		rc.replicas = min(3, len(cfg.conn.urls))
		if rc.replicas == 2 {
			rc.replicas = 1 // two replicas cannot outvote a lost one
		}
	}
	return rc
}

// taskQueue finds the task stream's consumer, which the master makes once
// its server is up. A worker waits for it as long as it waits for a server,
// and at least runGrace.
func (c *conn) taskQueue(ctx context.Context) (*taskQueue, error) {
	deadline := time.Now().Add(max(c.retry.retry, runGrace))
	for {
		var consumer jetstream.Consumer
		err := c.retry.do(ctx, "find the task queue", 0, func(ctx context.Context) error {
			var err error
			consumer, err = c.js.Consumer(ctx, taskStream, workers)
			return err
		})
		switch {
		case err == nil:
			return &taskQueue{consumer: consumer, lease: consumer.CachedInfo().Config.AckWait, retry: c.retry}, nil
		case !errors.Is(err, errNoRun) || time.Now().After(deadline):
			return nil, err
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// shutdownGrace is how long a master that has finished keeps its embedded
// server up for the workers still connected to it, so that each sees the
// run gone (its next get finds no stream) and ends, rather than losing its
// server and waiting --retry for it. A worker's get waits a second.
const shutdownGrace = 5 * time.Second

// runGrace is how long a worker waits for the master to make its streams,
// once it has reached the server.
const runGrace = 5 * time.Second

// resultQueue is the result stream, for a worker to put results in.
func (c *conn) resultQueue() *resultQueue {
	return &resultQueue{js: c.js, log: c.log, retry: c.retry}
}
