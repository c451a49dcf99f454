package ipcserver

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/eidlink/eidlink/internal/ipc"
)

// EnsureSecret reads the secret file, creating it (mode 0600, in a
// directory created 0700) with a new random secret when it is missing.
func EnsureSecret(path string) ([]byte, error) {
	s, err := ipc.ReadSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	s = make([]byte, ipc.SecretLen)
	rand.Read(s)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ipc.ReadSecret(path) // another process created it first
	}
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(f, "%x\n", s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = restrict(path)
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return s, nil
}

// secretMatches compares a header value with the secret in constant time.
func secretMatches(header string, secret []byte) bool {
	got, err := hex.DecodeString(header)
	return err == nil && subtle.ConstantTimeCompare(got, secret) == 1
}
