//go:build !unix

package proctest

import "os/exec"

// inGroup leaves cmd as it is: process groups are Unix's.
func inGroup(*exec.Cmd) {}

// killGroup kills the process alone.
func killGroup(cmd *exec.Cmd) { cmd.Process.Kill() }
