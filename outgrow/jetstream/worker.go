// Section 分布式进程 of the tutorial: task_worker.py, on JetStream. The
// listing is the main program's taskWorker line for line: a worker takes a
// task from the stream, and while it works the connection code renews the
// task's lease (InProgress), out of the listing's sight.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"
)

// workerConfig is what task_worker.py hard-codes.
type workerConfig struct {
	conn       connConfig    // the servers: server_addr, and the authkey
	tries      int           // range(10); 0: until the master has finished
	getTimeout time.Duration // task.get(timeout=1)
	work       time.Duration // time.sleep(1)
}

// taskWorker is task_worker.py's main block.
func taskWorker(ctx context.Context, out io.Writer, cfg workerConfig) error {
	// 连接到服务器，也就是运行task_master.py的机器:
	server, _ := url.Parse(cfg.conn.urls[0])
	fmt.Fprintf(out, "Connect to server %s...\n", server.Hostname())

	// 端口和验证码注意保持与task_master.py设置的完全一致:
	c, err := connect(ctx, cfg.conn)
	if err != nil {
		return err
	}
	defer c.Close()

	// 获取Queue的对象:
	task, err := c.taskQueue(ctx)
	if err != nil {
		return err
	}
	result := c.resultQueue()

	// 从task队列取任务,并把结果写入result队列:
	for i := 0; cfg.tries == 0 || i < cfg.tries; i++ {
		t, err := task.Get(ctx, cfg.getTimeout)
		if errors.Is(err, errEmpty) { // except queue.Empty:
			fmt.Fprintln(out, "task queue is empty.")
			continue
		}
		if errors.Is(err, errNoRun) || (cfg.tries == 0 && errors.Is(err, errServerGone)) {
			break // the master has finished: its streams, or its server, are gone
		}
		if err != nil {
			return err
		}
		n := t.n
		fmt.Fprintf(out, "run task %d * %d...\n", n, n)
		r := square(n)
		if err := sleep(ctx, cfg.work); err != nil { // time.sleep(1)
			return err
		}
		if err := result.Put(ctx, t, r); err != nil {
			return err
		}
	}

	// 处理结束:
	fmt.Fprintln(out, "worker exit.")
	return nil
}

// sleep is time.sleep, cut short by Ctrl-C.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
