//go:build !windows

package ipc

import (
	"fmt"
	"os"
	"syscall"
)

// Private checks that only this user can use the file or directory.
func Private(fi os.FileInfo, path string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s belongs to another user", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s is open to other users (mode %04o): run chmod go= %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
