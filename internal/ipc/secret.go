package ipc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretHeader is the HTTP header of the upgrade request that carries the
// per-install secret, in hex.
const SecretHeader = "Eidlink-Secret"

const secretLen = 32

// readSecret reads the secret file, refusing one that other users can
// read or that belongs to someone else.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := private(fi, path); err != nil {
		return nil, err
	}
	var buf [2*secretLen + 1]byte
	n, _ := f.Read(buf[:])
	s, err := hex.DecodeString(strings.TrimSpace(string(buf[:n])))
	if err != nil || len(s) != secretLen {
		return nil, fmt.Errorf("%s is not an eidlink secret: remove it and restart the service", path)
	}
	return s, nil
}

// EnsureSecret reads the secret file, creating it (mode 0600, in a
// directory created 0700) with a new random secret when it is missing.
func EnsureSecret(path string) ([]byte, error) {
	s, err := readSecret(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	s = make([]byte, secretLen)
	rand.Read(s)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readSecret(path) // another process created it first
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
