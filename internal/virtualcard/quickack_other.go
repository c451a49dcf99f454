//go:build !linux

package virtualcard

import "net"

// quickAck does nothing: TCP_QUICKACK is Linux only.
func quickAck(net.Conn) {}
