// The master's guards, end to end: a real master, and peers that know the
// key but send what no worker would, over the wire as any program could.

package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"multithreading/internal/mpconn"
	"multithreading/internal/proctest"
	"multithreading/internal/pythontest"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
)

// dialMaster connects to a Go master and proves the key, as a worker does,
// and gives the test the bare connection, closed at the end of the test.
func dialMaster(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, proctest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(proctest.Timeout))
	if err := mpconn.ClientHandshake(conn, []byte("hello world"), rand.Reader); err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Time{})
	return conn
}

// rpcClient is a worker's net/rpc client on a connection of its own, which
// renews nothing: the test says what it sends.
func rpcClient(t *testing.T, addr string) *rpc.Client {
	t.Helper()
	return rpc.NewClientWithCodec(rpcwire.NewClientCodec(dialMaster(t, addr), rpcwire.Config{}))
}

// peakMiBOf reads the peak memory of a running process (Linux's VmHWM).
func peakMiBOf(t *testing.T, p *proctest.Proc) float64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		t.Skipf("cannot read the master's peak memory: %v", err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in:\n%s", status)
	}
	kib, _ := strconv.Atoi(string(m[1]))
	return float64(kib) / 1024
}

// A peer that knows the key but was not given a task is refused: forged ids,
// another connection's lease, a second answer. Nothing it sends is printed
// as a result, its reply says so, and the master logs it and finishes with
// the honest worker's results. (The leases outlast the test's calls.)
func TestMasterRefusesForgedResults(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "2", "--seed", "1", "--lease", "20s", "--timeout", "30s")
	honest, forger := rpcClient(t, addr), rpcClient(t, addr)
	var batch rpcwire.TaskBatch
	if err := honest.Call("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: proctest.Timeout}, &batch); err != nil || len(batch.Tasks) != 1 {
		t.Fatalf("get: %v, %d tasks", err, len(batch.Tasks))
	}
	task := batch.Tasks[0]
	for _, tc := range []struct {
		name    string
		from    *rpc.Client
		results []queue.Result
		want    rpcwire.PutReply
	}{
		{"forged ids", forger, []queue.Result{{ID: 0, Text: "forged 0"}, {ID: 1, Text: "forged 1"}}, rpcwire.PutReply{Refused: 2, Why: "not leased to it: 2"}},
		{"another connection's lease", forger, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: "forged"}}, rpcwire.PutReply{Refused: 1, Why: "not leased to it: 1"}},
		{"the lease holder", honest, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: square(task.N)}}, rpcwire.PutReply{}},
		{"the lease holder again", honest, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: "again"}}, rpcwire.PutReply{Refused: 1, Why: "not leased to it: 1"}},
	} {
		var reply rpcwire.PutReply
		if err := tc.from.Call("ResultQueue.Put", rpcwire.ResultBatch(tc.results), &reply); err != nil || reply != tc.want {
			t.Errorf("%s: reply %+v, error %v; want %+v", tc.name, reply, err, tc.want)
		}
	}
	master.Stderr.WaitFor(t, master, regexp.MustCompile(
		`^master: refused 2 result\(s\) from 127\.0\.0\.1:\d+ \(not leased to it: 2\)$`))
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
	if strings.Contains(master.Stdout.String(), "forged") || strings.Contains(master.Stdout.String(), "again") {
		t.Errorf("the master printed a refused result:\n%s", master.Stdout)
	}
}

// A message over the size limit is refused after its 4-byte length: the
// master hangs up, says why, and its memory does not grow.
func TestMasterRefusesOversizedMessage(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1")
	conn := dialMaster(t, addr)
	const claimed = 512 << 20
	header := binary.BigEndian.AppendUint32(nil, claimed)
	conn.Write(append(header, make([]byte, 1<<20)...)) // and the first MiB of it
	master.Stderr.WaitFor(t, master, regexp.MustCompile(fmt.Sprintf(
		`^master: rejected 127\.0\.0\.1:\d+: hung up on it: message too large: %d bytes \(at most %d\)$`, claimed, rpcwire.MaxFrame)))
	if peak := peakMiBOf(t, master); peak > 32 {
		t.Errorf("master's peak memory %.1f MiB after a 512 MiB message was announced", peak)
	}
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// 10,000 gets pipelined on one connection: the master runs at most
// rpcwire.MaxInFlight of them at once and reads no more until one finishes,
// so its memory stays small, and it serves a good worker meanwhile.
func TestMasterBoundsPipelinedCalls(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1", "--lease", "20s", "--timeout", "30s")
	holder := rpcClient(t, addr) // takes the only task, so every get waits
	var batch rpcwire.TaskBatch
	if err := holder.Call("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: proctest.Timeout}, &batch); err != nil || len(batch.Tasks) != 1 {
		t.Fatalf("get: %v, %d tasks", err, len(batch.Tasks))
	}
	flooder := rpcClient(t, addr)
	calls := make(chan *rpc.Call, 10_000)
	for range 10_000 {
		go flooder.Go("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: time.Second}, &rpcwire.TaskBatch{}, calls)
	}
	// Once the first get has waited its second out, the master has read as
	// many as it will run at once, and no more.
	if call := <-calls; call.Error != nil {
		t.Fatalf("the first pipelined get: %v", call.Error)
	}
	if peak := peakMiBOf(t, master); peak > 32 {
		t.Errorf("master's peak memory %.1f MiB with 10,000 gets pipelined", peak)
	}
	flooder.Close()
	holder.Close() // its task goes back, to the good worker
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// A worker that knows the key cannot make the master print a line it did
// not mean to: a result with newlines and an escape sequence comes out
// quoted, in its one "Result:" line, and the master's last line is its own.
func TestMasterPrintsResultsEscaped(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1", "--lease", "20s", "--timeout", "30s")
	injector := rpcClient(t, addr)
	var batch rpcwire.TaskBatch
	if err := injector.Call("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: proctest.Timeout}, &batch); err != nil || len(batch.Tasks) != 1 {
		t.Fatalf("get: %v, %d tasks", err, len(batch.Tasks))
	}
	task := batch.Tasks[0]
	forged := "1\nResult: 1 * 1 = 1\nmaster exit.\n\x1b[31m"
	var reply rpcwire.PutReply
	if err := injector.Call("ResultQueue.Put", rpcwire.ResultBatch{{ID: task.ID, Lease: task.Lease, Text: forged}}, &reply); err != nil || reply.Refused != 0 {
		t.Fatalf("put: %v, %+v", err, reply)
	}
	if exit := master.Wait(); exit != 0 {
		t.Fatalf("master exited %d: %s", exit, master.Stderr)
	}
	want := []string{
		fmt.Sprintf("Put task %d...", task.N),
		"Try get results...",
		`Result: "1\nResult: 1 * 1 = 1\nmaster exit.\n\x1b[31m"`,
		"master exit.",
	}
	if diff := cmp.Diff(want, proctest.Lines(master.Stdout.String())); diff != "" {
		t.Errorf("master's output (-want +got):\n%s", diff)
	}
}

// flood runs peers against addr until the test ends, none of them knowing
// the key: each connects, does what speak does, then holds on until the
// master closes it, and connects again at once.
func flood(t *testing.T, addr string, peers int, speak func(conn net.Conn)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var flooders sync.WaitGroup
	t.Cleanup(func() { cancel(); flooders.Wait() })
	for range peers {
		flooders.Go(func() {
			var dialer net.Dialer
			for ctx.Err() == nil {
				conn, err := dialer.DialContext(ctx, "tcp", addr)
				if err != nil { // the master is gone, or the test is over
					time.Sleep(10 * time.Millisecond)
					continue
				}
				stop := context.AfterFunc(ctx, func() { conn.Close() })
				speak(conn)
				io.Copy(io.Discard, conn) // until the master hangs up
				stop()
				conn.Close()
			}
		})
	}
}

// The floods of peers that do not know the key: each holds a connection
// until the master closes it, then comes again at once. The slow one sends
// a byte and waits; the fast ones are done in a moment, and come back.
var floods = []struct {
	name  string
	peers int
	fast  bool
	speak func(net.Conn)
}{
	{"one byte each, then silence", 32, false, func(c net.Conn) { c.Write([]byte{0}) }},
	{"silence", 40, true, func(net.Conn) {}},
	{"a wrong key", 40, true, func(c net.Conn) { mpconn.ClientHandshake(c, []byte("wrong"), rand.Reader) }},
	{"four bytes, then gone", 40, true, func(c net.Conn) { c.Write([]byte{0, 0, 0, 0}); c.Close() }},
}

// No flood can lock a Go worker out: the master closes the peer that has
// proven least, the oldest in the line, whatever bytes it sent, and no
// faster than a flood could crowd out a worker that has just come in. The
// worker gets its task within 3 s; the master's log and memory stay small.
//
// (Not parallel: a flood takes a core, and the tests that run beside it
// should not have to share it.)
func TestFloodsCannotLockAGoWorkerOut(t *testing.T) {
	for _, tc := range floods {
		t.Run(tc.name, func(t *testing.T) { // one flood at a time
			master, addr := startMaster(t, "--tasks", "1", "--quiet")
			flood(t, addr, tc.peers, tc.speak)
			started := time.Now()
			worker := start(t, "go worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms", "--retry", "10s")
			worker.Stdout.WaitFor(t, worker, regexp.MustCompile(`^run task \d+ \* \d+\.\.\.$`))
			if took := time.Since(started); took > 3*time.Second {
				t.Errorf("the worker got its task after %v", took)
			}
			if exit := master.Wait(); exit != 0 {
				t.Fatalf("master exited %d: %s", exit, master.Stderr)
			}
			if peak := peakMiB(t, master); peak > 64 {
				t.Errorf("master's peak memory %.1f MiB under the flood", peak)
			}
			if lines := proctest.Lines(master.Stderr.String()); len(lines) > 100 {
				t.Errorf("master's log: %d lines", len(lines))
			}
		})
	}
}

// No flood can lock the tutorial's own Python worker out either, though it
// makes six connections a run, answers more slowly than Go and never tries
// again: of several started at once, every one gets in under the slow
// flood, and at least 8 of 10 under the fast ones, where the flood shares
// this test's two cores with them. Getting in is printing a line of the
// listing's loop, a task run or an empty queue.
//
// (Not parallel, as the Go worker's test.)
func TestFloodsCannotLockPythonWorkersOut(t *testing.T) {
	pythons := pythontest.ForTest(t)
	py := pythons[len(pythons)-1]
	inLine := regexp.MustCompile(`(?m)^(run task \d+ \* \d+\.\.\.|task queue is empty\.)$`)
	for _, tc := range floods {
		t.Run(tc.name, func(t *testing.T) { // one flood at a time
			workers, atLeast := 5, 5
			if tc.fast {
				workers, atLeast = 10, 8
			}
			_, addr := startMaster(t, "--tasks", strconv.Itoa(workers), "--timeout", "30s")
			flood(t, addr, tc.peers, tc.speak)
			var pythonWorkers []*proctest.Proc
			for range workers {
				pythonWorkers = append(pythonWorkers, startPyWorker(t, py, "python worker", addr, "--tries", "1"))
			}
			in := 0
			for _, w := range pythonWorkers {
				w.Wait()
				if inLine.MatchString(w.Stdout.String()) {
					in++
				}
			}
			t.Logf("%d of %d Python workers got in", in, workers)
			if in < atLeast {
				t.Errorf("%d of %d Python workers got in, want at least %d", in, workers, atLeast)
			}
		})
	}
}

// A peer that takes a task and hangs up, over and over, costs the master's
// log a line a second, not a line a requeue, and the task still gets done.
func TestRequeueLoopIsThrottled(t *testing.T) {
	t.Parallel()
	const loops = 200
	master, addr := startMaster(t, "--tasks", "1")
	started := time.Now()
	for range loops {
		taker := rpcClient(t, addr)
		var batch rpcwire.TaskBatch
		if err := taker.Call("TaskQueue.Get", rpcwire.GetArgs{Max: 1, Wait: proctest.Timeout}, &batch); err != nil || len(batch.Tasks) != 1 {
			t.Fatalf("get: %v, %d tasks", err, len(batch.Tasks))
		}
		taker.Close() // and the task goes back
	}
	seconds := int(time.Since(started)/time.Second) + 1
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
	requeues := 0
	for _, line := range proctest.Lines(master.Stderr.String()) {
		if strings.Contains(line, "back in the queue") || strings.Contains(line, "went back in the queue") {
			requeues++
		}
	}
	if requeues == 0 || requeues > 2*seconds+2 {
		t.Errorf("%d lines about requeues for %d in %d s:\n%s", requeues, loops, seconds, master.Stderr)
	}
}

// A peer that knows the key sends a get whose arguments carry one field
// more than a worker's, of a type that holds itself, nested 150,000 deep
// in a 0.9 MB frame: gob would decode it as deep as it goes (a master once
// held 247 MB for it). The master refuses the type before a value of it,
// hangs up, says why, and its memory stays small.
func TestMasterRefusesATypeNoWorkerSends(t *testing.T) {
	t.Parallel()
	type Node struct {
		Name string
		Kids []Node
	}
	type GetArgs struct {
		Max   int
		Wait  time.Duration
		Extra Node
	}
	deep := Node{Name: "leaf"}
	for range 150_000 {
		deep = Node{Name: "n", Kids: []Node{deep}}
	}
	master, addr := startMaster(t, "--tasks", "1")
	if err := rpcClient(t, addr).Call("TaskQueue.Get", GetArgs{Max: 1, Extra: deep}, &rpcwire.TaskBatch{}); err == nil {
		t.Fatal("the master answered a get with a type no worker sends")
	}
	master.Stderr.WaitFor(t, master, regexp.MustCompile(`^master: rejected 127\.0\.0\.1:\d+: hung up on it: malformed message: a type that no worker sends: `))
	if peak := peakMiBOf(t, master); peak > 32 {
		t.Errorf("master's peak memory %.1f MiB after a deep value of a type that holds itself", peak)
	}
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}
