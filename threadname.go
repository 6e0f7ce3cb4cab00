// threading.current_thread().name, which every listing prints. Goroutines
// have no names, so the name travels in a context value.

package main

import "context"

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
