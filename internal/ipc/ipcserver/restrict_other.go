//go:build !windows

package ipcserver

// restrict is a no-op: the secret is created with mode 0600.
func restrict(string) error { return nil }
