// Tests of codec.go: the frames under net/rpc.

package rpcwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/rpc"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// scriptedConn is a connection whose peer sends fixed bytes and hears
// nothing; it counts what is read.
type scriptedConn struct {
	net.Conn // nil: only the methods below are used
	in       *bytes.Reader
	sent     int
}

func newScriptedConn(sent []byte) *scriptedConn {
	return &scriptedConn{in: bytes.NewReader(sent), sent: len(sent)}
}

func (c *scriptedConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *scriptedConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *scriptedConn) Close() error                     { return nil }
func (c *scriptedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptedConn) SetWriteDeadline(time.Time) error { return nil }
func (c *scriptedConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *scriptedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *scriptedConn) readBytes() int                   { return c.sent - c.in.Len() }

// requestFrames is what a worker's client codec writes for these calls.
func requestFrames(t testing.TB, calls ...any) []byte {
	var sent bytes.Buffer
	codec := newFramedGob(&recordingConn{scriptedConn: newScriptedConn(nil), out: &sent}, Config{})
	for i, body := range calls {
		method := "TaskQueue.Get"
		if _, ok := body.(ResultBatch); ok {
			method = "ResultQueue.Put"
		}
		if err := codec.write(&rpc.Request{ServiceMethod: method, Seq: uint64(i)}, body); err != nil {
			t.Fatal(err)
		}
	}
	return sent.Bytes()
}

// recordingConn keeps what is written to it.
type recordingConn struct {
	*scriptedConn
	out *bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) { return c.out.Write(p) }

// A frame over the limit is refused after its 4-byte length, without
// reading on beyond one buffer, and the error is final.
func TestCodecRefusesOversizedFrame(t *testing.T) {
	t.Parallel()
	conn := newScriptedConn(append(binary.BigEndian.AppendUint32(nil, MaxFrame+1), make([]byte, MaxFrame+1)...))
	var ended error
	codec := NewServerCodec(conn, Config{}, func(err error) { ended = err })
	var request rpc.Request
	err := codec.ReadRequestHeader(&request)
	if !errors.Is(err, ErrFrameTooLarge) || conn.readBytes() > readBufferSize || !errors.Is(ended, ErrFrameTooLarge) {
		t.Errorf("error %v after reading %d bytes, ended with %v; want %v after at most %d", err, conn.readBytes(), ended, ErrFrameTooLarge, readBufferSize)
	}
	if again := codec.ReadRequestHeader(&request); !errors.Is(again, ErrFrameTooLarge) {
		t.Errorf("the next read: %v, want the same error", again)
	}
}

// Two calls, as a worker sends them, read back whole.
func TestCodecReadsWhatTheClientWrites(t *testing.T) {
	t.Parallel()
	sent := requestFrames(t, GetArgs{Max: 3, Wait: time.Second}, ResultBatch{{ID: 1, Lease: 2, Text: "1 * 1 = 1"}})
	codec := NewServerCodec(newScriptedConn(sent), Config{}, func(error) {}).(*serverCodec)
	var request rpc.Request
	var args GetArgs
	var results ResultBatch
	if err := codec.ReadRequestHeader(&request); err != nil || request.ServiceMethod != "TaskQueue.Get" {
		t.Fatalf("first header %+v, %v", request, err)
	}
	if err := codec.ReadRequestBody(&args); err != nil || args != (GetArgs{Max: 3, Wait: time.Second}) {
		t.Fatalf("first body %+v, %v", args, err)
	}
	<-codec.slots // as WriteResponse would
	if err := codec.ReadRequestHeader(&request); err != nil || request.ServiceMethod != "ResultQueue.Put" {
		t.Fatalf("second header %+v, %v", request, err)
	}
	if err := codec.ReadRequestBody(&results); err != nil || len(results) != 1 || results[0].Text != "1 * 1 = 1" {
		t.Fatalf("second body %+v, %v", results, err)
	}
}

// The master's codec, fed any bytes, never panics, never reads a frame over
// MaxFrame, and reads no request it cannot account for by a frame. The
// seeds run in every go test.
func FuzzServerCodec(f *testing.F) {
	f.Add([]byte{})
	f.Add(requestFrames(f, GetArgs{Max: 1, Wait: time.Second}))
	f.Add(requestFrames(f, ResultBatch{{ID: 0, Lease: 1, Text: "0 * 0 = 0"}}, GetArgs{Max: 2}))
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 3), 1, 2, 3))
	f.Add(deepRequest(f, 100_000)) // the amplification a review found, 0.6 MB deep
	f.Fuzz(func(t *testing.T, sent []byte) {
		conn := newScriptedConn(sent)
		read := func() {
			codec := NewServerCodec(conn, Config{}, func(error) {}).(*serverCodec)
			for frames := 0; ; frames++ {
				var request rpc.Request
				if codec.ReadRequestHeader(&request) != nil {
					break
				}
				if codec.ReadRequestBody(argsOf(request.ServiceMethod)) != nil {
					break
				}
				<-codec.slots
				if frames > len(sent)/frameHeader {
					t.Errorf("read %d requests from %d bytes", frames, len(sent))
					break
				}
			}
		}
		// The memory the master's side of a connection takes to read what a
		// peer sends, its goroutine's stack included, is at most what a
		// codec costs to start and a few times the bytes. The counters are
		// the whole process's, which the fuzzer shares: the least of three
		// readings counts.
		bound := 256<<10 + 8*len(sent)
		grew := memoryTakenBy(read)
		for try := 1; try < 3 && grew > bound; try++ {
			conn = newScriptedConn(sent)
			grew = min(grew, memoryTakenBy(read))
		}
		if grew > bound {
			t.Errorf("reading %d bytes took %d bytes of memory, over %d", len(sent), grew, bound)
		}
		if conn.readBytes() > len(sent) {
			t.Fatalf("read %d bytes of %d", conn.readBytes(), len(sent))
		}
	})
}

// A peer that asks nothing for the Config's IdleTimeout is hung up on, and
// the master hears why.
func TestServerCodecIdleTimeout(t *testing.T) {
	t.Parallel()
	ours, theirs := net.Pipe()
	defer theirs.Close()
	var ended error
	codec := NewServerCodec(ours, Config{IdleTimeout: 50 * time.Millisecond}, func(err error) { ended = err })
	var request rpc.Request
	err := codec.ReadRequestHeader(&request)
	var timeout net.Error
	if !errors.As(err, &timeout) || !timeout.Timeout() || ended != err {
		t.Errorf("an idle peer: error %v, ended with %v; want a timeout, heard", err, ended)
	}
}

// The type definitions a worker's requests carry are workerTypes, no more,
// no fewer: were a message to change, this says to change the list.
func TestWorkerTypes(t *testing.T) {
	t.Parallel()
	var sent []typeShape
	for _, body := range []any{GetArgs{Max: 1, Wait: time.Second}, ResultBatch{{ID: 1, Lease: 2, Text: "1 * 1 = 1"}}, LeaseList{1}} {
		frame := requestFrames(t, body)[frameHeader:]
		for len(frame) > 0 {
			size, n := gobUint(frame)
			r := gobReader{b: frame[n : n+int(size)]}
			frame = frame[n+int(size):]
			if id := r.int(); id < 0 {
				shape, ok := readTypeShape(&r)
				if !ok {
					t.Fatalf("a definition of %T that does not parse", body)
				}
				if !slices.ContainsFunc(sent, func(s typeShape) bool { return s.name == shape.name }) {
					sent = append(sent, shape)
				}
			}
		}
	}
	if diff := cmp.Diff(workerTypes, sent, cmp.AllowUnexported(typeShape{}, fieldShape{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the types a worker defines (-workerTypes +sent):\n%s", diff)
	}
}

// A peer that knows the key may define no type a worker does not send: not
// an extra field, and not a type that holds itself, whose values gob would
// decode however deep they go (a 0.9 MB frame made a master hold 247 MB).
func TestCodecTakesOnlyWorkerTypes(t *testing.T) {
	t.Parallel()
	type Node struct {
		Name string
		Kids []Node
	}
	type GetArgs struct { // the worker's, and one more field
		Max   int
		Wait  time.Duration
		Extra Node
	}
	deep := Node{Name: "root"}
	for range 1000 {
		deep = Node{Name: "n", Kids: []Node{deep}}
	}
	for _, body := range []any{GetArgs{Max: 1, Extra: deep}, deep} {
		codec := NewServerCodec(newScriptedConn(requestFrames(t, body)), Config{}, func(error) {}).(*serverCodec)
		var request rpc.Request
		err := codec.ReadRequestHeader(&request)
		if err == nil {
			err = codec.ReadRequestBody(nil)
		}
		if !errors.Is(err, errUnknownType) {
			t.Errorf("%T: %v, want %v", body, err, errUnknownType)
		}
	}
}

// memoryTakenBy runs read in a goroutine of its own and returns the bytes
// it allocated on the heap and grew its stack by (gob's decoder recurses as
// deep as a value nests).
func memoryTakenBy(read func()) int {
	var before, after runtime.MemStats
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.ReadMemStats(&before)
		read()
		runtime.ReadMemStats(&after)
	}()
	<-done
	return int(after.TotalAlloc-before.TotalAlloc) + max(0, int(after.StackInuse)-int(before.StackInuse))
}

// deepRequest is a get whose arguments carry a field more than a worker's,
// of a type that holds itself, nested depth deep.
func deepRequest(t testing.TB, depth int) []byte {
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
	for range depth {
		deep = Node{Name: "n", Kids: []Node{deep}}
	}
	return requestFrames(t, GetArgs{Max: 1, Extra: deep})
}

// argsOf is where the master's net/rpc server decodes a method's arguments.
func argsOf(method string) any {
	switch method {
	case "TaskQueue.Get":
		return new(GetArgs)
	case "TaskQueue.Renew":
		return new(LeaseList)
	case "ResultQueue.Put":
		return new(ResultBatch)
	}
	return nil // discarded
}
