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
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/master"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
	"multithreading/internal/worker"
)

func main() {
	err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(cli.ExitCode(err))
}

// A command is one subcommand: the tutorial section it ports (its heading as
// the tutorial writes it), a summary (a line in Chinese, then the same in
// English), and a function that parses its flags and runs it.
type command struct {
	name, section, summary string
	run                    func(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"loop", "多线程", "线程 LoopThread 从 1 数到 5\na thread named LoopThread counts to 5", runLoop},
	{"download", "多线程", "同时下载两个文件；--task：继承 Thread 的 DownloadTask\ntwo downloads at once; --task: the DownloadTask subclass", runDownload},
	{"bank", "线程之间的通信, LCOK", "100 个线程各存 1 元，加锁；--lock=false：第一个示例，不加锁；--chan：出纳 goroutine；--time：计时\n100 deposits of ¥1, locked; --lock=false: the first listing, unlocked; --chan: a teller; --time: timed", runBank},
	{"deadlock", "LCOK", "两笔转账以相反的顺序锁两个账户，死锁；--ordered：按同一顺序加锁\ntwo transfers lock two accounts in opposite orders and deadlock; --ordered: one order", runDeadlock},
	{"spin", "LCOK (GIL)", "几个死循环的 goroutine，报告它们用了几个核；--python：再用 Python 的线程和进程各跑一遍，列表对比\nbusy-loop goroutines; prints how many cores they used; --python: Python's threads and processes too, side by side", runSpin},
	{"tasks", "进程 VS 线程", "--kind io：大量同时等待的任务（--os-threads：每个任务一个系统线程）；--kind cpu：一个计算分给越来越多的 goroutine\n--kind io: many waiting tasks at once (--os-threads: an OS thread each); --kind cpu: one job over more and more goroutines", runTasks},
	{"local", "ThreadLocal", "每个 goroutine 的学生放在 context 里；--dict：global_dict；--pass：层层传参\na student per goroutine in a context value; --dict: global_dict; --pass: passed down by hand", runLocal},
	{"master", "分布式进程", "task_master.py，把任务放进队列，分给 worker\ntask_master.py: puts tasks in a queue served to workers", runMaster},
	{"worker", "分布式进程", "task_worker.py，从 master 取任务，交回结果\ntask_worker.py: takes tasks from a master and puts results", runWorker},
}

// run executes the command line args (without the program name). Output goes
// to stdout and stderr; the error decides the exit code. Help that was asked
// for goes to stdout; the usage after a mistake, to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Goroutines print concurrently: lock the writers so lines stay whole.
	stdout, stderr = &syncWriter{w: stdout}, &syncWriter{w: stderr}
	switch {
	case len(args) == 0:
		printUsage(stderr)
		return cli.ErrUsage
	case args[0] == "help":
		return help(ctx, args[1:], stdout, stderr)
	case isHelpFlag(args[0]):
		printUsage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { printCommandUsage(fs.Output(), c, fs) }
		err := cli.WithTrace(fs, func() error { return c.run(ctx, fs, args[1:], stdout, stderr) })
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.SetOutput(stdout)
			fs.Usage()
			return nil
		case err != nil && !errors.Is(err, cli.ErrUsage):
			cli.SayWithin(stderr, 500*time.Millisecond, fmt.Sprintf("%s: %v\n", c.name, err))
		}
		return err
	}
	fmt.Fprintf(stderr, "unknown command %q\n", args[0])
	printUsage(stderr)
	return cli.ErrUsage
}

// help runs "go run . help [command]": the usage, or a command's, on stdout.
func help(ctx context.Context, topics []string, stdout, stderr io.Writer) error {
	switch {
	case len(topics) > 1:
		fmt.Fprintf(stderr, "help: unexpected argument %q\n", topics[1])
	case len(topics) == 0 || topics[0] == "help" || isHelpFlag(topics[0]):
		printUsage(stdout)
		return nil
	case slices.ContainsFunc(commands, func(c command) bool { return c.name == topics[0] }):
		return run(ctx, []string{topics[0], "-h"}, stdout, stderr)
	default:
		fmt.Fprintf(stderr, "help: unknown command %q\n", topics[0])
	}
	printUsage(stderr)
	return cli.ErrUsage
}

// isHelpFlag reports whether arg asks for help as the flag package spells it.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// printUsage prints the commands, as the reader types them: go run . CMD.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `usage: go run . <command> [flags]
       go run . help <command>

教程《多线程》的示例，用 Go 写成：每个命令运行一个示例，输出与 Python 示例相同。
The listings of the tutorial 多线程, in Go: each command prints what its Python prints.

`)
	for _, c := range commands {
		zh, en, _ := strings.Cut(c.summary, "\n")
		fmt.Fprintf(w, "  %-9s %s：%s\n", c.name, c.section, zh)
		if en != "" {
			fmt.Fprintf(w, "  %-9s %s\n", "", en)
		}
	}
	fmt.Fprint(w, "\n命令的参数 / a command's flags: go run . help <command>, or go run . <command> -h\n")
}

// printCommandUsage prints one command's usage and its flags.
func printCommandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: go run . %s [flags]\n\n%s\n(教程章节 / tutorial section: %s)\n\nflags:\n", c.name, c.summary, c.section)
	cli.PrintFlags(w, fs)
}

func runLoop(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	tick := fs.Duration("tick", time.Second, "the pause after each count (the listing's time.sleep(1))")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.Validate(fs, cli.NotNegative("tick", *tick)); err != nil {
		return err
	}
	loopMain(ctx, stdout, *tick)
	return nil
}

func runDownload(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	task := fs.Bool("task", false, "run the DownloadTask listing (a Thread subclass) instead of Thread(target=download)")
	second := fs.Duration("second", time.Second, "how long one of the tutorial's seconds lasts; all printed times are in these seconds")
	seed := fs.Uint64("seed", 0, "seed for randint, to repeat a run (0: a random seed)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.Validate(fs, cli.Positive("second", *second)); err != nil {
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
	lock := fs.Bool("lock", true, "guard the balance with a sync.Mutex (the LCOK listing); false: the unprotected first listing")
	useChan := fs.Bool("chan", false, "confine the balance to a teller goroutine fed by channels, with no lock")
	depositors := fs.Int("depositors", 100, "how many goroutines each deposit ¥1")
	delay := fs.Duration("delay", 10*time.Millisecond, "time to process one deposit (the listing's sleep(0.01))")
	timed := fs.Bool("time", false, "then say how long the deposits took, to show what the lock costs")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var chanWithoutLock error
	if *useChan && !*lock {
		chanWithoutLock = errors.New("--chan needs no lock: leave out --lock=false")
	}
	if err := cli.Validate(fs, cli.Positive("depositors", *depositors), cli.NotNegative("delay", *delay), chanWithoutLock); err != nil {
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
	bank(stdout, account, *depositors, *timed)
	return nil
}

func runDeadlock(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	ordered := fs.Bool("ordered", false, "lock the accounts in one order, by id: the fix")
	pause := fs.Duration("pause", 10*time.Millisecond, "with --ordered: the pause between a transfer's two locks")
	watchdog := fs.Duration("watchdog", 2*time.Second, "how long the transfers may take before the program reports a deadlock (0: leave it to Go's runtime)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var runtimeCannotTell error
	if *watchdog == 0 {
		runtimeCannotTell = whyRuntimeCannotTell()
	}
	if err := cli.Validate(fs, cli.NotNegative("pause", *pause), cli.NotNegative("watchdog", *watchdog), runtimeCannotTell); err != nil {
		return err
	}
	cfg := deadlockConfig{ordered: *ordered, pause: *pause, watchdog: *watchdog}
	return deadlockMain(ctx, stdout, stderr, cfg)
}

func runSpin(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	goroutines := fs.Int("goroutines", runtime.NumCPU(), "how many goroutines busy-loop (with --python, also how many threads and processes)")
	duration := fs.Duration("for", 5*time.Second, "how long they loop")
	gomaxprocs := fs.Int("gomaxprocs", 0, "how many cores Go may run goroutines on at once (0: all); 1 gives the GIL's picture")
	pythonAsked := cli.OptionalString(fs, "python", "python3", "run the same loops in Python's threads, then in its processes, and show a row for each beside Go's:\n"+
		"--python alone uses python3 on the PATH (and a free-threaded python3.13t there, for its threads); --python=PATH, that interpreter")
	showPython := fs.Bool("show-python", false, "print the Python script that --python runs, to save and run alone")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var tooManyProcesses error
	if *pythonAsked != "" && *goroutines > maxPythonLoops {
		tooManyProcesses = fmt.Errorf("--goroutines must be at most %d with --python, not %d: each loop is a Python process", maxPythonLoops, *goroutines)
	}
	if err := cli.Validate(fs, cli.Positive("goroutines", *goroutines), cli.Positive("for", *duration), cli.NotNegative("gomaxprocs", *gomaxprocs),
		tooManyProcesses); err != nil {
		return err
	}
	if *showPython {
		fmt.Fprint(stdout, spinPython)
		return nil
	}
	if *gomaxprocs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*gomaxprocs))
	}
	if *pythonAsked == "" {
		return spinMain(stdout, *goroutines, *duration)
	}
	// Ctrl-C must stop a Python run too, which runs in a process group of
	// its own, out of the terminal's reach.
	ctx, stop := cli.Interruptible(ctx, stderr)
	defer stop()
	pythons, err := spinPythons(*pythonAsked, stderr)
	if err != nil {
		return err
	}
	return spinSideBySide(ctx, stdout, stderr, pythons, *goroutines, *duration)
}

// maxTasks bounds tasks --n: ten million waiting goroutines take some
// 27 GiB, more than most machines have.
const maxTasks = 10_000_000

func runTasks(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	kind := fs.String("kind", "io", "io: tasks that wait; cpu: a job that computes")
	n := fs.Int("n", 5000, fmt.Sprintf("io: how many tasks wait at once (at most %d with --os-threads); cpu: the \"many\" goroutines the job is split over", maxOSThreadTasks))
	wait := fs.Duration("wait", 100*time.Millisecond, "io: how long each task waits")
	osThreads := fs.Bool("os-threads", false, "io: run each task on an OS thread of its own, the tutorial's kind of thread")
	limit := fs.Int("limit", 3_000_000, "cpu: count the primes below this")
	if err := cli.Parse(fs, args); err != nil {
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
		tooManyThreads = fmt.Errorf("--n must be at most %d with --os-threads, not %d: Go stops a program that uses more than 10000 OS threads", maxOSThreadTasks, *n)
	}
	if err := cli.Validate(fs, badKind, cli.Positive("n", *n), cli.AtMost("n", *n, maxTasks), cli.NotNegative("wait", *wait), cli.Positive("limit", *limit),
		threadsForCPU, tooManyThreads); err != nil {
		return err
	}
	if *kind == "cpu" {
		cpuBound(stdout, *limit, *n)
		return nil
	}
	warnOfMemory(stderr, *n, *osThreads)
	return ioBound(stdout, *n, *wait, *osThreads)
}

func runLocal(ctx context.Context, fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	dict := fs.Bool("dict", false, "run the global_dict listing: a map keyed by thread name, behind a lock")
	pass := fs.Bool("pass", false, "run the first fragment: the student passed down by hand, from function to function")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var both error
	if *dict && *pass {
		both = errors.New("--dict and --pass are two different fragments: choose one")
	}
	if err := cli.Validate(fs, both); err != nil {
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
	lease := fs.Duration("lease", 3*time.Second, "how long a task stays with a worker that stops renewing it (a live worker renews it every third of this); with --timeout alone, at most half the timeout")
	quiet := fs.Bool("quiet", false, "print no line per task, only the number of tasks per second at the end")
	files := fs.String("files", "", "put one task per file this pattern matches, in quotes, as 'logs/*.log': the file's path, not the file (the tutorial's last advice); workers read it from a disk they share")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	// A stopped worker's task must come back while the master still waits
	// for it: a lease that was not given fits in half the wait, and only a
	// lease given as long as the wait is refused.
	if !isSet(fs, "lease") {
		*lease = min(*lease, *timeout/2)
	}
	var leaseOutlastsWait error
	if *lease >= *timeout {
		leaseOutlastsWait = fmt.Errorf("--lease %v must be shorter than --timeout %v: a stopped worker's task must come back while the master still waits for it", *lease, *timeout)
	}
	var paths []string
	var filesErr error
	if isSet(fs, "files") {
		paths, filesErr = matchFiles(fs, *files)
		*tasks = len(paths)
	}
	if err := cli.Validate(fs, filesErr, cli.HostPort("addr", *addr), cli.Port("addr", *addr, 0), cli.Positive("tasks", *tasks), cli.AtMost("tasks", *tasks, queue.MaxTasks),
		cli.AtLeast("timeout", *timeout, 2*master.MinLease), cli.AtMost("timeout", *timeout, time.Hour),
		cli.AtLeast("lease", *lease, master.MinLease), cli.AtMost("lease", *lease, time.Hour), leaseOutlastsWait); err != nil {
		return err
	}
	warnOfPathsOut(stderr, paths)
	if *seed == 0 {
		*seed = randomSeed()
	}
	ctx, stop := cli.Interruptible(ctx, stderr)
	defer stop()
	// The master's log must never hold up its queue (master.DroppingWriter).
	masterLog := master.NewDroppingWriter(stderr)
	defer masterLog.Close(500 * time.Millisecond)
	stderr = masterLog
	cfg := masterConfig{
		addr: *addr, authkey: authkey(), tasks: *tasks, files: paths, timeout: *timeout, seed: *seed, lease: *lease,
	}
	if *quiet {
		rng := newRand(cfg.seed, 0)
		task := func() int { return randint(rng, 0, 10000) } // as taskMaster draws them
		return master.Quiet(ctx, stdout, cfg.addr, cfg.tasks, task, cfg.timeout,
			master.Config{Authkey: cfg.authkey, Lease: cfg.lease, PythonLease: cfg.timeout / 2, Log: stderr})
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
	batch := fs.Int("batch", 0, fmt.Sprintf("how many tasks to take per call (0: one, or %d with --work 0)", worker.AutoBatch))
	quiet := fs.Bool("quiet", false, "print no line per task, and at the end, the peak memory on stderr")
	retry := fs.Duration("retry", 0, "how long to keep trying to reach a master that is not there yet (0: one try, as the tutorial's worker)")
	rootDir := fs.String("root", "", "the directory that a master's file paths (master --files) are relative to: the shared disk, as this machine mounts it; the worker reads nothing outside it (default: it reads no file)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	var busyPoll error
	if *tries == 0 && *getTimeout < worker.MinPoll {
		busyPoll = fmt.Errorf("--tries 0 needs a --get-timeout of at least %v, or the worker asks the master without pause", worker.MinPoll)
	}
	if err := cli.Validate(fs, cli.HostPort("server", *server), cli.Port("server", *server, 1), cli.NotNegative("tries", *tries),
		cli.NotNegative("get-timeout", *getTimeout), cli.AtMost("get-timeout", *getTimeout, rpcwire.MaxWait), busyPoll,
		cli.NotNegative("work", *work), cli.Positive("jobs", *jobs), cli.AtMost("jobs", *jobs, worker.MaxJobs),
		cli.NotNegative("batch", *batch), cli.AtMost("batch", *batch, rpcwire.MaxBatch),
		cli.NotNegative("retry", *retry), cli.AtMost("retry", *retry, time.Hour)); err != nil {
		return err
	}
	var root *os.Root // a worker reads files only where it is told to
	if *rootDir != "" {
		var err error
		if root, err = os.OpenRoot(*rootDir); err != nil {
			return cli.Usagef(fs, "--root %q: %v", *rootDir, systemError(err))
		}
		defer root.Close()
	}
	if *batch == 0 {
		*batch = 1
		if *work == 0 {
			*batch = worker.AutoBatch
		}
	}
	ctx, stop := cli.Interruptible(ctx, stderr)
	defer stop()
	if *jobs == 1 && *batch == 1 && !*quiet {
		cfg := workerConfig{
			server: *server, authkey: authkey(), tries: *tries, getTimeout: *getTimeout, work: *work, retry: *retry, root: root,
		}
		return taskWorker(ctx, stdout, stderr, cfg) // the tutorial's listing
	}
	cfg := worker.BatchConfig{
		Server: *server, Config: worker.Config{Authkey: authkey(), Retry: *retry, Log: stderr}, Tries: *tries, GetTimeout: *getTimeout, Work: *work,
		Jobs: *jobs, Batch: *batch, Quiet: *quiet,
	}
	squareN := square
	if *quiet {
		squareN = worker.FastSquare // square's text, faster (TestFastSquareIsSquare)
	}
	return worker.Batch(ctx, stdout, cfg, func(t queue.Task) string {
		if t.Path != "" { // as the listing does
			return summarize(ctx, root, t.Path)
		}
		return squareN(t.N)
	})
}

// matchFiles is master --files: the paths that pattern matches, sorted,
// with slashes, each one a task. The flags that say what numbers to put do
// not go with it.
func matchFiles(fs *flag.FlagSet, pattern string) ([]string, error) {
	for _, numbers := range []string{"tasks", "seed", "quiet"} {
		if isSet(fs, numbers) {
			return nil, fmt.Errorf("--files and --%s do not go together: --files puts one task per file it matches, with a line for each", numbers)
		}
	}
	matches, err := filepath.Glob(pattern)
	// A directory is no log file: a worker would refuse it.
	matches = slices.DeleteFunc(matches, func(path string) bool {
		info, err := os.Stat(path)
		return err == nil && info.IsDir()
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("--files %q: %v", pattern, err)
	case len(matches) == 0:
		return nil, fmt.Errorf("--files %q matches no file", pattern)
	case len(matches) > queue.MaxTasks:
		return nil, fmt.Errorf("--files %q matches %d files, more than the %d tasks a master may put", pattern, len(matches), queue.MaxTasks)
	}
	slices.Sort(matches)
	for i, match := range matches {
		matches[i] = filepath.ToSlash(match)
		if err := queue.CheckPath(matches[i]); err != nil {
			return nil, fmt.Errorf("--files %q: %v, which cannot be a task", pattern, err)
		}
	}
	return matches, nil
}

// warnOfPathsOut says, in one line, if some of the paths lead out of the
// master's directory: a worker reads only under its --root, and will
// refuse them, but the master cannot know the worker's root, and leaves
// it to the worker.
func warnOfPathsOut(stderr io.Writer, paths []string) {
	var out []string
	for _, path := range paths {
		if !filepath.IsLocal(filepath.FromSlash(path)) {
			out = append(out, path)
		}
	}
	if len(out) > 0 {
		fmt.Fprintf(stderr, "master: %d of the %d paths lead out of this directory, as %s: workers read only under their --root, and will refuse them\n", len(out), len(paths), out[0])
	}
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

// isSet reports whether the command line gave the flag name.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
