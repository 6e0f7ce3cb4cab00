// Ctrl-C, for the listings that wait: the master, the worker and their
// sleeps.

package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// errInterrupted reports a Ctrl-C.
var errInterrupted = errors.New("interrupted")

// interruptible returns a context that Ctrl-C (or SIGTERM) cancels, so that
// the master and the worker close their connections before they exit.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// sleep is time.Sleep that Ctrl-C cuts short.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return errInterrupted
	}
}
