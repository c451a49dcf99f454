package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// EventKind says what changed.
type EventKind int

// Event kinds.
const (
	ReaderAdded EventKind = iota + 1
	ReaderRemoved
	CardInserted
	CardRemoved
	ServiceLost // the PC/SC service stopped or cannot be reached
	ServiceBack // the PC/SC service answers again
)

func (k EventKind) String() string {
	switch k {
	case ReaderAdded:
		return "reader-added"
	case ReaderRemoved:
		return "reader-removed"
	case CardInserted:
		return "card-inserted"
	case CardRemoved:
		return "card-removed"
	case ServiceLost:
		return "service-lost"
	case ServiceBack:
		return "service-back"
	}
	return "unknown"
}

// Event is a change seen by a Monitor.
type Event struct {
	Kind   EventKind
	Reader string
	ATR    []byte // CardInserted only
	Err    error  // ServiceLost only: why
}

// Monitor reports reader and card changes.
type Monitor struct {
	// Open returns a new Context; nil means Establish.
	Open func(context.Context) (Context, error)
	// Retry is how often to try to reach the service while it is down
	// (and to list readers where the PnP pseudo-reader is not supported);
	// zero means one second.
	Retry time.Duration
}

type slot struct {
	present bool
	atr     []byte
}

// Watch starts monitoring and returns its events; the channel is closed
// when ctx ends. The first events describe the state found at start
// (ReaderAdded and CardInserted, or ServiceLost), so a consumer can build
// its whole view from events alone. When the service is lost every known
// card and reader is reported removed before ServiceLost; after
// ServiceBack they are reported again.
func (m *Monitor) Watch(ctx context.Context) <-chan Event {
	ch := make(chan Event, 16)
	go func() {
		defer close(ch)
		m.run(ctx, ch)
	}()
	return ch
}

func (m *Monitor) run(ctx context.Context, ch chan<- Event) {
	open, retry := m.Open, m.Retry
	if open == nil {
		open = Establish
	}
	if retry <= 0 {
		retry = time.Second
	}
	emit := func(e Event) {
		select {
		case ch <- e:
		case <-ctx.Done():
		}
	}
	known := map[string]*slot{}
	lost := false
	for ctx.Err() == nil {
		c, err := open(ctx)
		if err == nil {
			if lost {
				emit(Event{Kind: ServiceBack})
				lost = false
			}
			err = watch(ctx, c, known, emit, retry)
			c.Release()
		}
		if ctx.Err() != nil {
			return
		}
		forget(known, nil, emit)
		if !lost {
			emit(Event{Kind: ServiceLost, Err: err})
			lost = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// forget reports the removal of every known reader not in keep.
func forget(known map[string]*slot, keep map[string]bool, emit func(Event)) {
	for r, s := range known {
		if keep[r] {
			continue
		}
		if s.present {
			emit(Event{Kind: CardRemoved, Reader: r})
		}
		emit(Event{Kind: ReaderRemoved, Reader: r})
		delete(known, r)
	}
}

// watch follows one Context until it fails or ctx ends.
func watch(ctx context.Context, c Context, known map[string]*slot, emit func(Event), retry time.Duration) error {
	pnp := true
	var states []ReaderState
	resync := func() error {
		names, err := c.ListReaders(ctx)
		if err != nil && !errors.Is(err, ErrNoReaders) {
			return err
		}
		keep, current := map[string]bool{}, map[string]State{}
		for _, s := range states {
			current[s.Reader] = s.Current
		}
		states = states[:0]
		if pnp {
			states = append(states, ReaderState{Reader: PnPReader, Current: current[PnPReader]})
		}
		for _, n := range names {
			keep[n] = true
			if known[n] == nil {
				known[n] = &slot{}
				emit(Event{Kind: ReaderAdded, Reader: n})
			}
			states = append(states, ReaderState{Reader: n, Current: current[n]})
		}
		forget(known, keep, emit)
		return nil
	}
	if err := resync(); err != nil {
		return err
	}
	for {
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !pnp {
			wctx, cancel = context.WithTimeout(ctx, retry)
		}
		var err error
		if len(states) == 0 {
			<-wctx.Done()
		} else {
			err = c.Wait(wctx, states)
		}
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || wctx.Err() != nil { // a reader vanished, or time to list readers
			if wctx.Err() == nil && !errors.Is(err, ErrNoReaders) {
				return err
			}
			if err := resync(); err != nil {
				return err
			}
			continue
		}
		changed := false
		for i := range states {
			s := &states[i]
			counter := s.Current>>16 != s.Event>>16
			s.Current = s.Event &^ StateChanged
			if s.Reader == PnPReader {
				if s.Event.Has(StateUnknown) {
					pnp = false // not supported: list readers every retry
				}
				changed = changed || s.Event.Has(StateChanged)
				continue
			}
			if s.Event&(StateUnknown|StateUnavailable) != 0 {
				changed = true // reader gone
				continue
			}
			k := known[s.Reader]
			present := s.Event.Has(StatePresent)
			var atr []byte
			if present {
				atr = bytes.Clone(s.ATR)
			}
			// A card swapped between two waits keeps the state but moves
			// the event counter.
			swapped := present && k.present && (counter || !bytes.Equal(atr, k.atr))
			if k.present && (!present || swapped) {
				emit(Event{Kind: CardRemoved, Reader: s.Reader})
			}
			if present && (!k.present || swapped) {
				emit(Event{Kind: CardInserted, Reader: s.Reader, ATR: atr})
			}
			k.present, k.atr = present, atr
		}
		if changed || !pnp {
			if err := resync(); err != nil {
				return err
			}
		}
	}
}

// Snapshot returns the current state of every reader of c. The service
// answers at once: no answer within a few seconds is ErrNotAnswering.
func Snapshot(ctx context.Context, c Context) ([]ReaderState, error) {
	names, err := c.ListReaders(ctx)
	if err != nil {
		return nil, err
	}
	states := make([]ReaderState, len(names))
	for i, n := range names {
		states[i].Reader = n
	}
	wctx, cancel := context.WithTimeout(ctx, serviceBound)
	defer cancel()
	err = c.Wait(wctx, states)
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		err = fmt.Errorf("pcsc: get status change: %w", ErrNotAnswering)
	}
	return states, err
}
