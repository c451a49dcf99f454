// Package bounded runs calls that may block for ever and cannot be
// cancelled, such as the cgo calls into libpcsclite and PKCS#11 modules
// (a wedged pcscd accepts a connection and never answers), so that their
// callers get an answer in time.
//
// A Gate runs each call on its own goroutine and waits for it at most for
// a bound, or until the caller's context ends. A call that outlives its
// wait is abandoned: it keeps running, and until it returns the Gate
// refuses new calls at once with ErrStuck. Callers then neither queue
// behind it in the library's own locks nor pile up goroutines.
package bounded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of a call that gave no answer; errors.Is matches them.
var (
	// ErrTimeout: the call did not return within its bound (it is
	// abandoned and keeps running).
	ErrTimeout = errors.New("no answer in time")
	// ErrStuck: an abandoned call of the same Gate still runs, so this
	// one was not started.
	ErrStuck = errors.New("an earlier call is still without an answer")
)

// NoAnswer reports whether err is a call given up on (ErrTimeout) or
// refused behind one (ErrStuck): either way, nobody answered.
func NoAnswer(err error) bool { return errors.Is(err, ErrTimeout) || errors.Is(err, ErrStuck) }

// Gate guards the calls into one library object (a PC/SC context, a
// PKCS#11 module). Its zero value is ready to use; it is safe for
// concurrent use.
type Gate struct {
	mu        sync.Mutex
	abandoned int // calls given up on that have not returned yet
}

// Stuck reports whether an abandoned call still runs.
func (g *Gate) Stuck() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.abandoned > 0
}

// Do is Call for a function with no result.
func Do(ctx context.Context, g *Gate, bound time.Duration, fn func() error) error {
	_, err := Call(ctx, g, bound, func() (struct{}, error) { return struct{}{}, fn() }, nil)
	return err
}

// Call runs fn on its own goroutine and returns its result, waiting at
// most bound (no limit when bound is 0) and no longer than ctx lasts. When
// the wait ends first, Call returns ErrTimeout or ctx.Err() and fn is
// abandoned; if it later returns a value without error, drop (when not
// nil) gets it to release it. While an abandoned call runs, Call returns
// ErrStuck without calling fn.
func Call[T any](ctx context.Context, g *Gate, bound time.Duration, fn func() (T, error), drop func(T)) (T, error) {
	var zero T
	if g.Stuck() {
		return zero, ErrStuck
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	var timeout <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case r := <-done:
		return r.v, r.err
	case <-timeout:
		err = fmt.Errorf("%w (%v)", ErrTimeout, bound)
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	g.abandoned++
	g.mu.Unlock()
	go func() {
		r := <-done
		g.mu.Lock()
		g.abandoned--
		g.mu.Unlock()
		if r.err == nil && drop != nil {
			drop(r.v)
		}
	}()
	return zero, err
}
