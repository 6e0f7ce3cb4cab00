//go:build unix

// The process's own resource use, which spin and tasks report. Python would
// read it with resource.getrusage; Go's syscall package has the same call.
package main

import (
	"runtime"
	"syscall"
	"time"
)

// cpuTime returns the CPU time, user and system, that this process has used.
func cpuTime() (time.Duration, error) {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, err
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()), nil
}

// peakMemory returns the most memory this process has had resident, in bytes.
func peakMemory() (int64, error) {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0, err
	}
	if runtime.GOOS == "darwin" {
		return int64(usage.Maxrss), nil // bytes there, KiB elsewhere
	}
	return int64(usage.Maxrss) << 10, nil
}
