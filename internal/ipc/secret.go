package ipc

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// SecretHeader is the HTTP header of the upgrade request that carries the
// per-install secret, in hex.
const SecretHeader = "Eidlink-Secret"

// SecretLen is the secret's length in bytes.
const SecretLen = 32

// ReadSecret reads the secret file, refusing one that other users can
// read or that belongs to someone else.
func ReadSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := Private(fi, path); err != nil {
		return nil, err
	}
	var buf [2*SecretLen + 1]byte
	n, _ := f.Read(buf[:])
	s, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(s) != SecretLen {
		return nil, fmt.Errorf("%s is not an eidlink secret: remove it and restart the service", path)
	}
	return s, nil
}
