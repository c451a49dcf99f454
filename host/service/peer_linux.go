package service

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the user of the process at the other end of c
// (SO_PEERCRED).
func peerUID(c *net.UnixConn) (uid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	cerr := raw.Control(func(fd uintptr) {
		var cred *unix.Ucred
		if cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	if cerr != nil {
		return -1, cerr
	}
	return uid, err
}
