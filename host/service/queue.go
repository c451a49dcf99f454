package service

import (
	"context"
	"sync"

	"github.com/eidlink/eidlink/host/command"
	"github.com/eidlink/eidlink/host/protocol"
)

// ticketLock is a mutex that admits waiters in arrival order and whose
// Lock gives up when its context ends.
type ticketLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{} // closed when the lock is handed over
}

func (l *ticketLock) Lock(ctx context.Context) error {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	// Handed over while giving up: pass it on.
	l.unlockLocked()
	return ctx.Err()
}

func (l *ticketLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlockLocked()
}

func (l *ticketLock) unlockLocked() {
	if len(l.waiters) == 0 {
		l.held = false
		return
	}
	close(l.waiters[0])
	l.waiters = l.waiters[1:]
}

// Queued wraps p so that at most one card it opens is open at a time:
// Open waits, first come first served, until the card opened before is
// closed, or until ctx ends (the request was cancelled). Status is not
// queued.
//
// Provider.Open chooses the card (token.Provider: the first token with an
// authentication certificate), so one queue for the provider is the
// queue of that card.
func Queued(p command.Provider) command.Provider {
	return &queued{Provider: p}
}

type queued struct {
	command.Provider
	lock ticketLock
}

func (q *queued) Open(ctx context.Context) (command.Card, error) {
	if err := q.lock.Lock(ctx); err != nil {
		return nil, protocol.Errorf(protocol.CodeBusy, "the request ended while waiting for the card: %v", err)
	}
	c, err := q.Provider.Open(ctx)
	if err != nil {
		q.lock.Unlock()
		return nil, err
	}
	return &queuedCard{Card: c, release: sync.OnceFunc(q.lock.Unlock)}, nil
}

type queuedCard struct {
	command.Card
	release func()
}

func (c *queuedCard) Close() error {
	defer c.release()
	return c.Card.Close()
}
