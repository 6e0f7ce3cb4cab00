// Throughput mode of section 分布式进程: the tutorial's queue, pushed to what
// the machine can do, for `master --quiet` and `worker --quiet --jobs J`.
//
// taskMaster and taskWorker in distributed.go stay the tutorial's listings:
// one task per call, a line per task. Here the master prints one line at the
// end, and a worker keeps J calls in flight on its one connection and moves
// many tasks per call. Leases and exactly-once results are the queue's, so
// they hold here too.

package main

import (
	"context"
	"fmt"
	"io"
	"multithreading/internal/cli"
	"multithreading/internal/queue"
	"multithreading/internal/rusage"
	"time"
)

// quietMaster is taskMaster without a line per task. Its one line says how
// many results came in how long, from the first task a worker took; its
// peak memory, and how many tasks went back in the queue, go to stderr.
func quietMaster(ctx context.Context, out, stderr io.Writer, cfg masterConfig) error {
	taskQueue := queue.New(cfg.tasks, nil, nil) // results and requeues are only counted
	manager := newQueueManager(taskQueue, managerConfig{Authkey: cfg.authkey, Lease: cfg.lease, PythonLease: cfg.timeout, Log: stderr})
	if err := manager.start(cfg.addr); err != nil {
		return err
	}
	defer manager.shutdown(ctx, 0)
	defer func() { // however the run ends
		if _, _, requeued := taskQueue.Progress(); requeued > 0 {
			fmt.Fprintf(stderr, "master: %s went back in the queue\n", howMany(requeued, "task"))
		}
	}()
	// Listening first lets workers connect while the tasks go in.
	rng := newRand(cfg.seed, 0)
	for i := range cfg.tasks {
		if i%(1<<16) == 0 && ctx.Err() != nil {
			return fmt.Errorf("%w while putting tasks", cli.Stopped(ctx))
		}
		taskQueue.Put(randint(rng, 0, 10000))
	}

	// Wait for the last result, failing if none comes for cfg.timeout.
	watchdog := time.NewTicker(cfg.timeout)
	defer watchdog.Stop()
	lastCount := 0
	for done := false; !done; {
		select {
		case <-taskQueue.Finished():
			done = true
		case <-watchdog.C:
			answered, _, _ := taskQueue.Progress()
			if answered == lastCount {
				return noResultError(cfg, answered, taskQueue)
			}
			lastCount = answered
		case <-ctx.Done():
			answered, _, _ := taskQueue.Progress()
			return fmt.Errorf("%w after %d of %d results", cli.Stopped(ctx), answered, cfg.tasks)
		}
	}
	_, since, _ := taskQueue.Progress()
	elapsed := time.Since(since)
	manager.shutdown(ctx, shutdownGrace)
	fmt.Fprintf(out, "%d results in %.2fs (%.0f tasks/s)\n", cfg.tasks, elapsed.Seconds(), float64(cfg.tasks)/elapsed.Seconds())
	if peak, err := rusage.PeakMemory(); err == nil {
		fmt.Fprintf(stderr, "master: peak memory %.1f MiB\n", float64(peak)/(1<<20))
	}
	return nil
}
