// Tests of log.go: the master's log never holds it up.

package master

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"multithreading/internal/proctest"
)

// gatedWriter blocks every write until its gate opens, as a pipe that
// nobody reads does.
type gatedWriter struct {
	gate chan struct{}
	mu   sync.Mutex
	text strings.Builder
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.text.Write(p)
}

// Writes return at once while the destination is stuck; what does not fit
// is dropped and counted; once unstuck, the rest comes out, in order.
func TestDroppingWriterNeverWaits(t *testing.T) {
	t.Parallel()
	stuck := &gatedWriter{gate: make(chan struct{})}
	log := NewDroppingWriter(stuck)
	const lines = waitingLines + 100
	wrote := make(chan struct{})
	go func() {
		for i := range lines {
			fmt.Fprintf(log, "line %d\n", i)
		}
		close(wrote)
	}()
	select {
	case <-wrote:
	case <-time.After(proctest.Timeout):
		t.Fatal("writing to a stuck log blocked")
	}
	close(stuck.gate)
	log.Close(proctest.Timeout)
	// Which lines got in depends on when the log's goroutine took its
	// first one and freed a place: what is kept begins with the first line
	// and keeps the order, and the count of the dropped makes up the rest.
	got := strings.Split(strings.TrimSuffix(stuck.text.String(), "\n"), "\n")
	kept := got[:len(got)-1]
	if len(kept) < waitingLines || len(kept) >= lines {
		t.Fatalf("kept %d lines of %d, want at least the %d that fit", len(kept), lines, waitingLines)
	}
	last := -1
	for i, line := range kept {
		var n int
		if _, err := fmt.Sscanf(line, "line %d", &n); err != nil || n <= last || (i == 0 && n != 0) {
			t.Fatalf("kept line %d is %q, after line %d", i, line, last)
		}
		last = n
	}
	want := fmt.Sprintf("master: %d lines of this log were dropped: nothing read them in time", lines-len(kept))
	if got[len(got)-1] != want {
		t.Errorf("last line %q, want %q", got[len(got)-1], want)
	}
}
