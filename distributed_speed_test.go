// Section 分布式进程's queue at full speed, end to end: the quiet master and
// the batch worker, and the benchmarks that docs/speed.md's figures come
// from (go test -run '^$' -bench . ./...).

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/rpc"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"multithreading/internal/master"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
	"multithreading/internal/queue"
	"multithreading/internal/worker"

	"github.com/google/go-cmp/cmp"
)

// Quiet mode: a million tasks, two workers with 8 calls in flight each, one
// line from the master, and the master stays small: a bit per answered task,
// 8 bytes per waiting one.
func TestQuietMillionTasks(t *testing.T) {
	master, addr := startMaster(t, "--tasks", "1000000", "--quiet", "--timeout", "1m")
	var workers []*proctest.Proc
	for i := range 2 {
		workers = append(workers, start(t, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	summary := regexp.MustCompile(`^1000000 results in \d+\.\d\ds \(\d+ tasks/s\)\n$`)
	if !summary.MatchString(master.Stdout.String()) {
		t.Errorf("master's output %q does not match %v", master.Stdout, summary)
	}
	for _, w := range workers {
		if exit := w.Wait(); exit != 0 {
			t.Errorf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
		if diff := cmp.Diff("Connect to server 127.0.0.1...\nworker exit.\n", w.Stdout.String()); diff != "" {
			t.Errorf("%s's output (-want +got):\n%s", w.Name, diff)
		}
	}
	if peak := peakMiB(t, master); peak >= 32 {
		t.Errorf("master's peak memory %.1f MiB, want under 32 MiB", peak)
	}
}

// Batched and pipelined workers print the same lines as the tutorial's, and
// every task is done exactly once.
func TestBatchWorkerOutput(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "50")
	worker := start(t, "worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms", "--jobs", "4", "--batch", "3")
	if exit := worker.Wait(); exit != 0 {
		t.Errorf("worker exited %d: %s", exit, worker.Stderr)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	tasks := checkMasterOutput(t, master)
	if diff := cmp.Diff(slices.Sorted(slices.Values(tasks)), slices.Sorted(slices.Values(workerTasks(worker)))); diff != "" {
		t.Errorf("tasks run (-want +got):\n%s", diff)
	}
	// The worker's whole output: its jobs run the tasks in any order, and
	// none says the queue is empty when no task is left.
	want := []string{"Connect to server 127.0.0.1..."}
	for _, n := range tasks {
		want = append(want, fmt.Sprintf("run task %d * %d...", n, n))
	}
	want = append(want, "worker exit.")
	got := proctest.Lines(worker.Stdout.String())
	if diff := cmp.Diff(want, got, proctest.SameLines); diff != "" || got[0] != want[0] || got[len(got)-1] != "worker exit." {
		t.Errorf("worker's output (-want +got):\n%s\nfirst and last lines: %q, %q", diff, got[0], got[len(got)-1])
	}
}

// Ping is the smallest net/rpc service: the floor under any queue call.
type Ping struct{}

func (Ping) Ping(n int, reply *int) error {
	*reply = n
	return nil
}

// BenchmarkRPCRoundTrip is one bare net/rpc call on loopback per op.
func BenchmarkRPCRoundTrip(b *testing.B) {
	bareRoundTrips(b, b.N)
}

// bareRoundTrips makes n calls to Ping over loopback and returns how long
// they took, not counting the connection's set-up.
func bareRoundTrips(b *testing.B, n int) time.Duration {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	server := rpc.NewServer()
	server.Register(Ping{})
	go func() {
		conn, err := listener.Accept()
		if err == nil {
			server.ServeConn(conn)
		}
	}()
	client, err := rpc.Dial("tcp", listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	var reply int
	if err := client.Call("Ping.Ping", 0, &reply); err != nil { // gob sends its types once
		b.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		if err := client.Call("Ping.Ping", i, &reply); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// benchmarkQueue moves b.N tasks through a real master's queue on loopback,
// with the worker given; an op is one task.
func benchmarkQueue(b *testing.B, worker func(ctx context.Context, addr string) error) {
	taskQueue := queue.New(b.N, nil, nil)
	manager := master.New(taskQueue, master.Config{Authkey: []byte("hello world"), Lease: time.Minute, PythonLease: time.Minute})
	if err := manager.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer manager.Shutdown(context.Background(), 0)
	for range b.N {
		taskQueue.Put(7)
	}
	b.ResetTimer()
	if err := worker(context.Background(), manager.Addr().String()); err != nil {
		b.Fatal(err)
	}
	<-taskQueue.Finished()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkQueue: jobs=1 is the tutorial's worker loop, two calls per task,
// and its "of-bare-rpc" is the time of as many bare net/rpc calls, made in
// the same run, over its own time; jobs=8 keeps 8 calls in flight;
// batch=512 is what --work 0 does.
func BenchmarkQueue(b *testing.B) {
	key := []byte("hello world")
	batch := func(jobs, batch int) func(context.Context, string) error {
		return func(ctx context.Context, addr string) error {
			cfg := worker.BatchConfig{Server: addr, Config: worker.Config{Authkey: key}, GetTimeout: time.Second, Jobs: jobs, Batch: batch, Quiet: true}
			return worker.Batch(ctx, io.Discard, cfg, func(t queue.Task) string { return worker.FastSquare(t.N) })
		}
	}
	b.Run("jobs=1", func(b *testing.B) {
		benchmarkQueue(b, func(ctx context.Context, addr string) error {
			return taskWorker(ctx, io.Discard, io.Discard, workerConfig{server: addr, authkey: key, getTimeout: time.Second})
		})
		queue := b.Elapsed()
		bare := bareRoundTrips(b, 2*b.N)
		b.ReportMetric(bare.Seconds()/queue.Seconds(), "of-bare-rpc")
	})
	b.Run("jobs=8", func(b *testing.B) { benchmarkQueue(b, batch(8, 1)) })
	b.Run("jobs=8,batch=512", func(b *testing.B) { benchmarkQueue(b, batch(8, worker.AutoBatch)) })
}

// BenchmarkThroughput runs the README's throughput command: a quiet master
// with b.N tasks and two quiet workers with --jobs 8 --work 0, as separate
// processes. It reports tasks/s from starting the workers to the master's
// exit, the CPU time per task of all three, and the master's peak memory.
// Then, in the same run, the tutorial's own design (Python's BaseManager,
// testdata/tutorial_queue.py) with up to 20,000 tasks and two workers, and
// how many times faster the port is ("x-python"). Run it with
// -benchtime 1000000x.
func BenchmarkThroughput(b *testing.B) {
	master, addr := startMaster(b, "--tasks", strconv.Itoa(b.N), "--quiet", "--timeout", "1m")
	b.ResetTimer()
	var workers []*proctest.Proc
	for i := range 2 {
		workers = append(workers, start(b, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.Wait(); exit != 0 {
		b.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	b.StopTimer()
	cpu := master.CPU()
	for _, w := range workers {
		// A worker that connects as the master finishes may be cut off in
		// its handshake: with a handful of tasks, that is no failure.
		if exit := w.Wait(); exit != 0 {
			b.Logf("%s exited %d: %s", w.Name, exit, w.Stderr)
		}
		cpu += w.CPU()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/task")
	b.ReportMetric(peakMiB(b, master), "master-MiB")
	b.Logf("master: %s", strings.TrimSpace(master.Stdout.String()))
	goRate := float64(b.N) / b.Elapsed().Seconds()
	if pythonRate, err := pythonBaseManager(min(b.N, 20_000)); err != nil {
		b.Logf("no Python comparison: %v", err)
	} else {
		b.ReportMetric(pythonRate, "python-tasks/s")
		b.ReportMetric(goRate/pythonRate, "x-python")
	}
}

// pythonBaseManager runs the tutorial's design in Python with the given
// number of tasks and two workers, and returns its tasks per second.
func pythonBaseManager(tasks int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", filepath.Join("testdata", "tutorial_queue.py"), strconv.Itoa(tasks), "2").Output()
	if err != nil {
		return 0, err
	}
	var rate float64
	if _, err := fmt.Sscanf(string(out[bytes.Index(out, []byte("(")):]), "(%f tasks/s)", &rate); err != nil {
		return 0, fmt.Errorf("python printed %q: %v", out, err)
	}
	return rate, nil
}

// BenchmarkPythonWorker runs the tutorial's worker in Python, its sleep
// removed (testdata/python/worker.py --work 0), over 2,000 tasks, against
// this program's master and against Python's own (testdata/python/master.py),
// in the same run, and reports each in tasks/s, from starting the worker to
// its end. It needs python3.
func BenchmarkPythonWorker(b *testing.B) {
	const tasks = 2000
	python, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("no python3")
	}
	py := python3Version(b, python)
	for b.Loop() {
		goMaster, goAddr := startMaster(b, "--tasks", strconv.Itoa(tasks), "--timeout", "1m")
		goRate := timePythonWorker(b, py, goAddr, tasks)
		if exit := goMaster.Wait(); exit != 0 {
			b.Fatalf("go master exited %d: %s", exit, goMaster.Stderr)
		}
		pyMaster, pyStdin := pythontest.Start(b, py, "python master", "master.py", "--port", "0", "--tasks", strconv.Itoa(tasks), "--timeout", "60")
		pyAddr := pyMaster.Stderr.WaitFor(b, pyMaster, regexp.MustCompile(`^master: listening on (127\.0\.0\.1:\d+)$`))[1]
		pyMaster.Stdout.WaitFor(b, pyMaster, regexp.MustCompile(`^Try get results\.\.\.$`))
		pyRate := timePythonWorker(b, py, pyAddr, tasks)
		pyStdin.Close()
		if exit := pyMaster.Wait(); exit != 0 {
			b.Fatalf("python master exited %d: %s", exit, pyMaster.Stderr)
		}
		b.ReportMetric(goRate, "tasks/s-go-master")
		b.ReportMetric(pyRate, "tasks/s-python-master")
		b.ReportMetric(goRate/pyRate, "x")
	}
}

// python3Version is the python3 on the PATH, as the Python tests know it.
func python3Version(b *testing.B, path string) pythontest.Python {
	py, ok := pythontest.Interpreter(path)
	if !ok {
		b.Skipf("cannot tell the version of %s", path)
	}
	return py
}

// timePythonWorker runs worker.py against addr until it has done tasks
// tasks, and returns its tasks per second.
func timePythonWorker(b *testing.B, py pythontest.Python, addr string, tasks int) float64 {
	_, port, _ := strings.Cut(addr, ":")
	started := time.Now()
	worker, stdin := pythontest.Start(b, py, "python worker", "worker.py", "--port", port, "--work", "0", "--tries", strconv.Itoa(tasks))
	stdin.Close()
	if exit := worker.Wait(); exit != 0 {
		b.Fatalf("python worker exited %d: %s", exit, worker.Stderr)
	}
	return float64(tasks) / time.Since(started).Seconds()
}

// A quiet worker formats its results with worker.FastSquare, which must
// print exactly what the listing's square prints, for every task a master
// may send.
func TestFastSquareIsSquare(t *testing.T) {
	t.Parallel()
	// The largest n whose square fits an int: 3037000499, or 46340 on 32 bits.
	largest := int(math.Sqrt(float64(math.MaxInt)))
	ns := []int{-largest, -46340, -10001, largest}
	for n := -100; n <= 10_000; n++ {
		ns = append(ns, n)
	}
	for _, n := range ns {
		if fast, want := worker.FastSquare(n), square(n); fast != want {
			t.Fatalf("FastSquare(%d) = %q, square says %q", n, fast, want)
		}
	}
}
