//go:build unix

package proctest

import (
	"os/exec"
	"syscall"
)

// inGroup starts cmd in a process group of its own, so that whatever it
// starts in turn (Python's manager forks a server) can be killed with it.
func inGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killGroup kills the process group that inGroup made.
func killGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
