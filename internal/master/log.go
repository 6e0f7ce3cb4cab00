// The master's log, for section 分布式进程: stderr, which must never hold up
// the queue, and in which a flood of peers costs a line a second.

package master

import (
	"fmt"
	"io"
	"slices"
	"strings"
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

// A tally counts things by the reason for them.
type tally map[string]int

func (t tally) count() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// String lists the reasons, most frequent first: "silent: 2901, wrong key: 12".
func (t tally) String() string {
	reasons := make([]string, 0, len(t))
	for why := range t {
		reasons = append(reasons, why)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if t[a] != t[b] {
			return t[b] - t[a]
		}
		return strings.Compare(a, b)
	})
	for i, why := range reasons {
		reasons[i] = fmt.Sprintf("%s: %d", why, t[why])
	}
	return strings.Join(reasons, ", ")
}

// A throttledLog writes the first event of each second in full and sums up
// the others at the end of that second, so that a flood costs a line a
// second: "master: rejected 127.0.0.1:4242: ..." then "master: turned away
// 2913 more peers in the last 1s (silent: 2901, wrong key: 12)".
type throttledLog struct {
	w       io.Writer
	verb    string // the full line's: "master: rejected ..."
	summary string // with the count: "turned away %d more peer%s"

	mu     sync.Mutex
	open   bool // a second has begun with a line in full
	counts tally
	timer  *time.Timer
}

func newThrottledLog(w io.Writer, verb, summary string) *throttledLog {
	return &throttledLog{w: w, verb: verb, summary: summary, counts: tally{}}
}

// add logs an event, described by line and counted under its reasons.
func (l *throttledLog) add(line string, reasons tally) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		for why, n := range reasons {
			l.counts[why] += n
		}
		return
	}
	l.open = true
	fmt.Fprintf(l.w, "master: %s %s\n", l.verb, line)
	l.timer = time.AfterFunc(time.Second, l.flush)
}

// flush sums up the events since the last line, if any, and begins anew.
func (l *throttledLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	if n := l.counts.count(); n > 0 {
		fmt.Fprintf(l.w, "master: "+l.summary+" in the last 1s (%v)\n", n, counted(n), l.counts)
	}
	l.open, l.counts = false, tally{}
}

// counted is "s" for any count but 1, for the log's lines.
func counted(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
