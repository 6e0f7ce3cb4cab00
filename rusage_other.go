//go:build !unix

package main

import (
	"fmt"
	"runtime"
	"time"
)

// cpuTime is only measured on Unix systems (Linux, macOS, the BSDs).
func cpuTime() (time.Duration, error) {
	return 0, fmt.Errorf("CPU time is not measured on %s", runtime.GOOS)
}

// peakMemory is only measured on Unix systems.
func peakMemory() (int64, error) {
	return 0, fmt.Errorf("peak memory is not measured on %s", runtime.GOOS)
}
