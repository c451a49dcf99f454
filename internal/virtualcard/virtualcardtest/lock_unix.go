//go:build unix

package virtualcardtest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// held keeps the lock's file open: if it became garbage, its finalizer
// would close it and release the lock.
var held []*os.File

// lockReaders takes an exclusive lock, held until the process exits, so
// that test binaries of different packages (go test ./... runs them in
// parallel) take turns with vpcd's readers. The readers are the machine's,
// so the lock is every user's: flock needs only a read-only descriptor,
// and a file another user created (in sticky /tmp, O_CREATE on it is
// refused) is opened as it is.
func lockReaders() error {
	name := filepath.Join(os.TempDir(), "eidlink-vpcd-tests.lock")
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(name, os.O_CREATE|os.O_RDONLY, 0o644)
	}
	if err != nil {
		return err
	}
	held = append(held, f) // the lock lives as long as the process
	return unix.Flock(int(f.Fd()), unix.LOCK_EX)
}
