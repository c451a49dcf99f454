package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
)

// ErrRunning is returned by Claim when the user's service already runs.
var ErrRunning = errors.New("the eidlink service already runs")

// Instance is the claim of one service process on the user's service:
// one runs at a time for each runtime directory, however many hosts start
// one at once.
//
// Two locks in the runtime directory make it so. service.lock is held by
// the running service for its whole life. start.lock is held while a
// service starts (from before it takes service.lock until it listens) and
// while it stops: a process that would start waits for it, then finds
// service.lock either held by a service that listens (and gives up, its
// host dials that one), or free (and starts).
type Instance struct {
	paths       ipc.Paths
	start, main *os.File
}

// Claim makes this process the user's service, or fails with ErrRunning
// when another one listens. Call Started once listening, and Release at
// the end.
func Claim(p ipc.Paths) (*Instance, error) {
	if err := os.MkdirAll(p.Run, 0o700); err != nil {
		return nil, err
	}
	start, err := openLock(filepath.Join(p.Run, "start.lock"))
	if err != nil {
		return nil, err
	}
	if err := lockWait(start); err != nil {
		start.Close()
		return nil, err
	}
	main, err := openLock(filepath.Join(p.Run, "service.lock"))
	if err == nil {
		var ok bool
		if ok, err = tryLock(main); err == nil && !ok {
			err = ErrRunning
		}
		if err != nil {
			main.Close()
		}
	}
	if err != nil {
		unlockFile(start)
		start.Close()
		return nil, err
	}
	return &Instance{paths: p, start: start, main: main}, nil
}

func openLock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// Started records the service's pid (for Stop) and lets the next process
// that would start find it.
func (i *Instance) Started() error {
	err := os.WriteFile(pidFile(i.paths), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
	unlockFile(i.start)
	return err
}

// Release gives the claim up once the service has stopped listening.
func (i *Instance) Release() {
	lockWait(i.start) // a process that would start now waits for the end
	os.Remove(pidFile(i.paths))
	unlockFile(i.main)
	i.main.Close()
	unlockFile(i.start)
	i.start.Close()
}

func pidFile(p ipc.Paths) string { return filepath.Join(p.Run, "service.pid") }

// Stop stops the service that runs for p's runtime directory, if any,
// and waits up to wait for it to end: it reports whether one ran.
func Stop(p ipc.Paths, wait time.Duration) (bool, error) {
	// A service that is starting holds start.lock until it listens and
	// has written its pid: wait for it, so that it is stopped too.
	if err := waitStarted(p, wait); err != nil {
		return false, err
	}
	b, err := os.ReadFile(pidFile(p))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false, fmt.Errorf("%s holds no pid", pidFile(p))
	}
	main, err := openLock(filepath.Join(p.Run, "service.lock"))
	if err != nil {
		return false, err
	}
	defer main.Close()
	if ok, err := tryLock(main); err != nil {
		return false, err
	} else if ok { // a pid file left behind: no service runs
		unlockFile(main)
		os.Remove(pidFile(p))
		return false, nil
	}
	proc, err := os.FindProcess(pid)
	if err == nil {
		err = terminate(proc)
	}
	if err != nil {
		return true, fmt.Errorf("stopping the eidlink service (pid %d): %w", pid, err)
	}
	// service.lock is free once the service has ended.
	done := make(chan error, 1)
	go func() { done <- lockWait(main) }()
	select {
	case err := <-done:
		unlockFile(main)
		return true, err
	case <-time.After(wait):
		return true, fmt.Errorf("the eidlink service (pid %d) did not stop within %s", pid, wait)
	}
}

// waitStarted waits up to wait for a service of p that is starting to be
// started (or to give up).
func waitStarted(p ipc.Paths, wait time.Duration) error {
	start, err := os.Open(filepath.Join(p.Run, "start.lock"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // no service ever started here
	}
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		err := lockWait(start)
		if err == nil {
			unlockFile(start)
		}
		start.Close()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(wait):
		return fmt.Errorf("an eidlink service has been starting for %s", wait)
	}
}
