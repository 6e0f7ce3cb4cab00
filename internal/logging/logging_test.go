// Tests of the throttled log.

package logging

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"multithreading/internal/proctest"
)

// Whatever the order of the throttled log's events, it writes the first in
// full and sums up the rest, most frequent first.
func TestThrottledLog(t *testing.T) {
	t.Parallel()
	out := proctest.NewLineLog()
	l := NewThrottled(out, "rejected ", "turned away %d more peer%s")
	l.Add("127.0.0.1:1: first", Tally{"wrong key": 1})
	for range 3 {
		l.Add("silent", Tally{"silent": 1})
	}
	l.Add("wrong", Tally{"wrong key": 1})
	l.Flush()
	l.Add("127.0.0.1:2: next second", Tally{"silent": 1})
	l.Flush()
	want := `master: rejected 127.0.0.1:1: first
master: turned away 4 more peers in the last 1s (silent: 3, wrong key: 1)
master: rejected 127.0.0.1:2: next second
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
