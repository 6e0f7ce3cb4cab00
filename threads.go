// Section 多线程 of the tutorial, and the GIL paragraph after 线程之间的通信.
//
// Python's threading.Thread becomes a goroutine started with sync.WaitGroup.Go,
// and t.join() becomes wg.Wait(). Goroutines have no names, so the name that
// threading.current_thread().name would print travels in a context value.
// Unlike Python's threads, goroutines run Go code on every core at once: spin
// measures it.
package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// threadNameKey is the context key under which a goroutine's name travels.
type threadNameKey struct{}

// withThreadName is the name= argument of threading.Thread.
func withThreadName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, threadNameKey{}, name)
}

// currentThread is the twin of threading.current_thread().name.
func currentThread(ctx context.Context) string {
	if name, ok := ctx.Value(threadNameKey{}).(string); ok {
		return name
	}
	return "MainThread"
}

// loop is the code the new thread runs (Python: def loop()).
// tick is the tutorial's time.sleep(1).
func loop(ctx context.Context, out io.Writer, tick time.Duration) {
	fmt.Fprintf(out, "thread %s is running...\n", currentThread(ctx))
	n := 0
	for n < 5 {
		n = n + 1
		fmt.Fprintf(out, "thread %s >>> %d\n", currentThread(ctx), n)
		time.Sleep(tick)
	}
	fmt.Fprintf(out, "thread %s ended.\n", currentThread(ctx))
}

// loopMain is the listing's if __name__ == '__main__': block.
func loopMain(ctx context.Context, out io.Writer, tick time.Duration) {
	fmt.Fprintf(out, "thread %s is running...\n", currentThread(ctx))
	var t sync.WaitGroup
	t.Go(func() { loop(withThreadName(ctx, "LoopThread"), out, tick) }) // t.start()
	t.Wait()                                                            // t.join()
	fmt.Fprintf(out, "thread %s ended.\n", currentThread(ctx))
}

// The two files of the download listings.
const (
	pdfFile = "Python从入门到精通.pdf"
	aviFile = "Peking Hot.avi"
)

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
	wg.Go(func() { download(out, pdfFile, newRand(seed, 1), second) }) // t1.start()
	wg.Go(func() { download(out, aviFile, newRand(seed, 2), second) }) // t2.start()
	wg.Wait()                                                          // t1.join(); t2.join()
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
	t1 := &DownloadTask{filename: pdfFile, rng: newRand(seed, 1), second: second}
	t2 := &DownloadTask{filename: aviFile, rng: newRand(seed, 2), second: second}
	var wg sync.WaitGroup
	wg.Go(func() { t1.Run(out) }) // t1.start()
	wg.Go(func() { t2.Run(out) }) // t2.start()
	wg.Wait()                     // t1.join(); t2.join()
	end := time.Now()
	fmt.Fprintf(out, "总共耗费了%.2f秒.\n", float64(end.Sub(start))/float64(second))
}

// spin runs the experiment the GIL paragraph only describes: "start a few
// threads that loop forever". Python's threads take turns on one core; these
// goroutines run on as many cores as GOMAXPROCS allows. The process reads its
// own CPU time, so the figure it prints needs no outside tool.
func spin(out io.Writer, goroutines int, duration time.Duration) error {
	fmt.Fprintf(out, "%d goroutines spin for %v (GOMAXPROCS %d)\n",
		goroutines, duration, runtime.GOMAXPROCS(0))
	before, err := cpuTime()
	if err != nil {
		return err
	}
	start := time.Now()

	var stop atomic.Bool // the loops' only exit: Python's `while True` has none
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for !stop.Load() {
			}
		})
	}
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()

	wall := time.Since(start)
	after, err := cpuTime()
	if err != nil {
		return err
	}
	cores := float64(after-before) / float64(wall)
	fmt.Fprintf(out, "used %.2f of %d cores\n", cores, runtime.NumCPU())
	return nil
}
