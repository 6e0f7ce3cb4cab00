// threading.current_thread().name, which the loop and ThreadLocal listings
// print, and threading.Thread(target=..., name=...).start(). Goroutines
// have no names, so the name travels in a context value; startThread and
// mainThread also show it wherever Go can show a goroutine's name: as a
// label in the goroutine profile (and so in a deadlock's goroutine dump)
// and as a task in a runtime/trace.

package main

import (
	"context"
	"runtime/pprof"
	"runtime/trace"
	"sync"
)

// threadNameKey is the context key under which a goroutine's name travels.
type threadNameKey struct{}

// withThreadName is the name= argument of threading.Thread.
func withThreadName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, threadNameKey{}, name)
}

// currentThread is the twin of threading.current_thread().name.
func currentThread(ctx context.Context) string {
	if name, ok := ctx.Value(threadNameKey{}).(string); ok {
		return name
	}
	return "MainThread"
}

// mainThread makes the calling goroutine Python's MainThread, the thread a
// program starts in: it is named so, and is a trace task, which the threads
// it starts are subtasks of. (go tool trace then shows all of a listing's
// threads at once: /usertasks, MainThread, then the task's "trace" link.)
// End the task when the listing is done.
func mainThread(ctx context.Context) (context.Context, *trace.Task) {
	return trace.NewTask(withThreadName(ctx, "MainThread"), "MainThread")
}

// threadLabel is the goroutine profile label that holds a thread's name.
const threadLabel = "thread"

// startThread is threading.Thread(target=target, name=name).start(): target
// runs in a new goroutine of threads, and threads.Wait() is join(). The
// goroutine carries its name in its profile labels, which a goroutine dump
// shows (deadlock's does), and is a trace task of that name, which `go tool
// trace` lists when the program runs with --trace; without it, the task
// costs next to nothing.
func startThread(ctx context.Context, threads *sync.WaitGroup, name string, target func(ctx context.Context)) {
	threads.Go(func() {
		ctx, task := trace.NewTask(withThreadName(ctx, name), name)
		defer task.End()
		pprof.Do(ctx, pprof.Labels(threadLabel, name), target)
	})
}
