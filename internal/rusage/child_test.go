//go:build unix

package rusage

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"
)

// busyLoop is a shell loop that costs a fixed amount of CPU time, however
// busy the machine is (only its wall time grows).
const busyLoop = `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`

// Run's CPU time includes the children that the command waited for: two
// loops in two children cost about twice one loop.
func TestRunCountsWaitedChildren(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	one, err := Run(ctx, exec.Command("sh", "-c", busyLoop))
	if err != nil {
		t.Fatal(err)
	}
	two, err := Run(ctx, exec.Command("sh", "-c", "("+busyLoop+") & ("+busyLoop+") & wait"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one loop: %+v, two children: %+v", one, two)
	if ratio := float64(two.CPU) / float64(one.CPU); ratio < 1.5 || ratio > 3 {
		t.Errorf("two loops in children waited for cost %v of CPU, one loop %v: want about twice as much", two.CPU, one.CPU)
	}
}

// The end of the context kills the command with what it started, and Run
// returns the context's cause at once, not when the children would end.
func TestRunStopsWithTheContext(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(100*time.Millisecond, func() { cancel(stop) })
	start := time.Now()
	_, err := Run(ctx, exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait"))
	if took := time.Since(start); !errors.Is(err, stop) || took > 5*time.Second {
		t.Errorf("Run returned %v after %v, want the cause %q within a few seconds", err, took, stop)
	}
}
