//go:build unix

package vcardtest

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// held keeps the lock's file open: if it became garbage, its finalizer
// would close it and release the lock.
var held []*os.File

// lockReaders takes an exclusive lock, held until the process exits, so
// that test binaries of different packages (go test ./... runs them in
// parallel) take turns with vpcd's readers.
func lockReaders() error {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "eidlink-vpcd-tests.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	held = append(held, f) // the lock lives as long as the process
	return unix.Flock(int(f.Fd()), unix.LOCK_EX)
}
