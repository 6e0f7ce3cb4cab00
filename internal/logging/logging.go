// Package logging is what the master of section 分布式进程 needs of Python's
// logging module: lines about peers and tasks that no flood can multiply,
// the first of each second in full and the others summed up.
package logging

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// A Tally counts events by their reason.
type Tally map[string]int

// Count is the number of events, whatever their reason.
func (t Tally) Count() int {
	n := 0
	for _, c := range t {
		n += c
	}
	return n
}

// String lists the reasons, most frequent first: "silent: 2901, wrong key: 12".
func (t Tally) String() string {
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

// A Throttled log writes the first event of each second in full and sums
// up the others at the end of that second, so that a flood costs a line a
// second: "master: rejected 127.0.0.1:4242: ..." then "master: turned away
// 2913 more peers in the last 1s (silent: 2901, wrong key: 12)".
type Throttled struct {
	w       io.Writer
	prefix  string // before a line in full, after "master: ": "rejected "
	summary string // with the count: "turned away %d more peer%s"

	mu     sync.Mutex
	open   bool // a second has begun with a line in full
	counts Tally
	timer  *time.Timer
}

// NewThrottled returns a log that writes to w lines that begin "master: "
// and prefix, and sums up with summary, a format for the count and "s".
func NewThrottled(w io.Writer, prefix, summary string) *Throttled {
	return &Throttled{w: w, prefix: prefix, summary: summary, counts: Tally{}}
}

// Add logs an event, described by line and counted under its reasons.
func (l *Throttled) Add(line string, reasons Tally) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open {
		for why, n := range reasons {
			l.counts[why] += n
		}
		return
	}
	l.open = true
	fmt.Fprintf(l.w, "master: %s%s\n", l.prefix, line)
	l.timer = time.AfterFunc(time.Second, l.Flush)
}

// Flush sums up the events since the last line, if any, and begins anew.
func (l *Throttled) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.timer.Stop()
	}
	if n := l.counts.Count(); n > 0 {
		fmt.Fprintf(l.w, "master: "+l.summary+" in the last 1s (%v)\n", n, Plural(n), l.counts)
	}
	l.open, l.counts = false, Tally{}
}

// Plural is "s" for any count but 1, for the log's lines.
func Plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
