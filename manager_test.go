// Tests of manager.go and admission.go: a real master, and peers that know
// the key but misbehave, written with the project's own client code.

package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"multithreading/internal/mpconn"
	"multithreading/internal/proctest"
	"multithreading/internal/queue"
	"multithreading/internal/rpcwire"
	"net"
	"net/rpc"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// connectAs connects to the master with the project's client, as a worker
// does, and closes the connection at the end of the test.
func connectAs(t *testing.T, addr string) *RemoteQueueManager {
	t.Helper()
	m, err := connectQueueManager(t.Context(), addr, []byte("hello world"), 0, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m.(*RemoteQueueManager)
}

// dialMaster connects to a Go master and proves the key, and gives the
// test the bare connection, to send what no worker would.
func dialMaster(ctx context.Context, addr string, authkey []byte) (net.Conn, error) {
	conn, err := dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := mpconn.ClientHandshake(conn, authkey, rand.Reader); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// putRaw puts results and returns the master's own answer: PutBatch would
// take a refusal in its stride.
func putRaw(m *RemoteQueueManager, results ...queue.Result) error {
	return m.call(context.Background(), "ResultQueue.Put", rpcwire.ResultBatch(results), &struct{}{}, proctest.Timeout)
}

// peakMiB reads the peak memory of a running process (Linux's VmHWM).
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
// as a result, it is told so, and the master logs it and finishes with the
// honest worker's results.
func TestMasterRefusesForgedResults(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "2", "--seed", "1")
	honest, forger := connectAs(t, addr), connectAs(t, addr)
	tasks, err := honest.getTaskQueue().GetBatch(t.Context(), 1, proctest.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	task := tasks[0]
	for _, tc := range []struct {
		name    string
		from    *RemoteQueueManager
		results []queue.Result
		want    string
	}{
		{"forged ids", forger, []queue.Result{{ID: 0, Text: "forged 0"}, {ID: 1, Text: "forged 1"}}, "refused 2 of 2 results (not leased to it: 2)"},
		{"another connection's lease", forger, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: "forged"}}, "refused 1 of 1 results (not leased to it: 1)"},
		{"the lease holder", honest, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: square(task.N)}}, "<nil>"},
		{"the lease holder again", honest, []queue.Result{{ID: task.ID, Lease: task.Lease, Text: "again"}}, "refused 1 of 1 results (not leased to it: 1)"},
	} {
		if got := fmt.Sprint(putRaw(tc.from, tc.results...)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
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
	conn, err := dialMaster(t.Context(), addr, []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
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
// rpcwire.MaxInFlight of them at once and reads no more until one finishes, so its
// memory stays small, and it serves a good worker meanwhile.
func TestMasterBoundsPipelinedCalls(t *testing.T) {
	t.Parallel()
	master, addr := startMaster(t, "--tasks", "1")
	holder := connectAs(t, addr) // takes the only task, so every get waits
	if _, err := holder.getTaskQueue().GetBatch(t.Context(), 1, proctest.Timeout); err != nil {
		t.Fatal(err)
	}
	conn, err := dialMaster(t.Context(), addr, []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	flooder := rpc.NewClientWithCodec(rpcwire.NewClientCodec(conn, rpcwire.Config{}))
	defer flooder.Close()
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
	holder.Close()
	finish(t, master, start(t, "good worker", "worker", "--server", addr, "--tries", "0", "--work", "1ms"))
}

// Whatever the order of the throttled log's events, it writes the first in
// full and sums up the rest, most frequent first.
func TestThrottledLog(t *testing.T) {
	t.Parallel()
	out := proctest.NewLineLog()
	l := newThrottledLog(out, "rejected", "turned away %d more peer%s")
	l.add("127.0.0.1:1: first", tally{"wrong key": 1})
	for range 3 {
		l.add("silent", tally{"silent": 1})
	}
	l.add("wrong", tally{"wrong key": 1})
	l.flush()
	l.add("127.0.0.1:2: next second", tally{"silent": 1})
	l.flush()
	want := `master: rejected 127.0.0.1:1: first
master: turned away 4 more peers in the last 1s (silent: 3, wrong key: 1)
master: rejected 127.0.0.1:2: next second
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
