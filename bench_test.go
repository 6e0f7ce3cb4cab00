// Benchmarks: go test -run '^$' -bench . (README, "Measured speed").

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
// with the worker function given; an op is one task.
func benchmarkQueue(b *testing.B, worker func(context.Context, io.Writer, workerConfig) error, cfg workerConfig) {
	queue := newLeasedQueue(b.N, time.Minute, nil)
	manager := newQueueManager(queue, []byte("hello world"), io.Discard)
	if err := manager.start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer manager.shutdown(0)
	for range b.N {
		queue.Put(7)
	}
	cfg.server, cfg.authkey, cfg.tries = manager.listener.Addr().String(), []byte("hello world"), 0
	b.ResetTimer()
	if err := worker(context.Background(), io.Discard, cfg); err != nil {
		b.Fatal(err)
	}
	<-queue.finished
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkQueue: jobs=1 is the tutorial's worker loop, two calls per task,
// and its "of-bare-rpc" is the time of as many bare net/rpc calls, made in
// the same run, over its own time; jobs=8 keeps 8 calls in flight;
// batch=512 is what --work 0 does.
func BenchmarkQueue(b *testing.B) {
	b.Run("jobs=1", func(b *testing.B) {
		benchmarkQueue(b, taskWorker, workerConfig{jobs: 1, batch: 1, getTimeout: time.Second})
		queue := b.Elapsed()
		bare := bareRoundTrips(b, 2*b.N)
		b.ReportMetric(bare.Seconds()/queue.Seconds(), "of-bare-rpc")
	})
	b.Run("jobs=8", func(b *testing.B) {
		benchmarkQueue(b, batchWorker, workerConfig{jobs: 8, batch: 1, getTimeout: time.Second, quiet: true})
	})
	b.Run("jobs=8,batch=512", func(b *testing.B) {
		benchmarkQueue(b, batchWorker, workerConfig{jobs: 8, batch: autoBatch, getTimeout: time.Second, quiet: true})
	})
}

// BenchmarkHandshake is one loopback connection and its authkey handshake per op.
func BenchmarkHandshake(b *testing.B) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer listener.Close()
	key := []byte("hello world")
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				serverHandshake(conn, key)
			}()
		}
	}()
	for b.Loop() {
		conn, err := net.Dial("tcp", listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		if err := clientHandshake(conn, key); err != nil {
			b.Fatal(err)
		}
		conn.Close()
	}
}

// BenchmarkBank is one deposit per op, from as many goroutines as cores,
// with no processing delay: the cost of the lock against the teller.
func BenchmarkBank(b *testing.B) {
	b.Run("mutex", func(b *testing.B) {
		account := &Account{}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(context.Background(), 1)
			}
		})
	})
	b.Run("chan", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		account := NewTellerAccount(ctx, 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				account.Deposit(ctx, 1)
			}
		})
	})
}

// BenchmarkThroughput runs the README's throughput command: a quiet master
// with b.N tasks and two quiet workers with --jobs 8 --work 0, as separate
// processes. It reports tasks/s from starting the workers to the master's
// exit, the CPU time per task of all three, and the master's peak memory.
// Run it with -benchtime 1000000x.
func BenchmarkThroughput(b *testing.B) {
	master, addr := startMaster(b, "--tasks", strconv.Itoa(b.N), "--quiet", "--timeout", "1m")
	b.ResetTimer()
	var workers []*proc
	for i := range 2 {
		workers = append(workers, start(b, fmt.Sprint("worker ", i+1),
			"worker", "--server", addr, "--work", "0", "--tries", "0", "--jobs", "8", "--quiet"))
	}
	if exit := master.wait(); exit != 0 {
		b.Fatalf("master exited %d: %s", exit, master.stderr)
	}
	b.StopTimer()
	cpu := master.cpu()
	for _, w := range workers {
		// A worker that connects as the master finishes may be cut off in
		// its handshake: with a handful of tasks, that is no failure.
		if exit := w.wait(); exit != 0 {
			b.Logf("%s exited %d: %s", w.name, exit, w.stderr)
		}
		cpu += w.cpu()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/task")
	b.ReportMetric(master.peakMiB(b), "master-MiB")
	b.Logf("master: %s", strings.TrimSpace(master.stdout.String()))
}
