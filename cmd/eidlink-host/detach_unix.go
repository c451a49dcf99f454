//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// detach makes cmd a session of its own, which no signal to the
// browser's process group reaches, and hands it ready as fd 3.
func detach(cmd *exec.Cmd, ready *os.File) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = []*os.File{ready}
	cmd.Args = append(cmd.Args, "--ready-fd", "3")
}
