//go:build !unix

package rusage

import (
	"fmt"
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
