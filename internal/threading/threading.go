// Package threading is the part of Python's threading module that the
// listings use: a thread's name. Goroutines have no names, so the name that
// threading.current_thread().name prints travels in a context.Context, the
// way the ThreadLocal section's student does.
package threading

import (
	"context"
	"runtime/pprof"
	"runtime/trace"
)

// nameKey is the context key under which a goroutine's name travels.
type nameKey struct{}

// Label is the profile label that holds a thread's name.
const Label = "thread"

// Named returns ctx carrying name, as threading.Thread(name=...) gives a
// thread its name. Call it in the goroutine that it names, as that
// goroutine starts: it also labels the goroutine with the name, so that a
// goroutine dump shows it (WriteStacks), and, when the program is traced,
// logs the name on the goroutine, where `go tool trace` shows it.
func Named(ctx context.Context, name string) context.Context {
	ctx = context.WithValue(ctx, nameKey{}, name)
	ctx = pprof.WithLabels(ctx, pprof.Labels(Label, name))
	pprof.SetGoroutineLabels(ctx)
	trace.Log(ctx, Label, name)
	return ctx
}

// CurrentThread is threading.current_thread().name: the name that ctx
// carries, or MainThread, the name of the thread a program starts in.
func CurrentThread(ctx context.Context) string {
	if name, ok := ctx.Value(nameKey{}).(string); ok {
		return name
	}
	return "MainThread"
}
