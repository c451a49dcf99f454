// Package pcsc is eidlink's boundary to the PC/SC smart card service
// (pcscd on Linux and macOS, WinSCard on Windows).
//
// # Interfaces
//
// Context and Card are the few PC/SC calls eidlink makes; [Establish]
// returns the implementation over github.com/ebfe/scard. Errors from it are
// wrapped so that errors.Is matches one of the sentinel errors below
// (ErrNoService, ErrNotAnswering, ErrNoReaders, ErrNoCard, ErrCardRemoved,
// ErrCardReset, ErrSharingViolation, ErrTimeout); the PC/SC code stays in
// the chain.
// A card pulled in the middle of a command gives ErrCardRemoved at once
// (pcscd reports a failed transmission before it notices the removal);
// the connection then needs Reconnect, or a new Connect, once a card is
// back. Nothing reconnects by itself after a removal, since the card in
// the reader may now be another one.
//
// A Context is not safe for concurrent use, except that a Wait in progress
// is ended by cancelling its context.Context. Use one Context per goroutine
// (the monitor of [Watch] opens its own).
//
// # A service that does not answer
//
// The PC/SC calls block in C and cannot be cancelled (SCardCancel ends only
// a GetStatusChange, and only if the service answers it). A wedged pcscd,
// which accepts connections and never answers, would hold every caller for
// ever. So the implementation over ebfe/scard runs each call on its own
// goroutine and waits a few seconds at most (service calls), or somewhat
// longer (card commands), and no longer than the caller's
// context.Context: a call without an answer gives ErrNotAnswering and is
// abandoned, and until it returns the calls on the same Context (or, for
// Establish, every Establish: libpcsclite holds a process-wide lock while
// it connects) fail at once with ErrNotAnswering instead of queueing behind
// it.
//
// # Card commands
//
// [Exchange] sends one command APDU, follows 61xx and 6Cxx, and turns status
// words other than 9000 into errors: [*AuthError] for 63Cx (x tries left),
// [ErrBlocked] for 6983, [ErrNotFound] for 6A82, and so on (see sw.go).
// [WithTransaction] runs a multi-APDU operation inside an exclusive PC/SC
// transaction, so that no other application interleaves its commands.
//
// # Events
//
// [Watch] reports reader and card changes as [Event] values, waiting in
// SCardGetStatusChange with the PnP pseudo-reader; no polling while the
// service runs.
package pcsc

import (
	"context"
	"errors"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrNoService        = errors.New("smart card service not running")
	ErrNoReaders        = errors.New("no smart card reader")
	ErrNoCard           = errors.New("no card in the reader")
	ErrCardRemoved      = errors.New("card removed")
	ErrCardReset        = errors.New("card reset by another application")
	ErrSharingViolation = errors.New("card in use by another application")
	ErrTimeout          = errors.New("smart card service timeout")
	ErrNotAnswering     = errors.New("smart card service not answering")
)

// Context is a connection to the PC/SC service.
type Context interface {
	// ListReaders returns the reader names; ErrNoReaders if there are none.
	ListReaders(ctx context.Context) ([]string, error)
	// Wait blocks until the state of one of the readers differs from its
	// Current field, then sets Event and ATR of every entry. It returns
	// ctx.Err() when ctx ends first.
	Wait(ctx context.Context, states []ReaderState) error
	// Connect opens the card in reader, shared, with T=0 or T=1.
	Connect(ctx context.Context, reader string) (Card, error)
	// ConnectExclusive opens it keeping every other connection out until
	// Disconnect (Reconnect keeps it exclusive); it fails with
	// ErrSharingViolation while another connection is open.
	ConnectExclusive(ctx context.Context, reader string) (Card, error)
	// Release closes the context.
	Release() error
}

// Card is a connection to the card in one reader.
type Card interface {
	// Transmit sends a command APDU and returns the response APDU,
	// status word included.
	Transmit(apdu []byte) ([]byte, error)
	// BeginTransaction locks the card for this connection until
	// EndTransaction.
	BeginTransaction() error
	EndTransaction() error
	// ATR returns the card's answer to reset.
	ATR() ([]byte, error)
	// Control sends a reader control code (see CtlCode).
	Control(code uint32, in []byte) ([]byte, error)
	// Reconnect re-opens the connection after a reset or a reinsertion,
	// leaving the card as it is.
	Reconnect() error
	// Disconnect closes the connection, leaving the card powered.
	Disconnect() error
}

// State holds SCARD_STATE_* flags of a reader. The upper 16 bits are an
// event counter that Wait uses to notice changes it did not see.
type State uint32

// Reader state flags.
const (
	StateUnaware     State = 0x0
	StateChanged     State = 0x2
	StateUnknown     State = 0x4
	StateUnavailable State = 0x8
	StateEmpty       State = 0x10
	StatePresent     State = 0x20
	StateExclusive   State = 0x80
	StateInUse       State = 0x100
	StateMute        State = 0x200
)

// Has reports whether all flags f are set in s.
func (s State) Has(f State) bool { return s&f == f }

// PnPReader is the pseudo-reader whose state changes when a reader is
// added or removed.
const PnPReader = `\\?PnP?\Notification`

// ReaderState is one entry of Wait.
type ReaderState struct {
	Reader  string
	Current State  // what the caller knows; StateUnaware to learn
	Event   State  // set by Wait
	ATR     []byte // set by Wait; meaningful only with StatePresent
}

// WithTransaction runs fn between BeginTransaction and EndTransaction on c.
// If the card was reset by another application, it reconnects first. If fn
// finds the card reset (ErrCardReset), the card is reconnected before the
// error is returned, so that the next operation starts clean; fn is never
// run twice, since it may have used a PIN try.
func WithTransaction(c Card, fn func() error) error {
	err := c.BeginTransaction()
	if errors.Is(err, ErrCardReset) {
		if err = c.Reconnect(); err == nil {
			err = c.BeginTransaction()
		}
	}
	if err != nil {
		return err
	}
	err = fn()
	if errors.Is(err, ErrCardReset) {
		c.Reconnect()
	}
	if endErr := c.EndTransaction(); err == nil {
		err = endErr
	}
	return err
}
