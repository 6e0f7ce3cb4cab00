// Command jetstream runs the tutorial's master and worker (分布式进程) on NATS
// JetStream: the same listings and the same output as the main program, with
// the queues in a server's streams instead of the master's memory, so that a
// run outlives its master and a cluster of three outlives any one node.
//
//	go run . master               # an embedded server on 127.0.0.1:4222
//	go run . worker               # in another terminal
//	go run . server --name n1 ... # one node of a cluster, on each of three hosts
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"multithreading/internal/cli"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cli.ExitCode(err))
}

const usage = `usage: go run . master [flags]   task_master.py, with an embedded NATS server
       go run . worker [flags]   task_worker.py
       go run . server [flags]   one NATS server, a node of a cluster
       go run . <command> -h     a command's flags
`

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.ErrUsage
	}
	commands := map[string]func(context.Context, *flag.FlagSet, []string, io.Writer, io.Writer) error{
		"master": runMaster, "worker": runWorker, "server": runServer,
	}
	command, ok := commands[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			fmt.Fprint(stdout, usage)
			return nil
		}
		fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
		return cli.ErrUsage
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run . %s [flags]\n", fs.Name())
		cli.PrintFlags(fs.Output(), fs)
	}
	ctx, stop := cli.Interruptible(ctx, stderr)
	defer stop()
	err := command(ctx, fs, args[1:], stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return nil
	case ctx.Err() != nil:
		if !errors.Is(err, cli.ErrInterrupted) { // the command did not say how far it got
			err = cli.Stopped(ctx)
		}
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
	case errors.Is(err, errStoredRun):
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
		err = cli.ErrUsage
	case err != nil && !errors.Is(err, cli.ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\n", args[0], err)
	}
	return err
}

// authkeyFlag is the main program's --authkey, which here is the token.
func authkeyFlag(fs *flag.FlagSet) func() []byte {
	key := fs.String("authkey", "", "the shared secret, the NATS server's token (default: $TASK_AUTHKEY, or the tutorial's \"hello world\")")
	return func() []byte {
		switch {
		case *key != "":
			return []byte(*key)
		case os.Getenv("TASK_AUTHKEY") != "":
			return []byte(os.Getenv("TASK_AUTHKEY"))
		default:
			return []byte("hello world")
		}
	}
}

// natsFlag is --nats: the servers to use instead of an embedded one.
func natsFlag(fs *flag.FlagSet, role string) *string {
	return fs.String("nats", "", "the NATS servers, nats://host:port[,nats://...]"+role)
}

func runMaster(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:4222", "where the embedded server listens (port 0: any free port, named on stderr)")
	natsURLs := natsFlag(fs, " (default: embed a server on --addr)")
	store := fs.String("store", defaultStore(), "the directory the embedded server keeps the run in")
	authkey := authkeyFlag(fs)
	tasks := fs.Int("tasks", 10, "how many tasks to put")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each result (the listing's result.get(timeout=10))")
	seed := fs.Uint64("seed", 0, "seed for the tasks' random numbers, to repeat a run (0: a random seed, or the stored run's)")
	lease := fs.Duration("lease", 3*time.Second, "AckWait: how long a task stays with a worker that stops renewing it")
	quiet := fs.Bool("quiet", false, "print no line per task, only the number of tasks per second at the end")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	urls, badURL := parseURLs(*natsURLs)
	var embeddedOnly error
	if len(urls) > 0 && (isSet(fs, "store") || isSet(fs, "addr")) {
		embeddedOnly = errors.New("--store and --addr are the embedded server's: with --nats, the run lives in those servers")
	}
	var leaseOutlastsWait error
	if *lease >= *timeout {
		leaseOutlastsWait = fmt.Errorf("--lease %v must be shorter than --timeout %v", *lease, *timeout)
	}
	if err := cli.Validate(fs, badURL, embeddedOnly, cli.HostPort("addr", *addr), cli.Port("addr", *addr, 0),
		cli.Positive("tasks", *tasks), cli.AtMost("tasks", *tasks, maxTasks),
		cli.AtLeast("timeout", *timeout, 100*time.Millisecond), cli.AtMost("timeout", *timeout, time.Hour),
		cli.AtLeast("lease", *lease, time.Second), cli.AtMost("lease", *lease, time.Hour), leaseOutlastsWait); err != nil {
		return err
	}
	cfg := masterConfig{
		// A master reconnects to another node as long as it rides out errors.
		conn:  connConfig{urls: urls, authkey: authkey(), retry: rideOut, rideOut: rideOut, log: stderr},
		tasks: *tasks, timeout: *timeout, seed: *seed, seedSet: *seed != 0, lease: *lease,
	}
	if cfg.seed == 0 {
		cfg.seed = randomSeed()
	}
	if len(urls) == 0 {
		cfg.server = &serverConfig{addr: *addr, authkey: authkey(), store: *store}
	}
	if *quiet {
		return quietMaster(ctx, stdout, stderr, cfg)
	}
	return taskMaster(ctx, stdout, stderr, cfg)
}

func runWorker(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	natsURLs := natsFlag(fs, "")
	authkey := authkeyFlag(fs)
	tries := fs.Int("tries", 10, "how many times to take a task (0: until the master has finished)")
	getTimeout := fs.Duration("get-timeout", time.Second, "how long each try waits for a task (the listing's task.get(timeout=1))")
	work := fs.Duration("work", time.Second, "how long one task takes (the listing's time.sleep(1))")
	retry := fs.Duration("retry", 0, "how long to wait for a server that is not there, at the start or after losing it (0: one try)")
	batch := fs.Int("batch", 0, "take this many tasks per pull, print no line per task (0: the listing)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *natsURLs == "" {
		*natsURLs = "nats://127.0.0.1:4222"
	}
	urls, badURL := parseURLs(*natsURLs)
	if err := cli.Validate(fs, badURL, cli.NotNegative("tries", *tries),
		cli.AtLeast("get-timeout", *getTimeout, 10*time.Millisecond), cli.AtMost("get-timeout", *getTimeout, time.Minute),
		cli.NotNegative("work", *work), cli.NotNegative("retry", *retry), cli.AtMost("retry", *retry, time.Hour),
		cli.NotNegative("batch", *batch), cli.AtMost("batch", *batch, maxBatch)); err != nil {
		return err
	}
	cfg := workerConfig{
		conn:  connConfig{urls: urls, authkey: authkey(), retry: *retry, rideOut: rideOut, log: stderr},
		tries: *tries, getTimeout: *getTimeout, work: *work,
	}
	if *batch > 0 {
		return batchWorker(ctx, stdout, cfg, *batch)
	}
	return taskWorker(ctx, stdout, cfg)
}

func runServer(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:4222", "where clients connect")
	cluster := fs.String("cluster", "", "where the other nodes' routes connect, host:port (default: no cluster)")
	routes := fs.String("routes", "", "the other nodes' --cluster addresses, host:port[,host:port...]")
	name := fs.String("name", "", "this node's name, unique in the cluster (default: the host name)")
	store := fs.String("store", "", "the directory this node keeps its streams in (default: one named after --name under the user's cache)")
	authkey := authkeyFlag(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var routeList []string
	var badRoute, routesAlone error
	for route := range strings.SplitSeq(*routes, ",") {
		if route == "" {
			continue
		}
		if err := cmp.Or(cli.HostPort("routes", route), cli.Port("routes", route, 1)); err != nil && badRoute == nil {
			badRoute = err
		}
		routeList = append(routeList, route)
	}
	if *cluster == "" && len(routeList) > 0 {
		routesAlone = errors.New("--routes needs --cluster: the address this node's own routes listen on")
	}
	var badCluster error
	if *cluster != "" {
		badCluster = cmp.Or(cli.HostPort("cluster", *cluster), cli.Port("cluster", *cluster, 1))
	}
	if err := cli.Validate(fs, cli.HostPort("addr", *addr), cli.Port("addr", *addr, 1), badCluster, badRoute, routesAlone); err != nil {
		return err
	}
	if *name == "" {
		*name, _ = os.Hostname()
	}
	if *store == "" {
		*store = filepath.Join(filepath.Dir(defaultStore()), "server-"+*name)
	}
	ns, err := startServer(serverConfig{addr: *addr, authkey: authkey(), store: *store, name: *name, cluster: *cluster, routes: routeList})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "server %s: NATS with JetStream on nats://%s, storing in %s\n", *name, *addr, *store)
	<-ctx.Done()
	ns.Shutdown()
	ns.WaitForShutdown()
	return cli.Stopped(ctx)
}

// isSet reports whether the command line gave the flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseURLs splits --nats into its URLs, each nats://host:port.
func parseURLs(list string) ([]string, error) {
	var urls []string
	for u := range strings.SplitSeq(list, ",") {
		if u == "" {
			continue
		}
		hostPort, ok := strings.CutPrefix(u, "nats://")
		if !ok || cli.HostPort("nats", hostPort) != nil {
			return nil, fmt.Errorf("--nats wants nats://host:port, not %q", u)
		}
		urls = append(urls, u)
	}
	if list != "" && len(urls) == 0 {
		return nil, fmt.Errorf("--nats names no server: %q", list)
	}
	return urls, nil
}

// defaultStore is where an embedded server keeps its streams: a directory
// under the user's cache, which the master names on stderr.
func defaultStore() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "multithreading", "jetstream")
}

// randomSeed picks a seed for a run that was given none.
func randomSeed() uint64 {
	for {
		if seed := rand.Uint64(); seed != 0 {
			return seed
		}
	}
}

// Limits, and the window of errors a client rides out while a cluster
// elects a new leader (4 to 7 s, measured).
const (
	maxTasks = 10_000_000
	maxBatch = 10_000
	rideOut  = 20 * time.Second
)
