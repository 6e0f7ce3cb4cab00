//go:build unix

// The process's own resource use on Unix, from getrusage and Linux's /proc.

package rusage

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// CPUTime returns the CPU time, user and system, that this process has used.
func CPUTime() (time.Duration, error) {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, err
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()), nil
}

// PeakMemory returns the most memory this process has had resident, in bytes.
//
// On Linux it reads VmHWM: getrusage's maxrss also counts the memory of the
// process that started this one (`go run`, or a test) as it was when it
// forked, which can be far more than this program ever used.
func PeakMemory() (int64, error) {
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range bytes.Lines(status) {
			var kib int64
			if _, err := fmt.Sscanf(string(line), "VmHWM: %d kB", &kib); err == nil {
				return kib << 10, nil
			}
		}
	}
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, err
	}
	if runtime.GOOS == "darwin" {
		return int64(usage.Maxrss), nil // bytes there, KiB elsewhere
	}
	return int64(usage.Maxrss) << 10, nil
}
