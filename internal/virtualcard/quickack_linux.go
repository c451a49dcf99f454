package virtualcard

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck turns on TCP_QUICKACK, which Linux clears after each ACK.
func quickAck(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	if rc, err := sc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1) })
	}
}
