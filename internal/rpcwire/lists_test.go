// Tests of lists.go: the lists that cross the wire count themselves first.

package rpcwire

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"net/rpc"
	"reflect"
	"strings"
	"testing"
	"time"

	"multithreading/internal/queue"

	"github.com/google/go-cmp/cmp"
)

// Each list comes back as it went, however its elements look.
func TestWireListsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, list := range []any{
		ResultBatch{{ID: 0, Lease: 1, Text: "0 * 0 = 0"}, {ID: math.MinInt, Lease: 1 << 63, Text: ""}},
		TaskList{{ID: 3, N: 9999, Lease: 7}, {ID: queue.MaxTasks, N: -1, Lease: 0}},
		TaskList{{ID: 0, Path: "logs/app.log", Lease: 1}, {ID: 1, Path: "日志/" + strings.Repeat("x", queue.MaxPath-7), Lease: 1}},
		LeaseList{0, 1, 1 << 63},
		ResultBatch{},
	} {
		var wire bytes.Buffer
		if err := gob.NewEncoder(&wire).Encode(list); err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(list))
		if err := gob.NewDecoder(&wire).DecodeValue(back); err != nil {
			t.Fatalf("%T: %v", list, err)
		}
		if diff := cmp.Diff(list, back.Elem().Interface()); diff != "" {
			t.Errorf("%T (-sent +decoded):\n%s", list, diff)
		}
	}
}

// A list refuses a count over its limit, or over what its bytes could hold,
// before it allocates: a megabyte of empty results is not a million of them.
func TestWireListsRefuseCounts(t *testing.T) {
	t.Parallel()
	count := func(n uint64, rest int) []byte { return append(binary.AppendUvarint(nil, n), make([]byte, rest)...) }
	for _, tc := range []struct {
		name string
		list interface{ GobDecode([]byte) error }
		data []byte
		err  string
	}{
		{"a million results", new(ResultBatch), count(1_000_000, 1<<20), "malformed list: 1000000 elements in 1048576 bytes (at most 1024)"},
		{"more results than bytes", new(ResultBatch), count(100, 30), "malformed list: 100 elements in 30 bytes (at most 1024)"},
		{"too many tasks", new(TaskList), count(MaxBatch+1, 4000), "malformed list: 1025 elements in 4000 bytes (at most 1024)"},
		{"too many leases", new(LeaseList), count(MaxInFlight+1, 100), "malformed list: 65 elements in 100 bytes (at most 64)"},
		{"a text longer than its bytes", new(ResultBatch), append(count(1, 0), 0, 0, 100, 'x'), "malformed list: cut short"},
		{"a text over the limit", new(ResultBatch), append(append(count(1, 0), 0, 0, 0x81, 0x08), make([]byte, 1025)...), "malformed list: a result of 1025 bytes (at most 1024)"},
		{"bytes left over", new(LeaseList), count(1, 2), "malformed list: 1 bytes left over"},
		{"a path over the limit", new(TaskList), append(append(count(1, 0), 0, 0, 0x81, 0x04), make([]byte, 600)...), "malformed list: a path of 513 bytes (at most 512)"},
		{"a path that does not print", new(TaskList), append(count(1, 0), 0, 0, 3, 'a', '\n', 'b', 1), `malformed list: the path "a\nb" has characters that do not print`},
	} {
		err := tc.list.GobDecode(tc.data)
		if !errors.Is(err, errBadList) || err.Error() != tc.err {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
}

// A peer that defines a new gob type in every message is hung up on once it
// has defined maxTypes: gob would keep every one for the connection's life.
// (A few types of thousands of fields each meet maxTypeBytes instead.)
func TestCodecBoundsTypeDefinitions(t *testing.T) {
	t.Parallel()
	var sent bytes.Buffer
	writer := newFramedGob(&recordingConn{scriptedConn: newScriptedConn(nil), out: &sent}, Config{})
	for i := range 32 + 1 {
		// A struct type of its own for each message, as a hostile peer
		// would make them.
		body := reflect.New(reflect.StructOf([]reflect.StructField{{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeOf(0)}})).Elem().Interface()
		if err := writer.write(&rpc.Request{ServiceMethod: "TaskQueue.Renew", Seq: uint64(i)}, body); err != nil {
			t.Fatal(err)
		}
	}
	codec := NewServerCodec(newScriptedConn(sent.Bytes()), Config{}, func(error) {}).(*serverCodec)
	codec.allowType = nil // the count holds where any type is taken, as on a worker's side
	var err error
	requests := 0
	for ; err == nil; requests++ {
		var request rpc.Request
		if err = codec.ReadRequestHeader(&request); err == nil {
			err = codec.ReadRequestBody(nil)
			<-codec.slots
		}
	}
	if want := "malformed message: more than 32 types, or 16384 bytes of them, defined"; err == nil || err.Error() != want || requests > 32 {
		t.Errorf("after %d requests: %v, want %q", requests, err, want)
	}
}

// Whatever bytes a peer sends as a list, decoding them never panics, keeps
// to the limits, and what decodes encodes back to the same bytes.
func FuzzResultBatch(f *testing.F) {
	seed, _ := ResultBatch{{ID: 1, Lease: 2, Text: "1 * 1 = 1"}}.GobEncode()
	f.Add(seed)
	f.Add([]byte{})
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch ResultBatch
		if batch.GobDecode(data) != nil {
			return
		}
		if len(batch) > MaxBatch {
			t.Fatalf("%d results decoded", len(batch))
		}
		back, _ := batch.GobEncode()
		var again ResultBatch
		if err := again.GobDecode(back); err != nil || !reflect.DeepEqual(batch, again) {
			t.Fatalf("%x decoded to %v, which encodes to %x, which decodes to %v, %v", data, batch, back, again, err)
		}
	})
}

// Whatever bytes a master sends as its tasks, decoding them never panics,
// keeps to the limits, and what decodes encodes back to the same bytes.
func FuzzTaskList(f *testing.F) {
	seed, _ := TaskList{{ID: 1, N: 7, Lease: 2}, {ID: 2, Path: "logs/app.log", Lease: 2}}.GobEncode()
	f.Add(seed)
	f.Add([]byte{})
	f.Add(binary.AppendUvarint(nil, 1<<40))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tasks TaskList
		if tasks.GobDecode(data) != nil {
			return
		}
		if len(tasks) > MaxBatch {
			t.Fatalf("%d tasks decoded", len(tasks))
		}
		for _, task := range tasks {
			if err := queue.CheckPath(task.Path); task.Path != "" && err != nil {
				t.Fatalf("a task decoded with %v", err)
			}
		}
		back, _ := tasks.GobEncode()
		var again TaskList
		if err := again.GobDecode(back); err != nil || !reflect.DeepEqual(tasks, again) {
			t.Fatalf("%x decoded to %v, which encodes to %x, which decodes to %v, %v", data, tasks, back, again, err)
		}
	})
}

// A type with an interface in it would let gob define types inline, where
// no count sees them: the codec refuses it, in a header or in a body, and a
// top-level value of interface type too.
func TestCodecRefusesInterfaces(t *testing.T) {
	t.Parallel()
	type sneakyRequest struct {
		ServiceMethod string
		Seq           uint64
		Extra         any
	}
	type sneakyArgs struct {
		Max   int
		Items []any
	}
	gob.Register(sneakyArgs{})
	for _, tc := range []struct {
		name         string
		header, body any
	}{
		{"an interface field in the header", sneakyRequest{ServiceMethod: "TaskQueue.Get", Extra: 1}, GetArgs{Max: 1}},
		{"a slice of interfaces in the body", rpc.Request{ServiceMethod: "TaskQueue.Get"}, sneakyArgs{Max: 1, Items: []any{sneakyArgs{}}}},
	} {
		var sent bytes.Buffer
		writer := newFramedGob(&recordingConn{scriptedConn: newScriptedConn(nil), out: &sent}, Config{})
		if err := writer.write(tc.header, tc.body); err != nil {
			t.Fatal(err)
		}
		codec := NewServerCodec(newScriptedConn(sent.Bytes()), Config{}, func(error) {}).(*serverCodec)
		codec.allowType = nil // as on a worker's side, which takes any type
		var request rpc.Request
		err := codec.ReadRequestHeader(&request)
		if want := "malformed message: a type with an interface in it"; err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %q", tc.name, err, want)
		}
	}
	// What a worker sends passes, each type defined once.
	for _, body := range []any{GetArgs{Max: 1}, ResultBatch{{ID: 1}}, LeaseList{1}} {
		definitions, _, err := checkGobTypes(requestFrames(t, body)[frameHeader:], nil)
		if err != nil || definitions < 2 { // rpc.Request's and the body's, at least
			t.Errorf("a worker's %T: %d definitions, %v; want 2 or more, none refused", body, definitions, err)
		}
	}
}

// Whatever bytes a peer sends, reading its type definitions never panics.
func FuzzCheckGobTypes(f *testing.F) {
	f.Add(requestFrames(f, GetArgs{Max: 1}))
	f.Add([]byte{3, 0x11, 0x01, 0x00})
	f.Add([]byte{0x80, 0x01}) // a length byte that claims 128 bytes follow
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkGobTypes(frame, isWorkerType)
	})
}

// A batch of as many tasks as a call may move, each with as long a path as
// a task may have, fits in a frame.
func TestFrameFitsABatchOfLongPaths(t *testing.T) {
	t.Parallel()
	tasks := make(TaskList, MaxBatch)
	for i := range tasks {
		tasks[i] = queue.Task{ID: queue.MaxTasks - i, Path: strings.Repeat("x", queue.MaxPath), Lease: 1 << 63}
	}
	codec := newFramedGob(newScriptedConn(nil), Config{})
	if err := codec.write(&rpc.Response{ServiceMethod: "TaskQueue.Get", Seq: 1 << 63}, TaskBatch{Tasks: tasks, LeaseFor: time.Hour}); err != nil {
		t.Errorf("a batch of %d tasks with paths of %d bytes: %v", MaxBatch, queue.MaxPath, err)
	}
}
