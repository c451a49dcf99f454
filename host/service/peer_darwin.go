package service

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the user of the process at the other end of c
// (LOCAL_PEERCRED, as getpeereid does).
func peerUID(c *net.UnixConn) (uid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	cerr := raw.Control(func(fd uintptr) {
		var cred *unix.Xucred
		if cred, err = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	if cerr != nil {
		return -1, cerr
	}
	return uid, err
}
