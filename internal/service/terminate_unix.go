//go:build unix

package service

import (
	"os"
	"syscall"
)

// terminate asks p to stop: SIGTERM, which the service handles.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
