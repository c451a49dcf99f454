package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
)

// idleExit is how long a service started by a host lives on once no host
// is connected.
const idleExit = "5m"

// startWait bounds the wait for a service that was started to listen.
const startWait = 15 * time.Second

// startTries is how many services a host starts before giving up: one
// that loses the race to another, which is just stopping, leaves its host
// nothing to dial.
const startTries = 3

// connector reaches the user's service, starting it when none answers.
type connector struct {
	log  *slog.Logger
	exec string // the eidlink executable; found when empty
}

func (c connector) connect(ctx context.Context) (*ipc.Conn, error) {
	p, err := ipc.PathsFor(ipc.DefaultName)
	if err != nil {
		return nil, err
	}
	conn, err := ipc.Dial(ctx, p)
	var ve *ipc.VersionError
	if err == nil || errors.As(err, &ve) || ctx.Err() != nil {
		return conn, err
	}
	c.log.Info("no eidlink service answers: starting one", "err", err)
	for range startTries {
		if err := c.start(ctx, p); err != nil {
			return nil, err
		}
		if conn, err = ipc.Dial(ctx, p); err == nil || ctx.Err() != nil {
			return conn, err
		}
	}
	return nil, fmt.Errorf("started the eidlink service, but it does not answer: %w (its log: %s)", err, logFile(p))
}

// start starts the user's service, detached (it outlives the host), with
// the host's environment, and waits until it listens: it closes the pipe
// it is given then, or exits. It logs to service.log in its runtime
// directory.
func (c connector) start(ctx context.Context, p ipc.Paths) error {
	exe, err := c.eidlink()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.Run, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(logFile(p), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command(exe, "service", "run", "--idle-exit", idleExit)
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd, w) // adds --ready-fd
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting the eidlink service: %w", err)
	}
	c.log.Info("started the eidlink service", "pid", cmd.Process.Pid, "exec", exe)
	go cmd.Wait() // reaps it, should it end while the host runs
	r.SetReadDeadline(time.Now().Add(startWait))
	stop := context.AfterFunc(ctx, func() { r.SetReadDeadline(time.Now()) })
	defer stop()
	if _, err := r.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("the eidlink service did not start listening in %s (its log: %s)", startWait, logFile(p))
	}
	return nil
}

// eidlink finds the eidlink executable: next to this one, as the
// packages install them, else on PATH.
func (c connector) eidlink() (string, error) {
	if c.exec != "" {
		return c.exec, nil
	}
	name := "eidlink"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if self, err := os.Executable(); err == nil {
		next := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(next); err == nil {
			return next, nil
		}
	}
	exe, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("no eidlink service, and no eidlink next to eidlink-host or on PATH to start one: reinstall eidlink")
	}
	return exe, nil
}

// logFile is where a service started by a host logs.
func logFile(p ipc.Paths) string { return filepath.Join(p.Run, "service.log") }
