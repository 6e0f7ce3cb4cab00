// The batch worker, for section 分布式进程's queue pushed to what the machine
// can do: worker --jobs J --batch B keeps J calls in flight on its one
// connection, each moving up to B tasks. Leases and exactly-once results
// are the queue's, so they hold here too.

package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
	"multithreading/internal/rusage"
)

// AutoBatch is how many tasks a worker with --work 0 asks for at once: enough
// that one call's cost, some tens of microseconds, is small beside its tasks'.
const AutoBatch = 512

// MaxJobs is the most calls a worker keeps in flight: below the master's
// rpcwire.MaxInFlight, so that a renewal always finds room beside them.
const MaxJobs = rpcwire.MaxInFlight / 2

// MinPoll is the shortest wait for a task that a worker with no count of
// tries may ask for: any shorter, and it would ask the master without pause.
const MinPoll = 10 * time.Millisecond

// BatchConfig is what the batch worker's flags say.
type BatchConfig struct {
	Server     string
	Config                   // the connection's
	Tries      int           // calls that take tasks; 0: until none are left or the master is gone
	GetTimeout time.Duration // how long each call waits for a task
	Work       time.Duration // how long each task takes, besides work
	Jobs       int           // calls in flight at once: 1 to MaxJobs
	Batch      int           // tasks per call: 1 to rpcwire.MaxBatch
	Quiet      bool          // print no line per task, and the peak memory at the end
}

// Batch is the tutorial's worker with cfg.Jobs calls in flight at
// once, each moving up to cfg.Batch tasks, whose results work makes, from
// a number or a path. A get that fails ends it as it ends the tutorial's
// (Finished). A quiet worker says on cfg.Log, as it exits, the most memory
// it held, as the quiet master does.
func Batch(ctx context.Context, out io.Writer, cfg BatchConfig, work func(queue.Task) string) error {
	cfg.Jobs = min(max(cfg.Jobs, 1), MaxJobs)
	cfg.Batch = min(max(cfg.Batch, 1), rpcwire.MaxBatch)
	serverAddr, _, _ := net.SplitHostPort(cfg.Server)
	fmt.Fprintf(out, "Connect to server %s...\n", serverAddr)
	m, err := Connect(ctx, cfg.Server, cfg.Config)
	if err != nil {
		return err
	}
	defer m.Close()
	task, result := m.GetTaskQueue(), m.GetResultQueue()

	ctx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	var (
		tries    atomic.Int64
		jobs     sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range cfg.Jobs {
		jobs.Go(func() {
			for cfg.Tries == 0 || tries.Add(1) <= int64(cfg.Tries) {
				tasks, err := task.GetBatch(ctx, cfg.Batch, cfg.GetTimeout)
				if Finished(err, cfg.Tries) {
					return // without a line: each job would print one
				}
				if errors.Is(err, queue.ErrEmpty) {
					if !cfg.Quiet {
						fmt.Fprintln(out, "task queue is empty.")
					}
					continue
				}
				if err == nil {
					err = runBatch(ctx, out, result, tasks, cfg, work)
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
	if cfg.Quiet && cfg.Log != nil {
		if peak, err := rusage.PeakMemory(); err == nil {
			fmt.Fprintf(cfg.Log, "worker: peak memory %.1f MiB\n", float64(peak)/(1<<20))
		}
	}
	return nil
}

// runBatch does a batch of tasks and sends their results in one call.
func runBatch(ctx context.Context, out io.Writer, result ResultQueue, tasks []queue.Task, cfg BatchConfig, work func(queue.Task) string) error {
	results := make([]queue.Result, len(tasks))
	for i, t := range tasks {
		switch {
		case cfg.Quiet:
		case t.Path != "":
			fmt.Fprintf(out, "run task %s...\n", t.Path)
		default:
			fmt.Fprintf(out, "run task %d * %d...\n", t.N, t.N)
		}
		if err := cli.Sleep(ctx, cfg.Work); err != nil {
			return err
		}
		results[i] = queue.Result{ID: t.ID, Lease: t.Lease, Text: work(t)}
	}
	return result.PutBatch(ctx, results)
}

// Finished reports whether a get's error ends a worker that takes tasks
// tries times (0: until none are left): no task will ever come, or, for a
// worker with no count of tries, the master is gone. Python's worker would
// wait out each of its tries instead.
func Finished(err error, tries int) bool {
	return errors.Is(err, ErrNoTasksLeft) || (tries == 0 && errors.Is(err, ErrMasterGone))
}

// FastSquare is the throughput mode's own copy of the listing's square:
// the same "n * n = n²", built with strconv in a third of fmt.Sprintf's
// time, which shows at millions of tasks a second. A test at the root holds
// it to square's output, so that the two cannot drift apart.
func FastSquare(n int) string {
	b := make([]byte, 0, 48)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " * "...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, " = "...)
	b = strconv.AppendInt(b, int64(n*n), 10)
	return string(b)
}
