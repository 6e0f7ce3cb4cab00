// The throughput mode: master --quiet puts every task without waiting for
// each answer and prints one line at the end, as the main program's quiet
// master does, so that the two can be measured side by side
// (speed_test.go).

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"multithreading/internal/cli"
	"multithreading/internal/rusage"
)

// quietMaster is taskMaster without a line per task. Its one line says how
// many results came in how long, from the first put; its peak memory, the
// embedded server's included, goes to stderr.
func quietMaster(ctx context.Context, out, stderr io.Writer, cfg masterConfig) error {
	c, err := startMaster(ctx, stderr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := openRun(ctx, c.js, c.retry, runConfigOf(cfg))
	if err != nil {
		return err
	}
	result, err := r.results(ctx)
	if err != nil {
		return err
	}
	defer result.stop()

	start := time.Now()
	rng := newRand(r.seed)
	var pending []jetstream.PubAckFuture
	for i := range cfg.tasks {
		n := randint(rng, 0, 10000)
		if i < r.put {
			continue
		}
		// The stream's last sequence is the count of tasks put: each put
		// expects the one before it, so none goes in twice.
		ack, err := c.js.PublishMsgAsync(newTaskMsg(i, n), jetstream.WithExpectLastSequence(uint64(i)))
		if err != nil {
			return err
		}
		pending = append(pending, ack)
		if len(pending) == 1024 || i == cfg.tasks-1 {
			if err := waitForAcks(ctx, pending, cfg.timeout); err != nil {
				return err
			}
			pending = pending[:0]
		}
	}

	answered := make([]bool, cfg.tasks)
	for count := 0; count < cfg.tasks; {
		select {
		case res := <-result.c:
			if !answered[res.id] {
				answered[res.id] = true
				count++
			}
		case <-time.After(cfg.timeout):
			return fmt.Errorf("no result within %v: %d of %d results arrived", cfg.timeout, count, cfg.tasks)
		case <-ctx.Done():
			return fmt.Errorf("%w after %d of %d results", cli.Stopped(ctx), count, cfg.tasks)
		}
	}
	elapsed := time.Since(start)
	if err := r.finish(ctx); err != nil {
		return err
	}
	c.finished = true
	fmt.Fprintf(out, "%d results in %.2fs (%.0f tasks/s)\n", cfg.tasks, elapsed.Seconds(), float64(cfg.tasks)/elapsed.Seconds())
	if peak, err := rusage.PeakMemory(); err == nil {
		fmt.Fprintf(stderr, "master: peak memory %.1f MiB\n", float64(peak)/(1<<20))
	}
	return nil
}

// waitForAcks waits for the server to store each of the puts.
func waitForAcks(ctx context.Context, pending []jetstream.PubAckFuture, timeout time.Duration) error {
	for _, ack := range pending {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("put a task: %w", err)
		case <-time.After(timeout):
			return fmt.Errorf("put a task: no answer in %v", timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
