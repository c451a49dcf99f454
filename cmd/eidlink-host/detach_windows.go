package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/windows"
)

// detach starts cmd without a console and in a process group of its own,
// so that it outlives the browser's job, and lets it inherit ready, whose
// handle it is told.
func detach(cmd *exec.Cmd, ready *os.File) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags:              windows.DETACHED_PROCESS | windows.CREATE_NEW_PROCESS_GROUP,
		AdditionalInheritedHandles: []syscall.Handle{syscall.Handle(ready.Fd())},
	}
	cmd.Args = append(cmd.Args, "--ready-fd", strconv.FormatUint(uint64(ready.Fd()), 10))
}
