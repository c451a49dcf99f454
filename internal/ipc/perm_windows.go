package ipc

import "os"

// Private relies on the ACL that the service gives the secret file
// (ipcserver.EnsureSecret).
func Private(os.FileInfo, string) error { return nil }
