//go:build unix

// A child process's resource use, as the system counts it when the child is
// waited for.

package rusage

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// Run runs cmd to its end and returns what it took. The CPU time comes from
// outside, from the rusage that waiting for cmd returns: the child's own,
// and that of every descendant the child itself waited for (as Python's
// multiprocessing does when it joins its processes), but not of those it left
// behind. What the program says of itself plays no part.
//
// cmd runs in a process group of its own: the end of ctx (a Ctrl-C) kills
// the group, cmd with whatever it started, and Run returns the context's
// cause. A terminal's Ctrl-C reaches only this program, which decides.
func Run(ctx context.Context, cmd *exec.Cmd) (Usage, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A descendant that outlives cmd could hold its output pipes open.
	cmd.WaitDelay = time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Usage{}, err
	}
	stopKilling := context.AfterFunc(ctx, func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	err := cmd.Wait()
	wall := time.Since(start)
	stopKilling()
	if ctx.Err() != nil {
		return Usage{}, context.Cause(ctx)
	}
	if err != nil {
		return Usage{}, err
	}
	state := cmd.ProcessState
	return Usage{Wall: wall, CPU: state.UserTime() + state.SystemTime()}, nil
}
