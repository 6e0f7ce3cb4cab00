// Section LCOK (sic) of the tutorial, its last warning, which has no listing:
// "由于可以存在多个锁，不同的线程持有不同的锁，并试图获取对方持有的锁时，可能会造成死锁，
// 导致多个线程全部挂起". Two goroutines move money between two accounts in
// opposite directions; each locks the account it pays from, then the one it
// pays into. With --ordered both lock the accounts in one global order, by
// id, and cannot deadlock.
//
// Go's runtime reports a deadlock by itself ("fatal error: all goroutines are
// asleep - deadlock!") only when nothing at all could wake the program, and
// most real programs have something that could: a pending timer, a listener
// or a signal.Notify (golang/go#21576), or C code that could call back in
// (golang/go#12734). So a watchdog reports it here, with where each
// goroutine waits; --watchdog 0 leaves it to the runtime, where it can tell.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"runtime/trace"
	"sync"
	"time"

	"multithreading/internal/threading"
)

// numberedAccount is an account with an id, the order --ordered locks in.
type numberedAccount struct {
	id      int
	mu      sync.Mutex // guards balance
	balance int
}

// deadlockConfig is what the deadlock command's flags say.
type deadlockConfig struct {
	ordered  bool          // lock the accounts by id, not in the transfer's order
	pause    time.Duration // with ordered: the pause between a transfer's two locks
	watchdog time.Duration // how long the transfers may take; 0: no watchdog
}

// errDeadlock is what the watchdog concludes.
var errDeadlock = errors.New("the two transfers are deadlocked: each holds one account's lock and waits for the other's")

// deadlockMain runs two transfers in opposite directions at once, then prints
// the balances, unless the watchdog finds them deadlocked.
func deadlockMain(ctx context.Context, out, stderr io.Writer, cfg deadlockConfig) error {
	account1 := &numberedAccount{id: 1, balance: 100}
	account2 := &numberedAccount{id: 2, balance: 100}

	// Between its two locks a transfer pauses. Without --ordered it waits
	// until the other transfer holds its first lock (a barrier), so that they
	// deadlock every time, not only when the scheduler happens to interleave
	// them so. With --ordered that barrier would never open: the other
	// transfer waits for the lock this one holds, holding none.
	var bothHoldOne sync.WaitGroup
	bothHoldOne.Add(2)
	pause := func() { bothHoldOne.Done(); bothHoldOne.Wait() }
	if cfg.ordered {
		pause = func() { time.Sleep(cfg.pause) }
	}
	var threads sync.WaitGroup
	threads.Add(2)
	go func() {
		defer threads.Done()
		transfer(threading.Named(ctx, "Thread-1"), out, account1, account2, 10, cfg.ordered, pause)
	}()
	go func() {
		defer threads.Done()
		transfer(threading.Named(ctx, "Thread-2"), out, account2, account1, 20, cfg.ordered, pause)
	}()
	if err := joinOrReport(&threads, stderr, cfg.watchdog); err != nil {
		return err
	}
	for _, account := range []*numberedAccount{account1, account2} {
		fmt.Fprintf(out, "账户%d余额为: ￥%d元\n", account.id, account.balance)
	}
	return nil
}

// transfer moves money from one account to the other, holding both locks.
func transfer(ctx context.Context, out io.Writer, from, to *numberedAccount, money int, ordered bool, pause func()) {
	first, second := from, to
	if ordered && second.id < first.id {
		first, second = second, first // the fix: every transfer locks account 1 first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	fmt.Fprintf(out, "thread %s locked account %d\n", threading.CurrentThread(ctx), first.id)
	pause()
	fmt.Fprintf(out, "thread %s waits for account %d\n", threading.CurrentThread(ctx), second.id)
	second.mu.Lock()
	defer second.mu.Unlock()
	fmt.Fprintf(out, "thread %s locked account %d\n", threading.CurrentThread(ctx), second.id)
	from.balance -= money
	to.balance += money
	fmt.Fprintf(out, "thread %s moved ￥%d from account %d to account %d\n", threading.CurrentThread(ctx), money, from.id, to.id)
}

// joinOrReport waits for the threads, at most watchdog. If they are not done
// by then, it writes where each named thread waits and returns errDeadlock.
// The deadlocked goroutines cannot be stopped: only the process's exit ends
// them.
func joinOrReport(threads *sync.WaitGroup, stderr io.Writer, watchdog time.Duration) error {
	if watchdog == 0 {
		threads.Wait() // with nothing else to wake the program, the runtime sees the deadlock
		return nil
	}
	done := make(chan struct{})
	go func() {
		threads.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(watchdog):
		fmt.Fprintf(stderr, "watchdog: no transfer finished within %v. Where each thread waits:\n", watchdog)
		threading.WriteStacks(stderr)
		return errDeadlock
	}
}

// whyRuntimeCannotTell says why Go's runtime could not see this program's
// deadlock itself, or returns nil if it can.
func whyRuntimeCannotTell() error {
	if trace.IsEnabled() {
		return errors.New("--watchdog 0 leaves the deadlock to Go's runtime, which cannot see it while --trace keeps a timer pending")
	}
	if builtWithCgo() {
		return errors.New("--watchdog 0 leaves the deadlock to Go's runtime, which cannot see it in a binary built with cgo: build with CGO_ENABLED=0")
	}
	return nil
}

// builtWithCgo reports whether this binary may have been built with cgo. It
// is when a C compiler was at hand, since package net then uses C's resolver;
// the runtime then keeps a thread for calls from C, which could wake any
// goroutine, so it never finds them all asleep.
func builtWithCgo() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return true
	}
	for _, setting := range info.Settings {
		if setting.Key == "CGO_ENABLED" {
			return setting.Value != "0"
		}
	}
	return true
}
