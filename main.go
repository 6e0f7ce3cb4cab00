// Command multithreading runs the listings of the Python tutorial 多线程
// (multithreading.zh.md) in Go, one subcommand per listing, printing what the
// Python prints. This file only reads the command line and calls the listing;
// the listings live in one file per tutorial section.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"time"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitCode(err))
}

// errUsage reports a command-line mistake that run has already explained on
// stderr.
var errUsage = errors.New("usage error")

// exitCode maps run's error to the exit status: 2 for usage, 130 for Ctrl-C
// (as shells report it), 1 for failure.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errInterrupted):
		return 130
	default:
		return 1
	}
}

// A command is one subcommand: the tutorial section it ports and a function
// that parses its flags and runs it.
type command struct {
	name, section, summary string
	run                    func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"loop", "多线程", "a thread named LoopThread counts to 5", runLoop},
	{"download", "多线程", "two downloads at once; --task: the DownloadTask subclass", runDownload},
	{"bank", "线程之间的通信, LOCK", "100 deposits of ¥1; --lock=false loses them, --chan uses a teller", runBank},
	{"deadlock", "LCOK", "two transfers lock two accounts in opposite orders and deadlock; --ordered: one order", runDeadlock},
	{"spin", "GIL", "busy-loop goroutines; prints how many cores they used", runSpin},
	{"tasks", "进程 VS 线程", "--kind io: many waiting tasks at once; --kind cpu: one job over more and more goroutines", runTasks},
	{"local", "ThreadLocal", "a student per goroutine in a context value; --dict: global_dict", runLocal},
	{"master", "分布式进程", "task_master.py: puts tasks in a queue served to workers", runMaster},
	{"worker", "分布式进程", "task_worker.py: takes tasks from a master and puts results", runWorker},
}

// run executes the command line args (without the program name). Output goes
// to stdout and stderr; the error decides the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Goroutines print concurrently: lock the writers so lines stay whole.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		printUsage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: multithreading %s [flags]\n\n%s (tutorial section %s).\n\n", c.name, c.summary, c.section)
			fs.PrintDefaults()
		}
		err := withTrace(fs, func() error { return c.run(ctx, fs, args[1:], stdout, stderr) })
		if err != nil && !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
		}
		return err
	}
	fmt.Fprintf(stderr, "multithreading: unknown command %q\n", args[0])
	printUsage(stderr)
	return errUsage
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: multithreading <command> [flags]\n\nThe listings of the tutorial 多线程, in Go:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s: %s\n", c.name, c.section, c.summary)
	}
	fmt.Fprint(w, "\nRun 'multithreading <command> -h' for a command's flags.\n")
}

// parse parses a command's flags. The flag package has already printed any
// error and the usage; a command that takes no arguments rejects leftovers.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		return usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// usagef reports a bad flag value in one line, then the command's usage.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// validate reports the first failed check as a usage error.
func validate(fs *flag.FlagSet, checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return usagef(fs, "%v", err)
		}
	}
	return nil
}

// positive checks that a count or duration flag is above zero.
func positive[T int | time.Duration](name string, value T) error {
	if value <= 0 {
		return fmt.Errorf("--%s must be positive, not %v", name, value)
	}
	return nil
}

// notNegative checks that a count or duration flag is zero or more.
func notNegative[T int | time.Duration](name string, value T) error {
	if value < 0 {
		return fmt.Errorf("--%s must not be negative, not %v", name, value)
	}
	return nil
}

// atMost checks that a count or duration flag is no more than limit.
func atMost[T int | time.Duration](name string, value, limit T) error {
	if value > limit {
		return fmt.Errorf("--%s must be at most %v, not %v", name, limit, value)
	}
	return nil
}

// hostPort checks that an address flag is host:port.
func hostPort(name, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--%s %q: want host:port, as in 127.0.0.1:5000", name, addr)
	}
	return nil
}

func runLoop(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	tick := fs.Duration("tick", time.Second, "the pause after each count (the listing's time.sleep(1))")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validate(fs, notNegative("tick", *tick)); err != nil {
		return err
	}
	loopMain(withThreadName(ctx, "MainThread"), stdout, *tick)
	return nil
}

func runDownload(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	task := fs.Bool("task", false, "run the DownloadTask listing (a Thread subclass) instead of Thread(target=download)")
	second := fs.Duration("second", time.Second, "how long one of the tutorial's seconds lasts; all printed times are in these seconds")
	seed := fs.Uint64("seed", 0, "seed for randint, to repeat a run (0: a random seed)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validate(fs, positive("second", *second)); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = randomSeed()
	}
	if *task {
		downloadTaskMain(stdout, *seed, *second)
	} else {
		downloadMain(stdout, *seed, *second)
	}
	return nil
}

func runBank(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	lock := fs.Bool("lock", true, "guard the balance with a sync.Mutex (the LOCK listing); false: the unprotected first listing")
	useChan := fs.Bool("chan", false, "confine the balance to a teller goroutine fed by channels, with no lock")
	depositors := fs.Int("depositors", 100, "how many goroutines each deposit ¥1")
	delay := fs.Duration("delay", 10*time.Millisecond, "time to process one deposit (the listing's sleep(0.01))")
	timed := fs.Bool("time", false, "then say how long the deposits took, to show what the lock costs")
	if err := parse(fs, args); err != nil {
		return err
	}
	var chanWithoutLock error
	if *useChan && !*lock {
		chanWithoutLock = errors.New("--chan needs no lock: leave out --lock=false")
	}
	if err := validate(fs, positive("depositors", *depositors), notNegative("delay", *delay), chanWithoutLock); err != nil {
		return err
	}
	var account bankAccount
	switch {
	case *useChan:
		ctx, stopTeller := context.WithCancel(ctx)
		defer stopTeller()
		account = NewTellerAccount(ctx, *delay)
	case *lock:
		account = &Account{processing: *delay}
	default:
		account = &UnsafeAccount{processing: *delay}
	}
	bank(ctx, stdout, account, *depositors, *timed)
	return nil
}

func runDeadlock(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	ordered := fs.Bool("ordered", false, "lock the accounts in one order, by id: the fix")
	pause := fs.Duration("pause", 10*time.Millisecond, "with --ordered: the pause between a transfer's two locks")
	watchdog := fs.Duration("watchdog", 2*time.Second, "how long the transfers may take before the program reports a deadlock (0: leave it to Go's runtime)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var runtimeCannotTell error
	if *watchdog == 0 {
		runtimeCannotTell = whyRuntimeCannotTell()
	}
	if err := validate(fs, notNegative("pause", *pause), notNegative("watchdog", *watchdog), runtimeCannotTell); err != nil {
		return err
	}
	cfg := deadlockConfig{ordered: *ordered, pause: *pause, watchdog: *watchdog}
	return deadlockMain(ctx, stdout, stderr, cfg)
}

func runSpin(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	goroutines := fs.Int("goroutines", runtime.NumCPU(), "how many goroutines busy-loop")
	duration := fs.Duration("for", 5*time.Second, "how long they loop")
	gomaxprocs := fs.Int("gomaxprocs", 0, "how many cores Go may run goroutines on at once (0: all); 1 gives the GIL's picture")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validate(fs, positive("goroutines", *goroutines), positive("for", *duration), notNegative("gomaxprocs", *gomaxprocs)); err != nil {
		return err
	}
	if *gomaxprocs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*gomaxprocs))
	}
	return spin(ctx, stdout, *goroutines, *duration)
}

func runTasks(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	kind := fs.String("kind", "io", "io: tasks that wait; cpu: a job that computes")
	n := fs.Int("n", 5000, fmt.Sprintf("io: how many tasks wait at once (at most %d with --os-threads); cpu: the \"many\" goroutines the job is split over", maxOSThreadTasks))
	wait := fs.Duration("wait", 100*time.Millisecond, "io: how long each task waits")
	osThreads := fs.Bool("os-threads", false, "io: run each task on an OS thread of its own, the tutorial's kind of thread")
	limit := fs.Int("limit", 3_000_000, "cpu: count the primes below this")
	if err := parse(fs, args); err != nil {
		return err
	}
	var badKind, threadsForCPU, tooManyThreads error
	if *kind != "io" && *kind != "cpu" {
		badKind = fmt.Errorf("--kind must be io or cpu, not %q", *kind)
	}
	if *osThreads && *kind == "cpu" {
		threadsForCPU = errors.New("--os-threads goes with --kind io")
	}
	if *osThreads && *n > maxOSThreadTasks {
		// Past Go's limit of 10,000 threads the runtime would stop the program.
		tooManyThreads = fmt.Errorf("--n must be at most %d with --os-threads, not %d: Go stops a program that uses more than 10000 OS threads", maxOSThreadTasks, *n)
	}
	if err := validate(fs, badKind, positive("n", *n), notNegative("wait", *wait), positive("limit", *limit),
		threadsForCPU, tooManyThreads); err != nil {
		return err
	}
	if *kind == "cpu" {
		cpuBound(ctx, stdout, *limit, *n)
		return nil
	}
	return ioBound(ctx, stdout, *n, *wait, *osThreads)
}

func runLocal(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	dict := fs.Bool("dict", false, "run the global_dict listing: a map keyed by thread name, behind a lock")
	pass := fs.Bool("pass", false, "run the first fragment: the student passed down by hand, from function to function")
	if err := parse(fs, args); err != nil {
		return err
	}
	var both error
	if *dict && *pass {
		both = errors.New("--dict and --pass are two different fragments: choose one")
	}
	if err := validate(fs, both); err != nil {
		return err
	}
	switch {
	case *dict:
		localDictMain(ctx, stdout)
	case *pass:
		localPassMain(ctx, stdout)
	default:
		localMain(ctx, stdout)
	}
	return nil
}

// authkeyEnv names the environment variable that can hold the authkey, so
// that it need not appear in the command line (and the process list).
const authkeyEnv = "TASK_AUTHKEY"

// authkeyFlag defines --authkey; the key comes from the flag, else from
// $TASK_AUTHKEY, else it is the tutorial's.
func authkeyFlag(fs *flag.FlagSet) func() []byte {
	key := fs.String("authkey", "", "the shared secret (default: $"+authkeyEnv+", or the tutorial's \"hello world\")")
	return func() []byte {
		switch {
		case *key != "":
			return []byte(*key)
		case os.Getenv(authkeyEnv) != "":
			return []byte(os.Getenv(authkeyEnv))
		default:
			return []byte("hello world")
		}
	}
}

func runMaster(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:5000", "the address to serve the queues on (port 0: any free port, printed on stderr)")
	authkey := authkeyFlag(fs)
	tasks := fs.Int("tasks", 10, "how many tasks to put")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for each result (the listing's result.get(timeout=10))")
	seed := fs.Uint64("seed", 0, "seed for the tasks' random numbers, to repeat a run (0: a random seed)")
	lease := fs.Duration("lease", 30*time.Second, "how long a worker may hold a task before it goes to the next worker that asks")
	quiet := fs.Bool("quiet", false, "print no line per task, only the number of tasks per second at the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validate(fs, hostPort("addr", *addr), positive("tasks", *tasks), atMost("tasks", *tasks, maxTasks),
		positive("timeout", *timeout), positive("lease", *lease)); err != nil {
		return err
	}
	if *seed == 0 {
		*seed = randomSeed()
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	cfg := masterConfig{
		addr: *addr, authkey: authkey(), tasks: *tasks, timeout: *timeout, seed: *seed, lease: *lease,
	}
	if *quiet {
		return quietMaster(ctx, stdout, stderr, cfg)
	}
	return taskMaster(ctx, stdout, stderr, cfg)
}

func runWorker(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	server := fs.String("server", "127.0.0.1:5000", "the master's address")
	authkey := authkeyFlag(fs)
	tries := fs.Int("tries", 10, "how many times to take a task (0: until the master has none left or is gone)")
	getTimeout := fs.Duration("get-timeout", time.Second, "how long each try waits for a task (the listing's task.get(timeout=1))")
	work := fs.Duration("work", time.Second, "how long one task takes (the listing's time.sleep(1))")
	jobs := fs.Int("jobs", 1, "how many calls to the master to keep in flight at once")
	batch := fs.Int("batch", 0, fmt.Sprintf("how many tasks to take per call (0: one, or %d with --work 0)", autoBatch))
	quiet := fs.Bool("quiet", false, "print no line per task")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := validate(fs, hostPort("server", *server), notNegative("tries", *tries),
		notNegative("get-timeout", *getTimeout), atMost("get-timeout", *getTimeout, maxWait),
		notNegative("work", *work), positive("jobs", *jobs), notNegative("batch", *batch)); err != nil {
		return err
	}
	if *batch == 0 {
		*batch = 1
		if *work == 0 {
			*batch = autoBatch
		}
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	cfg := workerConfig{
		server: *server, authkey: authkey(), tries: *tries, getTimeout: *getTimeout, work: *work,
		jobs: *jobs, batch: *batch, quiet: *quiet,
	}
	if cfg.jobs == 1 && cfg.batch == 1 && !cfg.quiet {
		return taskWorker(ctx, stdout, cfg) // the tutorial's listing
	}
	return batchWorker(ctx, stdout, cfg)
}

// syncWriter serializes writes, as Python's print does under the GIL.
type syncWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// randomSeed picks a seed for a run that was given none.
func randomSeed() uint64 {
	for {
		if seed := rand.Uint64(); seed != 0 {
			return seed
		}
	}
}
