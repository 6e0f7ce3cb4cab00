//go:build unix

// The process's own resource use, which spin and tasks report. Python would
// read it with resource.getrusage; Go's syscall package has the same call.
package main

import (
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
