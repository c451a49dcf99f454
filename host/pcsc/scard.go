package pcsc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ebfe/scard"
)

// Establish opens a Context on the system's PC/SC service.
func Establish() (Context, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("establish context", err)
	}
	return &scardContext{c: c}, nil
}

// CtlCode returns the platform's SCARD_CTL_CODE(code) for Control.
func CtlCode(code uint16) uint32 { return scard.CtlCode(code) }

type scardContext struct{ c *scard.Context }

func (c *scardContext) ListReaders() ([]string, error) {
	r, err := c.c.ListReaders()
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
	done := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		for {
			c.c.Cancel()
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	err := c.c.GetStatusChange(rs, -1)
	close(done)
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

func (c *scardContext) Connect(reader string) (Card, error) {
	h, err := c.c.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, wrap("connect to "+reader, err)
	}
	return &scardCard{h: h}, nil
}

func (c *scardContext) Release() error { return wrap("release context", c.c.Release()) }

// scardCard serialises calls: Disconnect from one goroutine may race with
// Transmit from another (a card pulled while in use).
type scardCard struct {
	mu sync.Mutex
	h  *scard.Card
}

func (c *scardCard) Transmit(apdu []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.h.Transmit(apdu)
	return r, wrap("transmit", err)
}

func (c *scardCard) BeginTransaction() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wrap("begin transaction", c.h.BeginTransaction())
}

func (c *scardCard) EndTransaction() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wrap("end transaction", c.h.EndTransaction(scard.LeaveCard))
}

func (c *scardCard) ATR() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.h.Status()
	if err != nil {
		return nil, wrap("status", err)
	}
	return s.Atr, nil
}

func (c *scardCard) Control(code uint32, in []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.h.Control(code, in)
	return r, wrap("control", err)
}

func (c *scardCard) Reconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wrap("reconnect", c.h.Reconnect(scard.ShareShared, scard.ProtocolAny, scard.LeaveCard))
}

func (c *scardCard) Disconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wrap("disconnect", c.h.Disconnect(scard.LeaveCard))
}

// wrap adds the operation and, when one applies, a sentinel error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
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
