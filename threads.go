// Section 多线程 of the tutorial, the GIL paragraph after 线程之间的通信, and
// section 进程 VS 线程, which has no listing: tasks makes it one.
//
// Python's threading.Thread(...).start() becomes a go statement, and
// t.join() becomes a sync.WaitGroup's Wait. Goroutines have no names, so the
// name that threading.current_thread().name would print travels in a
// context value (threading.Named). Unlike Python's threads, goroutines
// run Go code on every core at once: spin measures it, and spin --python
// runs the same busy loops in Python's threads and processes beside them.
// And a goroutine is not an OS thread: tasks --os-threads puts each task on
// one, to show the cost.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/python"
	"multithreading/internal/rusage"
	"multithreading/internal/threading"
)

// loop is the code the new thread runs (Python: def loop()).
// tick is the tutorial's time.sleep(1).
func loop(ctx context.Context, out io.Writer, tick time.Duration) {
	fmt.Fprintf(out, "thread %s is running...\n", threading.CurrentThread(ctx))
	n := 0
	for n < 5 {
		n = n + 1
		fmt.Fprintf(out, "thread %s >>> %d\n", threading.CurrentThread(ctx), n)
		time.Sleep(tick)
	}
	fmt.Fprintf(out, "thread %s ended.\n", threading.CurrentThread(ctx))
}

// loopMain is the listing's if __name__ == '__main__': block.
func loopMain(ctx context.Context, out io.Writer, tick time.Duration) {
	fmt.Fprintf(out, "thread %s is running...\n", threading.CurrentThread(ctx))
	// t = threading.Thread(target=loop, name='LoopThread')
	var t sync.WaitGroup
	t.Add(1)
	go func() { // t.start()
		defer t.Done()
		loop(threading.Named(ctx, "LoopThread"), out, tick)
	}()
	t.Wait() // t.join()
	fmt.Fprintf(out, "thread %s ended.\n", threading.CurrentThread(ctx))
}

// The two files of the download listings.
const (
	pdfFile = "Python从入门到精通.pdf"
	aviFile = "Peking Hot.avi"
)

// download is the target of Thread(target=download, args=(filename,)).
// second is how long one of the tutorial's seconds lasts.
func download(out io.Writer, filename string, rng *rand.Rand, second time.Duration) {
	fmt.Fprintf(out, "开始下载%s...\n", filename)
	timeToDownload := randint(rng, 5, 10)
	time.Sleep(time.Duration(timeToDownload) * second)
	fmt.Fprintf(out, "%s下载完成! 耗费了%d秒\n", filename, timeToDownload)
}

// downloadMain is the main() of the Thread(target=download) listing.
// Its total is in the tutorial's seconds, whatever second lasts.
func downloadMain(out io.Writer, seed uint64, second time.Duration) {
	start := time.Now()
	var wg sync.WaitGroup
	// t1 = Thread(target=download, args=('Python从入门到精通.pdf',)); t1.start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		download(out, pdfFile, newRand(seed, 1), second)
	}()
	// t2 = Thread(target=download, args=('Peking Hot.avi',)); t2.start()
	wg.Add(1)
	go func() {
		defer wg.Done()
		download(out, aviFile, newRand(seed, 2), second)
	}()
	wg.Wait() // t1.join(); t2.join()
	end := time.Now()
	fmt.Fprintf(out, "总共耗费了%.3f秒\n", float64(end.Sub(start))/float64(second))
}

// DownloadTask is the listing's Thread subclass: the fields are what
// __init__ stores, and Run is the overridden run().
type DownloadTask struct {
	filename string
	rng      *rand.Rand
	second   time.Duration
}

// Run downloads the file; a goroutine calls it as Thread.start() calls run().
func (t *DownloadTask) Run(out io.Writer) {
	fmt.Fprintf(out, "开始下载%s...\n", t.filename)
	timeToDownload := randint(t.rng, 5, 10)
	time.Sleep(time.Duration(timeToDownload) * t.second)
	fmt.Fprintf(out, "%s下载完成! 耗费了%d秒\n", t.filename, timeToDownload)
}

// downloadTaskMain is the main() of the DownloadTask listing, which prints
// its total with two decimals and a full stop.
func downloadTaskMain(out io.Writer, seed uint64, second time.Duration) {
	start := time.Now()
	var wg sync.WaitGroup
	t1 := &DownloadTask{filename: pdfFile, rng: newRand(seed, 1), second: second}
	wg.Add(1)
	go func() { // t1.start()
		defer wg.Done()
		t1.Run(out)
	}()
	t2 := &DownloadTask{filename: aviFile, rng: newRand(seed, 2), second: second}
	wg.Add(1)
	go func() { // t2.start()
		defer wg.Done()
		t2.Run(out)
	}()
	wg.Wait() // t1.join(); t2.join()
	end := time.Now()
	fmt.Fprintf(out, "总共耗费了%.2f秒.\n", float64(end.Sub(start))/float64(second))
}

// spinMain runs spin and says how many cores its goroutines kept busy.
func spinMain(out io.Writer, goroutines int, duration time.Duration) error {
	fmt.Fprintf(out, "%s spin for %v (GOMAXPROCS %d)\n",
		howMany(goroutines, "goroutine"), duration, runtime.GOMAXPROCS(0))
	used, err := spin(goroutines, duration)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "used %.2f of %d cores over %.2f s\n", used.Cores(), runtime.NumCPU(), used.Wall.Seconds())
	return nil
}

// spin runs the experiment the GIL paragraph only describes: "start a few
// threads that loop forever". Python's threads take turns on one core; these
// goroutines run on as many cores as GOMAXPROCS allows. The process reads its
// own CPU time, so the figure needs no outside tool.
func spin(goroutines int, duration time.Duration) (rusage.Usage, error) {
	before, err := rusage.CPUTime()
	if err != nil {
		return rusage.Usage{}, err
	}
	start := time.Now()
	// Each loop stops itself at the deadline. Were the main goroutine to sleep
	// and then tell them to stop, it would queue for a core behind every loop
	// still spinning: with 10,000 loops, for over a minute.
	deadline := start.Add(duration)
	var threads sync.WaitGroup
	for range goroutines {
		threads.Add(1)
		go func() {
			defer threads.Done()
			for time.Now().Before(deadline) { // Python's `while True`, with an end
			}
		}()
	}
	threads.Wait()

	wall := time.Since(start)
	after, err := rusage.CPUTime()
	if err != nil {
		return rusage.Usage{}, err
	}
	return rusage.Usage{Wall: wall, CPU: after - before}, nil
}

// spinPython is the experiment in Python, which spin --python runs beside
// spin's goroutines: the listing that the GIL paragraph leaves out, as
// 廖雪峰's tutorial gives it (a thread per core, each running loop()), with
// a deadline, and the paragraph's way out, processes, a word away. The
// comment on spawn is why the CPU time measured from outside is whole.
const spinPython = `# The GIL paragraph's experiment: a few threads that loop forever use one core
# between them; processes, each with a GIL of its own, use a core each.
# Save it and time it (user + sys over real is the number of cores used):
#   go run . spin --show-python > spin.py
#   time python3 spin.py threads 2 5
#   time python3 spin.py processes 2 5
import multiprocessing
import sys
import threading
import time


def loop(deadline):
    x = 0
    while time.time() < deadline:  # the listing's "while True", with an end
        x = x ^ 1


if __name__ == '__main__':
    if len(sys.argv) != 4 or sys.argv[1] not in ('threads', 'processes'):
        sys.exit('usage: python3 spin.py threads|processes LOOPS SECONDS')
    how, loops, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    # spawn starts each process as a child of this one, which join() waits
    # for, so that the CPU time the system counts for this process includes
    # theirs (forkserver, Linux's default since Python 3.14, would hide it).
    multiprocessing.set_start_method('spawn')
    Worker = threading.Thread if how == 'threads' else multiprocessing.Process
    deadline = time.time() + seconds
    workers = []
    for i in range(loops):
        t = Worker(target=loop, args=(deadline,))
        t.start()
        workers.append(t)
    for t in workers:
        t.join()
`

// maxPythonLoops bounds --goroutines with --python: each loop is a Python
// process of its own in the processes row, at some 10 MiB apiece.
const maxPythonLoops = 64

// spinRows is a Python that spin --python runs, and the ways it runs its
// loops: "threads", "processes".
type spinRows struct {
	python.Interpreter
	ways []string
}

// spinSideBySide runs spin's busy loops in each Python's threads and
// processes (spinPython), then in goroutines (spin), and prints a row for
// each as it ends: how many cores each way kept busy. Python's CPU time is
// measured from outside, as the system counts it for the process.
func spinSideBySide(ctx context.Context, out, stderr io.Writer, pythons []spinRows, loops int, duration time.Duration) error {
	type row struct {
		label string
		run   func() (rusage.Usage, error)
	}
	var rows []row
	seconds := strconv.FormatFloat(duration.Seconds(), 'f', -1, 64)
	for _, py := range pythons {
		for _, how := range py.ways {
			label := pythonLabel(py.Interpreter) + " " + how
			rows = append(rows, row{label, func() (rusage.Usage, error) {
				// A Python that hangs must not hang spin: half a minute
				// more than the loops is plenty to start them.
				limit := duration + 30*time.Second
				ctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("%s: no end within %v", label, limit))
				defer cancel()
				return py.RunScript(ctx, stderr, "spin.py", spinPython, how, strconv.Itoa(loops), seconds)
			}})
		}
	}
	goLabel := "Go goroutines"
	if runtime.GOMAXPROCS(0) != runtime.NumCPU() {
		goLabel += fmt.Sprintf(" (GOMAXPROCS %d)", runtime.GOMAXPROCS(0))
	}
	rows = append(rows, row{goLabel, func() (rusage.Usage, error) { return spin(loops, duration) }})

	width := 0
	for _, r := range rows {
		width = max(width, len(r.label))
	}
	fmt.Fprintf(out, "%s for %v, on %d cores:\n", howMany(loops, "busy loop"), duration, runtime.NumCPU())
	fmt.Fprintf(out, "%-*s %8s %8s %6s\n", width, "", "wall", "CPU", "cores")
	var used rusage.Usage
	for _, r := range rows {
		var err error
		if used, err = r.run(); err != nil {
			return err
		}
		if ctx.Err() != nil { // Ctrl-C during a row that does not stop for it
			return cli.Stopped(ctx)
		}
		fmt.Fprintf(out, "%-*s %7.2fs %7.2fs %6.2f\n", width, r.label, used.Wall.Seconds(), used.CPU.Seconds(), used.Cores())
	}
	// The goroutines, last, are the yardstick: if they got too few cores,
	// so did every row, and the lesson is lost in the load.
	if free := float64(min(loops, runtime.GOMAXPROCS(0))); used.Cores() < 0.75*free {
		fmt.Fprintf(stderr, "spin: the goroutines got %.2f of the %.0f cores they could use: other programs are busy, so every row is low; run it again on a quiet machine\n", used.Cores(), free)
	}
	return nil
}

// pythonLabel names a Python in spin's table: "Python 3.12.1", and
// "Python 3.13.0t" for a free-threaded build, running without the GIL.
func pythonLabel(py python.Interpreter) string {
	if py.FreeThreaded {
		return "Python " + py.Version + "t"
	}
	return "Python " + py.Version
}

// spinPythons returns the Pythons that --python asks for: the interpreter
// it names, or, given alone (as python3), python3 on the PATH and beside it
// any free-threaded build, whose threads are the row worth seeing. Without
// python3 it says so on stderr, and spin shows the other rows.
func spinPythons(asked string, stderr io.Writer) ([]spinRows, error) {
	both := []string{"threads", "processes"}
	if asked != "python3" {
		if _, err := exec.LookPath(asked); err != nil {
			return nil, fmt.Errorf("--python=%s: %v", asked, errors.Unwrap(err))
		}
		py, err := python.Ask(asked)
		return []spinRows{{py, both}}, err
	}
	var rows []spinRows
	py, err := python.Ask(asked)
	if err == nil {
		rows = append(rows, spinRows{py, both})
	}
	for _, freeThreaded := range python.FreeThreadedOnPath() {
		if freeThreaded.Version != py.Version || !py.FreeThreaded {
			rows = append(rows, spinRows{freeThreaded, []string{"threads"}})
		}
	}
	if err != nil {
		var notFound *exec.Error
		if errors.As(err, &notFound) {
			err = errors.New("no python3 on the PATH")
		}
		showing := "the Go row only"
		if len(rows) > 0 {
			showing = "the other rows"
		}
		fmt.Fprintf(stderr, "spin: %v; showing %s\n", err, showing)
	}
	return rows, nil
}

// maxOSThreadTasks bounds tasks --os-threads. Go's runtime stops a program
// that uses more than 10,000 OS threads ("fatal error: thread exhaustion"; the
// limit is runtime/debug.SetMaxThreads), as a guard against a runaway, and it
// keeps a few threads of its own.
const maxOSThreadTasks = 9000

// ioBound is the I/O-bound half of 进程 VS 线程: n tasks that each spend
// their time waiting, as on the network or a disk. A goroutine starts with a
// few KiB of stack and a waiting one costs no CPU, so they can all wait at
// once, and the whole takes little more than one wait.
//
// With onOSThreads each task keeps an OS thread to itself, the tutorial's
// kind of thread: the same tasks then show what a goroutine saves.
func ioBound(out io.Writer, n int, wait time.Duration, onOSThreads bool) error {
	runsOn := "goroutine"
	if onOSThreads {
		runsOn = "OS thread"
	}
	if n == 1 {
		fmt.Fprintf(out, "1 %s waits %v\n", runsOn, wait)
	} else {
		fmt.Fprintf(out, "%d %ss each wait %v, all at once\n", n, runsOn, wait)
	}
	before, err := rusage.PeakMemory()
	if err != nil {
		return err
	}
	// All that the tasks allocate stays in use until they end, so a garbage
	// collection in the meantime could free nothing: it would only rescan the
	// growing stacks, again and again (a million tasks: 2.0 s with it, 1.7 s
	// without).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	start := time.Now()
	// Each task waits on a channel, parked as it would be on a socket, until
	// the wait is over. The wait begins once every task exists (a start
	// barrier), so that they really are all waiting at once and the peak
	// memory holds them all; and one timer serves them all.
	var started, finished sync.WaitGroup
	started.Add(n)
	waitOver := make(chan struct{})
	waiter := func() {
		if onOSThreads {
			// Never unlocked, so the thread ends with the goroutine, and
			// while the goroutine waits, its thread waits with it.
			runtime.LockOSThread()
		}
		started.Done()
		<-waitOver
	}
	for range n {
		finished.Go(waiter)
	}
	started.Wait()
	time.Sleep(wait) // every task's wait, at the same time
	close(waitOver)
	finished.Wait()
	elapsed := time.Since(start)
	peak, err := rusage.PeakMemory()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "peak memory %.0f MiB, %.1f KiB more per %s\n",
		float64(peak)/(1<<20), float64(peak-before)/1024/float64(n), runsOn)
	fmt.Fprintf(out, "all done in %.2f s\n", elapsed.Seconds())
	return nil
}

// What a waiting task adds to the peak memory, as tasks --kind io measures
// it on Linux (amd64): 2.7 KiB per goroutine, whatever n (20,000 to a
// million), its 2 KiB stack and the runtime's record of it; 19.5 KiB per
// OS thread (1,000 to 9,000), which adds the pages of its own stack that it
// touches. Besides, the program itself takes some 8 MiB.
const (
	goroutineTaskBytes = 2765
	osThreadTaskBytes  = 19_970
	programBytes       = 8 << 20
	// warnAboveBytes is the estimate past which tasks warns before it runs.
	warnAboveBytes = 1 << 30
)

// ioBoundMemory estimates the peak memory of ioBound:
// programBytes + n × (goroutineTaskBytes or osThreadTaskBytes).
func ioBoundMemory(n int, onOSThreads bool) int64 {
	perTask := int64(goroutineTaskBytes)
	if onOSThreads {
		perTask = osThreadTaskBytes
	}
	return programBytes + int64(n)*perTask
}

// warnOfMemory says before ioBound runs that it will take more than
// warnAboveBytes: a million waiting goroutines fill 2.6 GiB, which the
// reader should hear of before the machine does.
func warnOfMemory(stderr io.Writer, n int, onOSThreads bool) {
	if estimate := ioBoundMemory(n, onOSThreads); estimate > warnAboveBytes {
		runsOn := "goroutines"
		if onOSThreads {
			runsOn = "OS threads"
		}
		fmt.Fprintf(stderr, "tasks: %d waiting %s will take about %.1f GiB of memory; Ctrl-C to stop\n",
			n, runsOn, float64(estimate)/(1<<30))
	}
}

// cpuBound is the compute-bound half: one fixed job, counting the primes
// below limit, split over one goroutine, one per core, and many. Past the
// number of cores, more goroutines only add switching: the speed-up stops.
func cpuBound(out io.Writer, limit, many int) {
	fmt.Fprintf(out, "count the primes below %d with\n", limit)
	var alone time.Duration
	for _, goroutines := range []int{1, runtime.NumCPU(), many} {
		start := time.Now()
		primes := countPrimes(limit, goroutines)
		elapsed := time.Since(start)
		if goroutines == 1 {
			alone = elapsed
		}
		fmt.Fprintf(out, "%8d goroutine%s: %d primes, %.2fx the speed of one, in %.2f s\n",
			goroutines, plural(goroutines), primes, alone.Seconds()/elapsed.Seconds(), elapsed.Seconds())
	}
}

// countPrimes counts the primes below limit by trial division. The numbers
// go out in blocks of primeBlock, dealt round the goroutines like cards, so
// that each gets its share of the large numbers, which cost the most.
func countPrimes(limit, goroutines int) int {
	const primeBlock = 100
	var count atomic.Int64
	var wg sync.WaitGroup
	for k := range goroutines {
		wg.Go(func() {
			found := 0
			for block := k * primeBlock; block < limit; block += goroutines * primeBlock {
				for n := block; n < min(block+primeBlock, limit); n++ {
					if isPrime(n) {
						found++
					}
				}
			}
			count.Add(int64(found))
		})
	}
	wg.Wait()
	return int(count.Load())
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// randint is the twin of random.randint: a random int in [a, b].
func randint(rng *rand.Rand, a, b int) int {
	return a + rng.IntN(b-a+1)
}

// newRand returns the random source of one goroutine. Each goroutine gets
// its own stream of the seed, so a seeded run draws the same numbers however
// the goroutines are scheduled.
func newRand(seed uint64, stream int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(stream)))
}

// plural is "s" for any count but 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// howMany says how many of noun: "1 goroutine", "2 goroutines".
func howMany(n int, noun string) string {
	return fmt.Sprintf("%d %s%s", n, noun, plural(n))
}
