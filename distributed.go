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
//
// The tutorial ends with advice: send a log file's path, not the file,
// and let the worker read it from a shared disk. master --files puts one
// path per file, and the worker reads the file under its --root (summarize).

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
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
	files   []string      // with --files: the paths to put, one a task, in place of random numbers
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
	// says on stderr when a task goes back in it; its tasks are numbers, or
	// the paths of files:
	var taskQueue *queue.Queue
	if cfg.files != nil {
		taskQueue = queue.NewForPaths(cfg.tasks, result, stderr)
	} else {
		taskQueue = queue.New(cfg.tasks, result, stderr)
	}

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
		if cfg.files != nil {
			// 不要发送几百兆的日志文件本身，而是发送日志文件存放的完整路径:
			path := cfg.files[i]
			fmt.Fprintf(out, "Put task %s...\n", path)
			task.PutPath(path)
		} else {
			n := randint(rng, 0, 10000)
			fmt.Fprintf(out, "Put task %d...\n", n)
			task.Put(n)
		}
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
		case <-master.Timeout(cfg.timeout, taskQueue): // result.get(timeout=10)
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
	root       *os.Root      // the shared disk, as this machine mounts it: where a task's path leads; nil: no file is read
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
		// A number to square, or from master --files, a file's path:
		// 由Worker进程再去共享的磁盘上读取文件.
		var r string
		if t.Path != "" {
			fmt.Fprintf(out, "run task %s...\n", t.Path)
			r = summarize(ctx, cfg.root, t.Path)
		} else {
			n := t.N
			fmt.Fprintf(out, "run task %d * %d...\n", n, n)
			r = square(n)
		}
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

// summarize is the work of a task that is a file's path (master --files):
// it reads the file at path under root, the shared disk as this worker
// mounts it, and says how many lines (as wc -l counts them) and bytes it
// has, and its SHA-256. The file streams through the hash and the count,
// 32 KiB at a time, so a log of gigabytes takes no more memory than one of
// a kilobyte. A file that cannot be read has a result that says why; a
// worker given no root reads no file. Ctrl-C stops a long read.
func summarize(ctx context.Context, root *os.Root, path string) string {
	if root == nil {
		return fmt.Sprintf("%s: refused: this worker reads no file: start it with --root DIR", path)
	}
	file, err := openRegularFile(root, path)
	if err != nil {
		return fmt.Sprintf("%s: %v", path, err)
	}
	defer file.Close()
	hash := sha256.New()
	var lines lineCounter
	size, err := io.Copy(io.MultiWriter(hash, &lines), stopOnCancel{ctx, file})
	if err != nil {
		return fmt.Sprintf("%s: cannot read: %v", path, systemError(err))
	}
	return fmt.Sprintf("%s: %d lines, %d bytes, sha256 %x", path, lines, size, hash.Sum(nil))
}

// stopOnCancel is a reader that ends once ctx is done.
type stopOnCancel struct {
	ctx context.Context
	r   io.Reader
}

func (s stopOnCancel) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	return s.r.Read(p)
}

// lineCounter counts the newlines written to it.
type lineCounter int

func (c *lineCounter) Write(p []byte) (int, error) {
	*c += lineCounter(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// errEscapes refuses a path that leads out of the worker's root.
var errEscapes = errors.New("refused: path escapes the worker's root")

// openRegularFile opens path, a task's, under root, if it is a regular
// file; its error says why not, in a few words. os.Root refuses a path that
// leads out of root: "..", an absolute path, or a symbolic link to
// outside. Anything but a regular file is refused too: opening a named
// pipe, to begin with, would wait for a writer, for ever.
func openRegularFile(root *os.Root, path string) (*os.File, error) {
	name := filepath.FromSlash(path) // the master sends paths with slashes
	if !filepath.IsLocal(name) {
		return nil, errEscapes // os.Root would refuse it, in words of its own
	}
	// Look before opening, so that no pipe or device is opened; then open
	// without blocking, and look again at what was opened, in case the file
	// was swapped for a pipe in between.
	info, err := root.Stat(name)
	if err != nil {
		return nil, openError(err)
	}
	if !info.Mode().IsRegular() {
		return nil, notRegular(info.Mode())
	}
	file, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, openError(err)
	}
	if info, err = file.Stat(); err != nil || !info.Mode().IsRegular() {
		file.Close()
		if err != nil {
			return nil, fmt.Errorf("cannot open: %v", systemError(err))
		}
		return nil, notRegular(info.Mode())
	}
	return file, nil
}

// openError says why os.Root could not open a path. Its refusal of a path
// that leads out of it, by a symbolic link, is an error of its own, which
// package os does not export: unlike the system's, it carries no errno.
func openError(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return errEscapes
	}
	return fmt.Errorf("cannot open: %v", errno)
}

// notRegular refuses a file of the given mode, which is not a regular one.
func notRegular(mode fs.FileMode) error {
	switch {
	case mode.IsDir():
		return errors.New("refused: a directory, not a regular file")
	case mode&fs.ModeNamedPipe != 0:
		return errors.New("refused: a named pipe, not a regular file")
	case mode&fs.ModeDevice != 0:
		return errors.New("refused: a device, not a regular file")
	}
	return errors.New("refused: not a regular file")
}

// systemError is what the system said of a file, without the path, which
// the result gives once, first.
func systemError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}
