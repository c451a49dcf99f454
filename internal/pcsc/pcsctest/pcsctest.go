// Package pcsctest fakes a broken PC/SC service for tests of processes
// that use libpcsclite, without touching the system's pcscd: set Env on a
// child process to Wedged (a pcscd that accepts connections and never
// answers) or Down (no pcscd at all). libpcsclite reads Env once per
// process, so it only works for processes the test starts.
package pcsctest

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Env names the socket libpcsclite connects to.
const Env = "PCSCLITE_CSOCK_NAME"

// Wedged returns the path of a socket that accepts every connection and
// never answers, closed at cleanup.
func Wedged(t testing.TB) string {
	t.Helper()
	path := filepath.Join(dir(t), "pcscd.comm")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // kept open, never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return path
}

// Down returns a path where no socket is.
func Down(t testing.TB) string {
	t.Helper()
	return filepath.Join(dir(t), "pcscd.comm")
}

// dir is a short temporary directory: a socket path has at most 107 bytes.
func dir(t testing.TB) string {
	d, err := os.MkdirTemp("", "pcscd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
