// Section 分布式进程 of the tutorial: task_master.py, on JetStream. The
// listing is the main program's taskMaster line for line; what changed is
// where the queues live: in streams on a NATS server's disk, which outlive
// the master.

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"multithreading/internal/cli"
)

// masterConfig is what task_master.py hard-codes, and where the run lives.
type masterConfig struct {
	conn    connConfig    // the servers, or the one to embed
	server  *serverConfig // the server to embed; nil with --nats
	tasks   int           // range(10)
	timeout time.Duration // result.get(timeout=10)
	seed    uint64        // for random.randint
	seedSet bool          // --seed was given
	lease   time.Duration // AckWait: how long a task stays with a worker that stops renewing it
}

// taskMaster is task_master.py's main block. Its output goes to out; stderr
// hears where the run lives, and of tasks that were redelivered.
func taskMaster(ctx context.Context, out, stderr io.Writer, cfg masterConfig) error {
	// 把两个Queue都注册到网络上, 设置验证码: the server, embedded unless
	// --nats names one, with the authkey as its token.
	c, err := startMaster(ctx, stderr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()

	// 启动Queue: the streams, or those of the run a master before this one
	// left unfinished.
	r, err := openRun(ctx, c.js, c.retry, runConfigOf(cfg))
	if err != nil {
		return err
	}
	if err := r.loadPrinted(ctx); err != nil {
		return err
	}
	if r.resumed {
		fmt.Fprintf(stderr, "master: resuming the run of %s: %d tasks were put, %d results printed\n", r.describe(), r.put, len(r.printed))
	}
	result, err := r.results(ctx)
	if err != nil {
		return err
	}
	defer result.stop()

	// 放几个任务进去:
	rng := newRand(r.seed)
	for i := range cfg.tasks {
		n := randint(rng, 0, 10000)
		if i < r.put {
			continue // put before the restart
		}
		fmt.Fprintf(out, "Put task %d...\n", n)
		if err := r.putTask(ctx, i, n); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w after putting %d of %d tasks", cli.Stopped(ctx), i, cfg.tasks)
			}
			return err
		}
	}

	// 从result队列读取结果:
	fmt.Fprintln(out, "Try get results...")
	wait := time.NewTimer(cfg.timeout)
	defer wait.Stop()
	for len(r.printed) < cfg.tasks {
		select {
		case res := <-result.c:
			if r.printed[res.id] {
				continue // a late worker's result, or one printed before the restart
			}
			if res.delivered > 1 { // requeue is redelivery
				fmt.Fprintf(stderr, "master: task %d was delivered %d times: a worker before held it past its lease\n", res.id, res.delivered)
			}
			fmt.Fprintf(out, "Result: %s\n", res.text)
			if err := r.markPrinted(ctx, res.id); err != nil {
				return err
			}
			wait.Reset(cfg.timeout)
		case <-wait.C:
			if stalled, err := result.stalled(ctx); err != nil {
				return err
			} else if stalled { // the results came, and a lost leader kept them from the feed
				wait.Reset(cfg.timeout)
				continue
			}
			return fmt.Errorf("no result within %v: %d of %d results arrived", cfg.timeout, len(r.printed), cfg.tasks)
		case <-ctx.Done():
			return fmt.Errorf("%w after %d of %d results", cli.Stopped(ctx), len(r.printed), cfg.tasks)
		}
	}

	// 关闭: the run is done, and its streams go with it.
	if err := r.finish(ctx); err != nil {
		return err
	}
	c.finished = true
	fmt.Fprintln(out, "master exit.")
	return nil
}
