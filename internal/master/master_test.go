// Tests of master.go and admission.go: a real master, and peers that know
// the key but misbehave, written with the project's own client code.

package master

import (
	"testing"

	"multithreading/internal/proctest"

	"github.com/google/go-cmp/cmp"
)

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
