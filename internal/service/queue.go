package service

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/tlsauth"
)

// errPrompt is why a request does not queue for the card: its holder is
// waiting for the PIN, which may take minutes.
var errPrompt = errors.New("another login is waiting for the PIN in another window")

// cardLock is the card's turn: a mutex that admits waiters in arrival
// order, whose Lock gives up when its context ends, and which turns
// waiters away with errPrompt while its holder has a PIN request open.
// The queue is a semaphore.Weighted of one: it hands the lock to its
// waiters first in, first out, and a waiter whose context ends as the
// lock reaches it passes it on.
type cardLock struct {
	sem    *semaphore.Weighted
	mu     sync.Mutex
	held   bool // from a Lock that succeeded to its Unlock
	prompt bool // the holder waits for a PIN
	// evict is the context the waiters wait under; setPrompt(true) ends
	// it with errPrompt, so that they give up at once.
	evict  context.Context
	cancel context.CancelCauseFunc
}

func newCardLock() *cardLock {
	l := &cardLock{sem: semaphore.NewWeighted(1)}
	l.evict, l.cancel = context.WithCancelCause(context.Background())
	return l
}

func (l *cardLock) Lock(ctx context.Context) error {
	l.mu.Lock()
	if l.prompt {
		l.mu.Unlock()
		return errPrompt
	}
	wait, cancel := context.WithCancelCause(l.evict)
	l.mu.Unlock()
	defer cancel(nil)
	stop := context.AfterFunc(ctx, func() { cancel(ctx.Err()) })
	defer stop()
	if err := l.sem.Acquire(wait, 1); err != nil {
		return context.Cause(wait)
	}
	l.mu.Lock()
	l.held = true
	l.mu.Unlock()
	return nil
}

func (l *cardLock) Unlock() {
	l.setPrompt(false)
	l.mu.Lock()
	l.held = false
	l.mu.Unlock()
	l.sem.Release(1)
}

// setPrompt says whether the holder waits for a PIN; while it does, the
// waiters are turned away and new ones refused.
func (l *cardLock) setPrompt(open bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	open = open && l.held
	if open == l.prompt {
		return
	}
	l.prompt = open
	if open {
		l.cancel(errPrompt)
	} else {
		l.evict, l.cancel = context.WithCancelCause(context.Background())
	}
}

// Queued wraps p so that at most one card it opens is open at a time:
// Open waits, first come first served, until the card opened before is
// closed, or until ctx ends (the request was cancelled). While the card's
// holder waits for a PIN, Open fails at once with a retryable CodeBusy:
// the holder may take minutes, and the user sees its PIN window. Status
// is not queued.
//
// With a lockFile, the card is also locked against other processes that
// use the same file (the service and the CLI's commands; see
// CardLockFile) for as long as it is open.
//
// Provider.Open chooses the card (token.Provider: the first token with an
// authentication certificate), so one queue for the provider is the
// queue of that card.
func Queued(p command.Provider, lockFile string) command.Provider {
	return newQueued(p, lockFile)
}

func newQueued(p command.Provider, lockFile string) *queued {
	return &queued{Provider: p, lock: newCardLock(), file: lockFile}
}

type queued struct {
	command.Provider
	lock *cardLock
	file string
	drop func() // ends the TLS unlock, which holds the card's turn
}

func (q *queued) Open(ctx context.Context) (command.Card, error) {
	return q.openWith(ctx, q.Provider.Open)
}

// openWith opens, in the card's turn, the card that open opens. An
// unlocked card waiting for TLS signatures gives its turn up first
// (drop): a command that takes the card ends the unlock.
func (q *queued) openWith(ctx context.Context, open func(context.Context) (command.Card, error)) (command.Card, error) {
	if q.drop != nil {
		q.drop()
	}
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
	c, err := open(ctx)
	if err != nil {
		q.unlock(fl)
		return nil, err
	}
	return &queuedCard{Card: c, q: q, file: fl}, nil
}

// openSlot opens, in the card's turn, the card in the slot with key.
func (q *queued) openSlot(ctx context.Context, slots Slots, key string) (command.Card, error) {
	return q.openWith(ctx, func(ctx context.Context) (command.Card, error) { return slots.OpenSlot(ctx, key) })
}

// unlock gives the card up: the file lock (if any), then the queue.
func (q *queued) unlock(fl *fileLock) {
	fl.unlock()
	q.lock.Unlock()
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
	q    *queued
	file *fileLock
	once sync.Once // Close releases the card once
}

// PromptOpen implements command.PromptWatcher.
func (c *queuedCard) PromptOpen(open bool) {
	c.q.lock.setPrompt(open)
	c.file.setPrompt(open)
}

// SignRaw implements tlsauth.RawSigner for a card that does.
func (c *queuedCard) SignRaw(ctx context.Context, cert *x509.Certificate, block []byte) ([]byte, error) {
	raw, ok := c.Card.(tlsauth.RawSigner)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeCardError, "this card does no raw RSA operation")
	}
	return raw.SignRaw(ctx, cert, block)
}

func (c *queuedCard) Close() error {
	defer c.once.Do(func() { c.q.unlock(c.file) })
	return c.Card.Close()
}
