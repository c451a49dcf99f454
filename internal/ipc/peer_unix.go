//go:build linux || darwin

package ipc

import "net"

// PeerUID returns the user of the process at the other end of c, as the
// kernel recorded it when the connection was made.
func PeerUID(c *net.UnixConn) (uid int, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	cerr := raw.Control(func(fd uintptr) { uid, err = peerCredUID(int(fd)) })
	if cerr != nil {
		return -1, cerr
	}
	return uid, err
}
