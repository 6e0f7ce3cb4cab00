// --trace FILE, on every subcommand: the run written as a runtime/trace, for
// `go tool trace FILE`, which shows each goroutine over time (running,
// waiting, on which core) the way the tutorial only describes threads.
// Each thread that a listing names (threading.Named) logs its name on its
// goroutine, and the goroutine the command runs in logs MainThread's.

package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/trace"

	"multithreading/internal/threading"
)

// WithTrace defines --trace on a command's flags and runs the command. The
// trace starts as soon as the flag is parsed, so that it covers all of the
// command's work, and stops when the command returns.
func WithTrace(fs *flag.FlagSet, body func() error) error {
	var file *os.File
	fs.Func("trace", "write a runtime/trace of the run to `FILE`, to open with go tool trace FILE", func(name string) error {
		if file != nil {
			return errors.New("given twice")
		}
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			os.Remove(name)
			return err
		}
		file = f
		trace.Log(context.Background(), threading.Label, "MainThread")
		return nil
	})
	err := body()
	if file == nil {
		return err
	}
	trace.Stop()
	if closeErr := file.Close(); closeErr != nil && err == nil {
		return fmt.Errorf("writing the trace: %w", closeErr)
	}
	return err
}
