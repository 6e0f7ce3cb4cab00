// Section 分布式进程 of the tutorial: task_master.py and task_worker.py.
//
// The master keeps the queues and serves them on the network; workers, on
// this machine or others, take tasks and put results. What Python's
// multiprocessing.managers does out of sight, internal/master and
// internal/worker do, over net/rpc (or Python's own protocol, with the
// tutorial's scripts), after an authkey handshake in both directions
// (internal/mpconn). internal/queue leases each task to the worker holding
// it, so a task whose worker dies or stops goes to another worker instead of
// being lost, as it is in the Python original.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"multithreading/internal/cli"
	"multithreading/internal/master"
	"multithreading/internal/queue"
	"multithreading/internal/worker"
)

// resultBuffer is how many results may wait for the master to print them.
const resultBuffer = 1024

// masterConfig is what task_master.py hard-codes.
type masterConfig struct {
	addr    string        // ('127.0.0.1', 5000)
	authkey []byte        // b'hello world'
	tasks   int           // range(10)
	timeout time.Duration // result.get(timeout=10)
	seed    uint64        // for random.randint
	lease   time.Duration // how long a worker's task stays its own if it stops renewing it
}

// taskMaster is task_master.py's main block. Its output goes to out; stderr
// hears of peers that fail the handshake.
func taskMaster(ctx context.Context, out, stderr io.Writer, cfg masterConfig) error {
	// 接收结果的队列:
	result := make(chan queue.Result, resultBuffer)
	// 发送任务的队列, which sends each task's first result to result, and
	// says on stderr when a task goes back in it:
	taskQueue := queue.New(cfg.tasks, result, stderr)

	// 把两个Queue都注册到网络上, 绑定端口5000, 设置验证码. A Python worker
	// cannot renew its lease: half the wait leaves the other half for
	// another worker to do its task, should it stop.
	manager := master.New(taskQueue, master.Config{Authkey: cfg.authkey, Lease: cfg.lease, PythonLease: cfg.timeout / 2, Log: stderr})

	// 启动Queue:
	if err := manager.Start(cfg.addr); err != nil {
		return err
	}
	defer manager.Shutdown(ctx, 0) // when an error or Ctrl-C ends the listing early: hang up at once

	task := taskQueue // the master puts tasks in, as task.put(n)

	// 放几个任务进去:
	rng := newRand(cfg.seed, 0)
	for i := range cfg.tasks {
		n := randint(rng, 0, 10000)
		fmt.Fprintf(out, "Put task %d...\n", n)
		task.Put(n)
		if ctx.Err() != nil { // Ctrl-C, during a long list of puts
			return fmt.Errorf("%w after putting %d of %d tasks", cli.Stopped(ctx), i+1, cfg.tasks)
		}
	}

	// 从result队列读取结果:
	fmt.Fprintln(out, "Try get results...")
	for i := range cfg.tasks {
		select {
		case r := <-result:
			fmt.Fprintf(out, "Result: %s\n", r.Text)
		case <-time.After(cfg.timeout):
			return master.NoResultError(cfg.timeout, i, taskQueue)
		case <-ctx.Done():
			return fmt.Errorf("%w after %d of %d results", cli.Stopped(ctx), i, cfg.tasks)
		}
	}

	// 关闭:
	manager.Shutdown(ctx, master.ShutdownGrace)
	fmt.Fprintln(out, "master exit.")
	return nil
}

// workerConfig is what task_worker.py hard-codes.
type workerConfig struct {
	server     string        // server_addr and port 5000
	authkey    []byte        // b'hello world'
	tries      int           // range(10); 0: until the master has no tasks left or is gone
	getTimeout time.Duration // task.get(timeout=1)
	work       time.Duration // time.sleep(1)
	retry      time.Duration // how long to keep trying to reach the master
}

// taskWorker is task_worker.py's main block. Its output goes to out; stderr
// hears of waiting for the master and of results the master refused.
func taskWorker(ctx context.Context, out, stderr io.Writer, cfg workerConfig) error {
	// 连接到服务器，也就是运行task_master.py的机器:
	serverAddr, _, _ := net.SplitHostPort(cfg.server)
	fmt.Fprintf(out, "Connect to server %s...\n", serverAddr)

	// 端口和验证码注意保持与task_master.py设置的完全一致; 从网络连接:
	m, err := worker.Connect(ctx, cfg.server, worker.Config{Authkey: cfg.authkey, Retry: cfg.retry, Log: stderr})
	if err != nil {
		return err
	}
	defer m.Close()

	// 获取Queue的对象:
	task := m.GetTaskQueue()
	result := m.GetResultQueue()

	// 从task队列取任务,并把结果写入result队列:
	for i := 0; cfg.tries == 0 || i < cfg.tries; i++ {
		t, err := task.Get(ctx, cfg.getTimeout)
		if errors.Is(err, queue.ErrEmpty) { // except queue.Empty:
			fmt.Fprintln(out, "task queue is empty.")
		}
		if worker.Finished(err, cfg.tries) {
			break // no task will ever come
		}
		if errors.Is(err, queue.ErrEmpty) {
			continue
		}
		if err != nil {
			return err
		}
		n := t.N
		fmt.Fprintf(out, "run task %d * %d...\n", n, n)
		r := square(n)
		if err := cli.Sleep(ctx, cfg.work); err != nil { // time.sleep(1)
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

// square is the work of one task: r = '%d * %d = %d' % (n, n, n * n).
// The tutorial's worker and the batch worker call it, so it is the place to
// change to do other work ("把计算n*n的代码换成发送邮件"), with
// worker.FastSquare, the quiet worker's copy: TestFastSquareIsSquare says
// when the two differ.
func square(n int) string {
	return fmt.Sprintf("%d * %d = %d", n, n, n*n)
}
