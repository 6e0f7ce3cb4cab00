// Package cli is what the program's command line needs beyond package flag:
// flags with errors that say what to type, --trace, and Ctrl-C and SIGTERM
// with the exit codes that shells give them.
//
// This file: Ctrl-C and SIGTERM, for the listings that wait: the master, the
// worker and their sleeps.
package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ErrInterrupted reports a Ctrl-C or a SIGTERM; errors.As finds the signal
// in a SignalError, which the program turns into exit code 128 + its number, as shells do.
var ErrInterrupted = errors.New("interrupted")

// SignalError is the cause of a context that a signal cancelled.
type SignalError struct{ Signal syscall.Signal }

func (e SignalError) Error() string {
	if e.Signal == syscall.SIGTERM {
		return "terminated"
	}
	return "interrupted"
}

func (e SignalError) Is(target error) bool { return target == ErrInterrupted }

// ExitWithin is how long after a Ctrl-C or a SIGTERM the program exits,
// whatever it is doing.
const ExitWithin = time.Second

// Interruptible returns a context that the first Ctrl-C (SIGINT) or SIGTERM
// cancels, with the signal as its cause, so that the master and the worker
// close their connections before they exit, and exits within ExitWithin
// even if they cannot. A second signal exits at once: whoever presses
// Ctrl-C twice does not want to wait for anything.
//
// Only the master, the worker and spin --python call it. A program that
// listens for signals can never be "asleep" to Go's runtime, which then no
// longer reports a deadlock (golang/go#21576), so the other listings leave
// signals alone.
func Interruptible(ctx context.Context, stderr io.Writer) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first syscall.Signal
		select {
		case sig := <-signals:
			first = sig.(syscall.Signal)
			cancel(SignalError{first})
		case <-done:
			return
		}
		// The listing returns as soon as it sees ctx end, unless it is
		// stuck writing to a pipe that nobody reads: then, ExitWithin after
		// the signal, the program exits all the same.
		stuck := time.NewTimer(ExitWithin)
		defer stuck.Stop()
		select {
		case sig := <-signals:
			// Say so, unless stderr is stuck: then go without a word.
			SayWithin(stderr, 100*time.Millisecond, "exiting at once\n")
			os.Exit(128 + int(sig.(syscall.Signal)))
		case <-stuck.C:
			os.Exit(128 + int(first))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(done)
		cancel(nil)
	}
}

// ExitCode maps a command's error to its exit status: 2 for a usage
// mistake (ErrUsage), 1 for a failure, and as shells report a signal,
// 128 + its number: 130 for Ctrl-C (SIGINT), 143 for SIGTERM.
func ExitCode(err error) int {
	var sig SignalError
	switch {
	case errors.As(err, &sig):
		return 128 + int(sig.Signal)
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	case errors.Is(err, ErrInterrupted):
		return 130
	default:
		return 1
	}
}

// SayWithin writes line to w, but waits at most limit: a stderr that
// nobody reads must not keep the program from exiting.
func SayWithin(w io.Writer, limit time.Duration, line string) {
	said := make(chan struct{})
	go func() { io.WriteString(w, line); close(said) }()
	select {
	case <-said:
	case <-time.After(limit):
	}
}

// Stopped is the error a listing returns when ctx is done: the signal that
// ended it, or ErrInterrupted.
func Stopped(ctx context.Context) error {
	var sig SignalError
	if errors.As(context.Cause(ctx), &sig) {
		return sig
	}
	return ErrInterrupted
}

// Sleep is time.Sleep that Ctrl-C cuts short.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return Stopped(ctx)
	}
}
