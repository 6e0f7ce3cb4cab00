// The NATS server: embedded in the master by default, or one node of a
// cluster with "go run . server". Where the main program's master keeps its
// queues in memory, this server keeps them in streams on disk (--store), and
// a cluster of three replicates each stream on every node.

package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serverConfig says where a NATS server listens and keeps its streams.
type serverConfig struct {
	addr    string   // clients connect here: host:port
	authkey []byte   // the token a client must present: the tutorial's authkey
	store   string   // the directory the streams live in
	name    string   // the node's name in a cluster; "" for one server
	cluster string   // where the other nodes' routes connect; "" for one server
	routes  []string // the other nodes' route addresses, host:port
}

// startServer starts a NATS server with JetStream, and returns it once it
// takes connections.
func startServer(cfg serverConfig) (*server.Server, error) {
	host, port, err := splitHostPort(cfg.addr)
	if err != nil {
		return nil, err
	}
	if port == 0 {
		port = server.RANDOM_PORT // any free port, which the master names
	}
	opts := &server.Options{
		ServerName: cfg.name,
		Host:       host,
		Port:       port,
		// The authkey is the token: a client without it is turned away, as
		// a Python peer without the authkey is.
		Authorization: string(cfg.authkey),
		JetStream:     true,
		StoreDir:      cfg.store,
		NoSigs:        true, // the program handles Ctrl-C and SIGTERM itself
		NoLog:         true,
		MaxPayload:    64 << 10, // a task or a result is a few bytes
		// Streams in memory would live in the master's own process: this
		// program makes none, and a client with the token may make only
		// a few.
		JetStreamMaxMemory: 64 << 20,
	}
	if cfg.cluster != "" {
		host, port, err := splitHostPort(cfg.cluster)
		if err != nil {
			return nil, err
		}
		opts.Cluster = server.ClusterOpts{
			Name: "tutorial", Host: host, Port: port,
			// Nodes prove the same key to each other.
			Username: "route", Password: string(cfg.authkey),
		}
		for _, route := range cfg.routes {
			opts.Routes = append(opts.Routes, &url.URL{Scheme: "nats", Host: route, User: url.UserPassword("route", string(cfg.authkey))})
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("the NATS server did not start listening on %s within 10s (is the port taken?)", cfg.addr)
	}
	return ns, nil
}

// splitHostPort splits host:port, the port a number.
func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("bad port in " + addr)
	}
	return host, port, nil
}
