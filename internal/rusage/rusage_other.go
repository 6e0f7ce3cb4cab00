//go:build !unix

package rusage

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"time"
)

// CPUTime is only measured on Unix systems (Linux, macOS, the BSDs).
func CPUTime() (time.Duration, error) {
	return 0, fmt.Errorf("CPU time is not measured on %s", runtime.GOOS)
}

// PeakMemory is only measured on Unix systems.
func PeakMemory() (int64, error) {
	return 0, fmt.Errorf("peak memory is not measured on %s", runtime.GOOS)
}

// Run is only measured on Unix systems: elsewhere a process's CPU time
// leaves out the children it waited for.
func Run(ctx context.Context, cmd *exec.Cmd) (Usage, error) {
	return Usage{}, fmt.Errorf("a child's CPU time is not measured on %s", runtime.GOOS)
}
