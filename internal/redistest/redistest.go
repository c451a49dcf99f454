// Package redistest runs a private redis-server for a test: on a free
// loopback port (never 6379), in the test's temporary directory, without
// persistence, stopped when the test ends. It never uses a system Redis.
package redistest

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// Server is a redis-server the test started.
type Server struct {
	Addr string // host:port
	t    testing.TB
	dir  string
	cmd  *exec.Cmd
}

// Start starts a redis-server (the Debian package redis-server, from
// make deps) and waits until it accepts connections.
func Start(t testing.TB) *Server {
	t.Helper()
	testenv.NeedCommand(t, "redis-server", "redis-server")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, t: t, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's redis:// URL, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port (after Stop: all its
// data is gone) and waits until it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--daemonize", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	s.cmd = cmd
	// redis-server logs this line once it listens; the log ends if it exits.
	ready := make(chan string, 1)
	go func() {
		var log strings.Builder
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- ""
				for sc.Scan() { // keep the pipe drained
				}
				return
			}
			log.WriteString(sc.Text() + "\n")
		}
		ready <- log.String()
	}()
	select {
	case failed := <-ready:
		if failed != "" {
			s.Stop()
			s.t.Fatalf("redis-server on port %s exited before it was ready:\n%s", port, failed)
		}
	case <-time.After(30 * time.Second):
		s.Stop()
		s.t.Fatalf("redis-server on port %s not ready after 30s", port)
	}
	c := s.Client()
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		s.t.Fatalf("redis-server said it is ready, but PING fails: %v", err)
	}
}

// Client returns a new client of the server; the caller closes it.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
}
