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
	"errors"
	"fmt"
	"io"
	"multithreading/internal/cli"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
	"multithreading/internal/rusage"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// autoBatch is how many tasks a worker with --work 0 asks for at once: enough
// that one call's cost, some tens of microseconds, is small beside its tasks'.
const autoBatch = 512

// maxJobs is the most calls a worker keeps in flight: below the master's
// rpcwire.MaxInFlight, so that a renewal always finds room beside them.
const maxJobs = rpcwire.MaxInFlight / 2

// minPoll is the shortest wait for a task that a worker with no count of
// tries may ask for: any shorter, and it would ask the master without pause.
const minPoll = 10 * time.Millisecond

// quietMaster is taskMaster without a line per task. Its one line says how
// many results came in how long, from the first task a worker took; its
// peak memory, and how many tasks went back in the queue, go to stderr.
func quietMaster(ctx context.Context, out, stderr io.Writer, cfg masterConfig) error {
	taskQueue := queue.New(cfg.tasks, nil, nil) // results and requeues are only counted
	manager := newQueueManager(taskQueue, cfg.authkey, cfg.lease, cfg.timeout, stderr)
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

// batchWorker is taskWorker with cfg.jobs calls in flight at once, each
// moving up to cfg.batch tasks. --tries counts the calls that take tasks.
func batchWorker(ctx context.Context, out, stderr io.Writer, cfg workerConfig) error {
	serverAddr, _, _ := net.SplitHostPort(cfg.server)
	fmt.Fprintf(out, "Connect to server %s...\n", serverAddr)
	m, err := connectQueueManager(ctx, cfg.server, cfg.authkey, cfg.retry, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	task, result := m.getTaskQueue(), m.getResultQueue()

	ctx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	var (
		tries    atomic.Int64
		jobs     sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range cfg.jobs {
		jobs.Go(func() {
			for cfg.tries == 0 || tries.Add(1) <= int64(cfg.tries) {
				tasks, err := task.GetBatch(ctx, cfg.batch, cfg.getTimeout)
				if errors.Is(err, errEmpty) {
					if !cfg.quiet {
						fmt.Fprintln(out, "task queue is empty.")
					}
					continue
				}
				if errors.Is(err, errNoTasksLeft) || (errors.Is(err, errMasterGone) && cfg.tries == 0) {
					return // as in taskWorker
				}
				if err == nil {
					err = runBatch(ctx, out, result, tasks, cfg)
				}
				if err != nil {
					errOnce.Do(func() { firstErr = err; stopJobs() })
					return
				}
			}
		})
	}
	jobs.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintln(out, "worker exit.")
	return nil
}

// runBatch does a batch of tasks and sends their results in one call.
func runBatch(ctx context.Context, out io.Writer, result workerResultQueue, tasks []queue.Task, cfg workerConfig) error {
	results := make([]queue.Result, len(tasks))
	for i, t := range tasks {
		n := t.N
		if !cfg.quiet {
			fmt.Fprintf(out, "run task %d * %d...\n", n, n)
		}
		if err := cli.Sleep(ctx, cfg.work); err != nil {
			return err
		}
		results[i] = queue.Result{ID: t.ID, Lease: t.Lease, Text: square(n)}
	}
	return result.PutBatch(ctx, results)
}
