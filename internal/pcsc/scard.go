package pcsc

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ebfe/scard"
	"github.com/eidlink/eidlink/internal/bounded"
)

// How long a call may go without an answer before it is abandoned: calls
// that only ask the service, and card commands (a slow card, a contactless
// one, takes a few seconds for some).
const (
	serviceBound = 3 * time.Second
	cardBound    = 15 * time.Second
)

// establishing guards SCardEstablishContext, which libpcsclite runs under
// a process-wide lock.
var establishing bounded.Gate

// Establish opens a Context on the system's PC/SC service, or fails with
// ErrNoService (not running) or ErrNotAnswering (wedged).
func Establish(ctx context.Context) (Context, error) {
	c, err := bounded.Call(ctx, &establishing, serviceBound, scard.EstablishContext, func(c *scard.Context) { c.Release() })
	if err != nil {
		return nil, wrap("establish context", err)
	}
	return &scardContext{c: c}, nil
}

// CtlCode returns the platform's SCARD_CTL_CODE(code) for Control.
func CtlCode(code uint16) uint32 { return scard.CtlCode(code) }

// scardContext is a Context; gate guards it and the cards it connected
// (libpcsclite locks a context during each of their calls).
type scardContext struct {
	c    *scard.Context
	gate bounded.Gate
}

func (c *scardContext) ListReaders(ctx context.Context) ([]string, error) {
	r, err := bounded.Call(ctx, &c.gate, serviceBound, c.c.ListReaders, nil)
	if err == nil && len(r) == 0 {
		err = scard.ErrNoReadersAvailable
	}
	return r, wrap("list readers", err)
}

func (c *scardContext) Wait(ctx context.Context, states []ReaderState) error {
	rs := make([]scard.ReaderState, len(states))
	for i, s := range states {
		rs[i] = scard.ReaderState{Reader: s.Reader, CurrentState: scard.StateFlag(s.Current)}
	}
	// SCardCancel only ends a wait already in progress: keep cancelling
	// until GetStatusChange returns, to close the race with its start.
	// A service that answers neither is given up on serviceBound later.
	done := make(chan struct{})
	waiting, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	stop := context.AfterFunc(ctx, func() {
		go func() {
			for {
				c.c.Cancel()
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		time.AfterFunc(serviceBound, giveUp)
	})
	err := bounded.Do(waiting, &c.gate, 0, func() error {
		defer close(done)
		return c.c.GetStatusChange(rs, -1)
	})
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return wrap("get status change", err)
	}
	for i := range states {
		states[i].Event = State(rs[i].EventState)
		states[i].ATR = rs[i].Atr
	}
	return nil
}

func (c *scardContext) Connect(ctx context.Context, reader string) (Card, error) {
	return c.connect(ctx, reader, scard.ShareShared)
}

func (c *scardContext) ConnectExclusive(ctx context.Context, reader string) (Card, error) {
	return c.connect(ctx, reader, scard.ShareExclusive)
}

func (c *scardContext) connect(ctx context.Context, reader string, mode scard.ShareMode) (Card, error) {
	h, err := bounded.Call(ctx, &c.gate, serviceBound, func() (*scard.Card, error) {
		return c.c.Connect(reader, mode, scard.ProtocolAny)
	}, func(h *scard.Card) { h.Disconnect(scard.LeaveCard) })
	if err != nil {
		return nil, wrap("connect to "+reader, err)
	}
	return &scardCard{h: h, gate: &c.gate, mode: mode}, nil
}

func (c *scardContext) Release() error {
	return wrap("release context", bounded.Do(context.Background(), &c.gate, serviceBound, c.c.Release))
}

// scardCard serialises calls: Disconnect from one goroutine may race with
// Transmit from another (a card pulled while in use).
type scardCard struct {
	mu   sync.Mutex
	h    *scard.Card
	gate *bounded.Gate   // its context's
	mode scard.ShareMode // kept by Reconnect
}

// cardCall runs fn, a call on c, through its context's gate.
func cardCall[T any](c *scardCard, op string, fn func() (T, error)) (T, error) {
	v, err := bounded.Call(context.Background(), c.gate, cardBound, func() (T, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return fn()
	}, nil)
	return v, wrap(op, err)
}

func (c *scardCard) do(op string, fn func() error) error {
	_, err := cardCall(c, op, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func (c *scardCard) Transmit(apdu []byte) ([]byte, error) {
	return cardCall(c, "transmit", func() ([]byte, error) {
		resp, err := c.h.Transmit(apdu)
		if err == nil && len(resp) < 2 {
			// A reader that lost the card during the command can answer
			// with no bytes and no error (vpcd does): ask whether the card
			// is still there before calling the answer malformed.
			st, serr := c.h.Status()
			if serr != nil {
				return nil, serr
			}
			if absent(st.State) {
				return nil, scard.ErrRemovedCard
			}
		}
		return resp, err
	})
}

func (c *scardCard) BeginTransaction() error {
	return c.do("begin transaction", c.h.BeginTransaction)
}

func (c *scardCard) EndTransaction() error {
	return c.do("end transaction", func() error { return c.h.EndTransaction(scard.LeaveCard) })
}

func (c *scardCard) ATR() ([]byte, error) {
	return cardCall(c, "status", func() ([]byte, error) {
		s, err := c.h.Status()
		if err != nil {
			return nil, err
		}
		return s.Atr, nil
	})
}

func (c *scardCard) Control(code uint32, in []byte) ([]byte, error) {
	return cardCall(c, "control", func() ([]byte, error) { return c.h.Control(code, in) })
}

// Reconnect keeps the connection's sharing mode: in pcsc-lite an
// exclusive connection reconnected shared keeps a lock that makes every
// later connection wait, and a shared one reconnected exclusive waits
// until every other connection closed.
func (c *scardCard) Reconnect() error {
	return c.do("reconnect", func() error {
		return c.h.Reconnect(c.mode, scard.ProtocolAny, scard.LeaveCard)
	})
}

func (c *scardCard) Disconnect() error {
	return c.do("disconnect", func() error { return c.h.Disconnect(scard.LeaveCard) })
}

// wrap adds the operation and, when one applies, a sentinel error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if bounded.NoAnswer(err) {
		return fmt.Errorf("pcsc: %s: %w: %w", op, ErrNotAnswering, err)
	}
	var code scard.Error
	if !errors.As(err, &code) {
		return fmt.Errorf("pcsc: %s: %w", op, err)
	}
	var s error
	switch code {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError:
		s = ErrNoService
	case scard.ErrNoReadersAvailable, scard.ErrUnknownReader, scard.ErrReaderUnavailable:
		s = ErrNoReaders
	case scard.ErrNoSmartcard:
		s = ErrNoCard
	case scard.ErrRemovedCard:
		s = ErrCardRemoved
	case scard.ErrNotTransacted, scard.ErrUnresponsiveCard:
		if op == "transmit" {
			s = ErrCardRemoved // pcscd's answer when the card goes mid-command
		}
	case scard.ErrResetCard:
		s = ErrCardReset
	case scard.ErrSharingViolation:
		s = ErrSharingViolation
	case scard.ErrTimeout:
		s = ErrTimeout
	}
	if s == nil {
		return fmt.Errorf("pcsc: %s: %w (0x%08X)", op, err, uint32(code))
	}
	return fmt.Errorf("pcsc: %s: %w: %w", op, s, err)
}

// absent reports whether a card's status says it is gone: a bit of a
// mask in pcsc-lite, one value of an enumeration in Windows' WinSCard.
func absent(s scard.State) bool {
	if runtime.GOOS == "windows" {
		return s == scard.Absent
	}
	return s&scard.Absent != 0 || s&scard.Present == 0
}
