package service

import (
	"context"
	"errors"
	"sync"

	"github.com/eidlink/eidlink/host/command"
	"github.com/eidlink/eidlink/host/protocol"
)

// errPrompt is why a request does not queue for the card: its holder is
// waiting for the PIN, which may take minutes.
var errPrompt = errors.New("another login is waiting for the PIN in another window")

// ticketLock is a mutex that admits waiters in arrival order, whose Lock
// gives up when its context ends, and which turns waiters away with
// errPrompt while its holder has a PIN request open.
type ticketLock struct {
	mu      sync.Mutex
	held    bool
	prompt  bool      // the holder waits for a PIN
	waiters []*waiter // in arrival order
}

type waiter struct {
	ready chan struct{} // closed when the lock is handed over, or err set
	err   error
}

func (l *ticketLock) Lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	if l.prompt {
		l.mu.Unlock()
		return errPrompt
	}
	w := &waiter{ready: make(chan struct{})}
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return w.err
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, x := range l.waiters {
		if x == w {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	if w.err == nil { // handed over while giving up: pass it on
		l.unlockLocked()
	}
	return ctx.Err()
}

func (l *ticketLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlockLocked()
}

func (l *ticketLock) unlockLocked() {
	l.prompt = false
	if len(l.waiters) == 0 {
		l.held = false
		return
	}
	close(l.waiters[0].ready)
	l.waiters = l.waiters[1:]
}

// setPrompt says whether the holder waits for a PIN; while it does, the
// waiters are turned away and new ones refused.
func (l *ticketLock) setPrompt(open bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prompt = open && l.held
	if !l.prompt {
		return
	}
	for _, w := range l.waiters {
		w.err = errPrompt
		close(w.ready)
	}
	l.waiters = nil
}

// Queued wraps p so that at most one card it opens is open at a time:
// Open waits, first come first served, until the card opened before is
// closed, or until ctx ends (the request was cancelled). While the card's
// holder waits for a PIN, Open fails at once with a retryable CodeBusy:
// the holder may take minutes, and the user sees its PIN window. Status
// is not queued.
//
// With a lockFile, the card is also locked against other processes that
// use the same file (in-process eidlink-hosts of one user; see
// CardLockFile) for as long as it is open.
//
// Provider.Open chooses the card (token.Provider: the first token with an
// authentication certificate), so one queue for the provider is the
// queue of that card.
func Queued(p command.Provider, lockFile string) command.Provider {
	return &queued{Provider: p, file: lockFile}
}

type queued struct {
	command.Provider
	lock ticketLock
	file string
}

func (q *queued) Open(ctx context.Context) (command.Card, error) {
	if err := q.lock.Lock(ctx); err != nil {
		return nil, busy(err)
	}
	var fl *fileLock
	if q.file != "" {
		var err error
		if fl, err = lockCard(ctx, q.file); err != nil {
			q.lock.Unlock()
			return nil, busy(err)
		}
	}
	c, err := q.Provider.Open(ctx)
	if err != nil {
		fl.unlock()
		q.lock.Unlock()
		return nil, err
	}
	return &queuedCard{Card: c, q: q, file: fl, release: sync.OnceFunc(func() {
		fl.unlock()
		q.lock.Unlock()
	})}, nil
}

// busy is the error for a request that did not get the card.
func busy(err error) error {
	var e *protocol.Error
	if errors.Is(err, errPrompt) {
		e = protocol.Errorf(protocol.CodeBusy, "%v", errPrompt)
	} else {
		e = protocol.Errorf(protocol.CodeBusy, "the request ended while waiting for the card: %v", err)
	}
	e.Retryable = true
	return e
}

type queuedCard struct {
	command.Card
	q       *queued
	file    *fileLock
	release func()
}

// PromptOpen implements command.PromptWatcher.
func (c *queuedCard) PromptOpen(open bool) {
	c.q.lock.setPrompt(open)
	c.file.setPrompt(open)
}

func (c *queuedCard) Close() error {
	defer c.release()
	return c.Card.Close()
}
