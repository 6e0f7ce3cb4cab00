// Package rusage reports the process's own resource use, which spin, tasks
// and the quiet master print: Python's resource module, whose getrusage Go's
// syscall package has too.
package rusage
