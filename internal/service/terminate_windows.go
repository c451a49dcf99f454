package service

import "os"

// terminate stops p: Windows has no SIGTERM to send.
func terminate(p *os.Process) error { return p.Kill() }
