// Package rusage reports resource use, which spin, tasks and the quiet master
// print: the process's own, as Python's resource.getrusage(RUSAGE_SELF), whose
// getrusage Go's syscall package has too, and a child's, measured from
// outside as RUSAGE_CHILDREN would count it.
package rusage

import "time"

// Usage is what a run took: the time on the clock, and the CPU time, user
// and system, of every thread in it.
type Usage struct {
	Wall, CPU time.Duration
}

// Cores is how many cores the run kept busy on average.
func (u Usage) Cores() float64 {
	return float64(u.CPU) / float64(u.Wall)
}
