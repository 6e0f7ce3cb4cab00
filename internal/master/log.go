// The master's log, for section 分布式进程: stderr, which must never hold up
// the queue, and in which a flood of peers costs a line a second.

package master

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// A DroppingWriter writes lines to w from a goroutine of its own, so that
// no writer waits on w: a master whose stderr is a pipe that nobody reads
// goes on serving its workers. When more lines wait than it holds, the
// newest are dropped, and then counted in a line of their own.
type DroppingWriter struct {
	w        io.Writer
	lines    chan []byte
	dropped  atomic.Int64
	stop     chan struct{} // closed by Close
	drained  chan struct{} // closed when the goroutine is done
	stopOnce sync.Once
}

// waitingLines is how many lines may wait for w.
const waitingLines = 1024

// NewDroppingWriter returns a writer to w that never waits for it.
func NewDroppingWriter(w io.Writer) *DroppingWriter {
	d := &DroppingWriter{w: w, lines: make(chan []byte, waitingLines), stop: make(chan struct{}), drained: make(chan struct{})}
	go d.drain()
	return d
}

func (d *DroppingWriter) Write(p []byte) (int, error) {
	select {
	case <-d.stop:
		d.dropped.Add(1)
	case d.lines <- append([]byte(nil), p...):
	default:
		d.dropped.Add(1)
	}
	return len(p), nil
}

func (d *DroppingWriter) drain() {
	defer close(d.drained)
	for {
		select {
		case line := <-d.lines:
			d.w.Write(line)
			if len(d.lines) == 0 { // the lines that came before the drops are out
				d.sayDropped()
			}
		case <-d.stop:
			for {
				select {
				case line := <-d.lines:
					d.w.Write(line)
				default:
					d.sayDropped()
					return
				}
			}
		}
	}
}

func (d *DroppingWriter) sayDropped() {
	if n := d.dropped.Swap(0); n > 0 {
		fmt.Fprintf(d.w, "master: %d lines of this log were dropped: nothing read them in time\n", n)
	}
}

// Close writes out the lines still waiting, for up to wait.
func (d *DroppingWriter) Close(wait time.Duration) {
	d.stopOnce.Do(func() { close(d.stop) })
	select {
	case <-d.drained:
	case <-time.After(wait):
	}
}
