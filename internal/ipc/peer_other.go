//go:build !linux && !darwin

package ipc

import (
	"errors"
	"net"
)

// peerUID is not implemented here: Unix-socket peers are refused.
func peerUID(*net.UnixConn) (int, error) {
	return -1, errors.New("peer credentials are not supported on this system")
}
