//go:build !linux && !darwin

package ipc

import (
	"errors"
	"net"
)

// PeerUID is not implemented here: Unix-socket peers are refused.
func PeerUID(*net.UnixConn) (int, error) {
	return -1, errors.New("peer credentials are not supported on this system")
}
