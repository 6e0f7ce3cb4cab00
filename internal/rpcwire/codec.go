// Package rpcwire is net/rpc's gob in frames of bounded size, with
// deadlines: what net/rpc/jsonrpc is to JSON, for the master and the workers
// of section 分布式进程.
//
// It is gob, as rpc.NewServer and rpc.NewClient use it, plus what a server
// facing the network needs and net/rpc's own gob codec lacks, much as
// net/http's Server has ReadTimeout, WriteTimeout and MaxHeaderBytes:
//
//   - every message is a frame with a 4-byte length, checked against
//     MaxFrame before the frame is read, so no peer can make the other side
//     allocate more (gob alone accepts messages of gigabytes);
//   - every write has a deadline, and a frame once begun must arrive whole
//     within Config.ReadTimeout (deadlines are moved only when less than half of
//     them is left, and not at all for bytes already read into the buffer:
//     resetting them for every message cost a tenth of a call's time);
//   - on the master's side, a connection has at most Config.MaxInFlight calls
//     running: the next request is not read until one finishes;
//   - an error is final: the connection is finished at once, and the master
//     hears of it (ended) before net/rpc has waited for the calls in
//     progress, so the worker's tasks go back in the queue without delay.
package rpcwire

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"net"
	"net/rpc"
	"sync"
	"time"

	"multithreading/internal/queue"
)

// The limits of the protocol itself, the same for every connection.
const (
	MaxBatch = 1024 // the most tasks one call may move
	// MaxFrame fits a batch of MaxBatch results of queue.MaxText bytes,
	// with room for gob's field tags and type descriptions, and so a batch
	// of as many tasks, whose paths are shorter (queue.MaxPath).
	MaxFrame    = MaxBatch*(queue.MaxText+32) + 4096
	MaxInFlight = 64 // the most calls a connection may have running, and leases one renewal may carry

	keptBuffer     = 64 << 10 // a frame buffer larger than this is not kept between frames
	frameHeader    = 4        // bytes of length before each frame
	readBufferSize = 16 << 10 // what one read from the network may bring
)

// Config holds a connection's limits. A zero field means its default, as in
// net/http's Server.
type Config struct {
	ReadTimeout  time.Duration // for a frame's bytes to arrive once its length has: 10 s
	WriteTimeout time.Duration // for a frame to be written: 10 s
	IdleTimeout  time.Duration // the server hangs up on a peer that asks nothing for this long: 2 min
	MaxInFlight  int           // calls a connection may have running on the server: MaxInFlight
	MaxTypes     int           // gob types a peer may define: 32, where its messages need under ten
	MaxTypeBytes int           // and the bytes of their definitions: 16 KiB, where they take under 2
}

// The defaults of Config.
const (
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultIdleTimeout  = 2 * time.Minute
)

// withDefaults fills in the zero fields.
func (c Config) withDefaults() Config {
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.MaxInFlight = min(cmp.Or(c.MaxInFlight, MaxInFlight), MaxInFlight)
	c.MaxTypes = cmp.Or(c.MaxTypes, 32)
	c.MaxTypeBytes = cmp.Or(c.MaxTypeBytes, 16<<10)
	return c
}

// Why a connection was finished.
var (
	ErrFrameTooLarge = errors.New("message too large")
	ErrMalformed     = errors.New("malformed message")
)

// framedGob reads and writes gob messages, a frame at a time, on conn.
type framedGob struct {
	conn      net.Conn
	cfg       Config
	allowType func(typeShape) bool // the type definitions the peer may send; nil: any

	// Reading: the decoder reads the current frame from frame, and
	// reaches its end instead of reading on into the next frame.
	in           *bufio.Reader
	frame        bytes.Reader
	buffer       []byte
	dec          *gob.Decoder
	err          error     // the first read error: final
	readDeadline time.Time // as last set on conn
	types        int       // gob types the peer has defined: gob keeps each for good
	typeBytes    int       // the bytes of their definitions

	// Writing, under the caller's lock (net/rpc holds one).
	out           bytes.Buffer
	enc           *gob.Encoder
	writeDeadline time.Time // as last set on conn
}

func newFramedGob(conn net.Conn, cfg Config) *framedGob {
	f := &framedGob{conn: conn, cfg: cfg.withDefaults(), in: bufio.NewReaderSize(conn, readBufferSize)}
	f.dec = gob.NewDecoder(&f.frame) // a bytes.Reader is an io.ByteReader: gob adds no buffer of its own
	f.enc = gob.NewEncoder(&f.out)
	return f
}

// readFrame reads the next frame, waiting up to idle for it to begin (zero:
// for ever, as a client whose calls have their own timers does).
func (f *framedGob) readFrame(idle time.Duration) error {
	if f.err != nil {
		return f.err
	}
	if f.frame.Len() > 0 {
		return f.fail(fmt.Errorf("%w: %d bytes left over", ErrMalformed, f.frame.Len()))
	}
	if f.in.Buffered() < frameHeader {
		f.setReadDeadline(idle)
	}
	var header [frameHeader]byte
	if _, err := io.ReadFull(f.in, header[:]); err != nil {
		return f.fail(err)
	}
	size := binary.BigEndian.Uint32(header[:])
	if size > MaxFrame {
		return f.fail(fmt.Errorf("%w: %d bytes (at most %d)", ErrFrameTooLarge, size, MaxFrame))
	}
	if f.in.Buffered() < int(size) {
		f.setReadDeadline(f.cfg.ReadTimeout)
	}
	if cap(f.buffer) > keptBuffer {
		f.buffer = nil
	}
	// The buffer grows as the frame's bytes come, never ahead of them: a
	// length alone makes the master allocate nothing.
	frame := bytes.NewBuffer(f.buffer[:0])
	if _, err := io.CopyN(frame, f.in, int64(size)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return f.fail(err)
	}
	f.buffer = frame.Bytes()
	types, typeBytes, err := checkGobTypes(f.buffer, f.allowType)
	if err != nil {
		return f.fail(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	if f.types, f.typeBytes = f.types+types, f.typeBytes+typeBytes; f.types > f.cfg.MaxTypes || f.typeBytes > f.cfg.MaxTypeBytes {
		return f.fail(fmt.Errorf("%w: more than %d types, or %d bytes of them, defined", ErrMalformed, f.cfg.MaxTypes, f.cfg.MaxTypeBytes))
	}
	f.frame.Reset(f.buffer)
	return nil
}

// setReadDeadline makes the next read end within limit (zero: never),
// moving the deadline only if it is not within limit, or less than half of
// it is left.
func (f *framedGob) setReadDeadline(limit time.Duration) {
	if limit == 0 {
		if !f.readDeadline.IsZero() {
			f.readDeadline = time.Time{}
			f.conn.SetReadDeadline(f.readDeadline)
		}
		return
	}
	now := time.Now()
	if left := f.readDeadline.Sub(now); f.readDeadline.IsZero() || left > limit || left < limit/2 {
		f.readDeadline = now.Add(limit)
		f.conn.SetReadDeadline(f.readDeadline)
	}
}

// decode decodes the next value of the current frame into v (nil: discard).
func (f *framedGob) decode(v any) error {
	if f.err != nil {
		return f.err
	}
	if err := f.dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the frame ended mid-message
		}
		return f.fail(fmt.Errorf("%w: %w", ErrMalformed, err))
	}
	return nil
}

func (f *framedGob) fail(err error) error {
	if f.err == nil {
		f.err = err
	}
	return f.err
}

// write sends header and body as one frame, within WriteTimeout.
func (f *framedGob) write(header, body any) error {
	f.out.Reset()
	f.out.Write(make([]byte, frameHeader))
	if err := f.enc.Encode(header); err != nil {
		return err
	}
	if err := f.enc.Encode(body); err != nil {
		return err
	}
	size := f.out.Len() - frameHeader
	if size > MaxFrame {
		return fmt.Errorf("%w to send: %d bytes (at most %d)", ErrFrameTooLarge, size, MaxFrame)
	}
	binary.BigEndian.PutUint32(f.out.Bytes(), uint32(size))
	if now := time.Now(); f.writeDeadline.Sub(now) < f.cfg.WriteTimeout/2 {
		f.writeDeadline = now.Add(f.cfg.WriteTimeout)
		f.conn.SetWriteDeadline(f.writeDeadline)
	}
	_, err := f.conn.Write(f.out.Bytes())
	return err
}

// serverCodec is the master's side of a worker connection.
type serverCodec struct {
	*framedGob
	slots chan struct{} // a token for each call running: at most cfg.MaxInFlight
	ended func(error)   // hears, once, why the connection is finished
	once  sync.Once
}

// NewServerCodec returns the server's side of conn, for rpc.Server's
// ServeCodec. ended hears, once, why the connection is finished.
func NewServerCodec(conn net.Conn, cfg Config, ended func(error)) rpc.ServerCodec {
	f := newFramedGob(conn, cfg)
	f.allowType = isWorkerType
	return &serverCodec{framedGob: f, slots: make(chan struct{}, f.cfg.MaxInFlight), ended: ended}
}

func (c *serverCodec) ReadRequestHeader(r *rpc.Request) error {
	c.slots <- struct{}{} // wait for a call to finish before reading another
	err := c.readFrame(c.cfg.IdleTimeout)
	if err == nil {
		err = c.decode(r)
	}
	if err != nil {
		<-c.slots
		c.end(err)
	}
	return err
}

func (c *serverCodec) ReadRequestBody(body any) error {
	err := c.decode(body)
	if err != nil {
		c.end(err)
	}
	return err
}

// WriteResponse sends a call's answer. net/rpc calls it once for each
// request header read, so it gives back the call's slot.
func (c *serverCodec) WriteResponse(r *rpc.Response, body any) error {
	defer func() { <-c.slots }()
	err := c.write(r, body)
	if err != nil {
		c.conn.Close() // a peer that does not read is finished too
		c.end(err)
	}
	return err
}

func (c *serverCodec) Close() error {
	c.end(net.ErrClosed)
	return c.conn.Close()
}

// end finishes the connection for the master: its waiting calls return and
// its tasks go back, while net/rpc still waits for the calls in progress.
func (c *serverCodec) end(err error) {
	c.once.Do(func() { c.ended(err) })
}

// clientCodec is the worker's side of its connection to the master.
type clientCodec struct {
	*framedGob
}

// NewClientCodec returns the client's side of conn, for
// rpc.NewClientWithCodec. Its reads wait for an answer as long as it takes:
// the caller bounds each call.
func NewClientCodec(conn net.Conn, cfg Config) rpc.ClientCodec {
	return clientCodec{newFramedGob(conn, cfg)}
}

func (c clientCodec) WriteRequest(r *rpc.Request, body any) error {
	err := c.write(r, body)
	if err != nil {
		c.conn.Close() // a frame cut off mid-way leaves nothing to go on with
	}
	return err
}

func (c clientCodec) ReadResponseHeader(r *rpc.Response) error {
	if err := c.readFrame(0); err != nil {
		return err
	}
	return c.decode(r)
}

func (c clientCodec) ReadResponseBody(body any) error { return c.decode(body) }

func (c clientCodec) Close() error { return c.conn.Close() }
