// The throughput mode of section 分布式进程: master --quiet, the tutorial's
// queue pushed to what the machine can do, printing one line at the end.
// Leases and exactly-once results are the queue's, so they hold here too.

package master

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/logging"
	"multithreading/internal/queue"
	"multithreading/internal/rusage"
)

// Quiet is the tutorial's master without a line per task, for the
// task numbers that task gives. Its one line says how
// many results came in how long, from the first task a worker took; its
// peak memory, and how many tasks went back in the queue, go to stderr.
func Quiet(ctx context.Context, out io.Writer, addr string, tasks int, task func() int, timeout time.Duration, cfg Config) error {
	stderr := cmp.Or[io.Writer](cfg.Log, io.Discard)
	taskQueue := queue.New(tasks, nil, nil) // results and requeues are only counted
	manager := New(taskQueue, cfg)
	if err := manager.Start(addr); err != nil {
		return err
	}
	defer manager.Shutdown(ctx, 0)
	defer func() { // however the run ends
		if _, _, requeued := taskQueue.Progress(); requeued > 0 {
			fmt.Fprintf(stderr, "master: %d task%s went back in the queue\n", requeued, logging.Plural(requeued))
		}
	}()
	// Listening first lets workers connect while the tasks go in.
	for i := range tasks {
		if i%(1<<16) == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w while putting tasks", cli.Stopped(ctx))
		}
		taskQueue.Put(task())
	}

	// Wait for the last result, failing if none comes for timeout.
	watchdog := time.NewTicker(timeout)
	defer watchdog.Stop()
	lastCount := 0
	for done := false; !done; {
		select {
		case <-taskQueue.Finished():
			done = true
		case <-watchdog.C:
			answered, _, _ := taskQueue.Progress()
			if answered == lastCount {
				return NoResultError(timeout, answered, taskQueue)
			}
			lastCount = answered
		case <-ctx.Done():
			answered, _, _ := taskQueue.Progress()
			return fmt.Errorf("%w after %d of %d results", cli.Stopped(ctx), answered, tasks)
		}
	}
	_, since, _ := taskQueue.Progress()
	elapsed := time.Since(since)
	manager.Shutdown(ctx, ShutdownGrace)
	fmt.Fprintf(out, "%d results in %.2fs (%.0f tasks/s)\n", tasks, elapsed.Seconds(), float64(tasks)/elapsed.Seconds())
	if peak, err := rusage.PeakMemory(); err == nil {
		fmt.Fprintf(stderr, "master: peak memory %.1f MiB\n", float64(peak)/(1<<20))
	}
	return nil
}

// NoResultError is the master's error when results stop coming.
func NoResultError(timeout time.Duration, answered int, taskQueue *queue.Queue) error {
	return fmt.Errorf("no result within %v: %d of %d results arrived; %s",
		timeout, answered, taskQueue.Total(), taskQueue.Missing())
}

// Timeout is the tutorial's result.get(timeout=...): a channel that fires
// once timeout has passed with no result. In a queue of paths, a worker
// still reading its file, and renewing its lease, holds it off: a log may
// take longer to read than the wait, and its worker is alive.
func Timeout(timeout time.Duration, taskQueue *queue.Queue) <-chan time.Time {
	if !taskQueue.HandsOutPaths() {
		return time.After(timeout)
	}
	fired := make(chan time.Time, 1) // the timer's goroutine never waits for a reader
	var timer *time.Timer
	timer = time.AfterFunc(timeout, func() {
		if taskQueue.RenewedWithin(timeout) {
			timer.Reset(timeout)
			return
		}
		fired <- time.Now()
	})
	return fired
}
