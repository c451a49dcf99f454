package pcsc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

func TestConnectErrors(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	if _, err := ctx.Connect(context.Background(), virtualcardtest.Reader0); !errors.Is(err, pcsc.ErrNoCard) {
		t.Errorf("Connect to an empty reader: %v, want ErrNoCard", err)
	}
	if _, err := ctx.Connect(context.Background(), "No Such Reader 00 00"); !errors.Is(err, pcsc.ErrNoReaders) {
		t.Errorf("Connect to a missing reader: %v, want ErrNoReaders", err)
	}
}

// Wait blocks in pcscd until its context ends.
func TestWaitCancel(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	s, err := pcsc.Snapshot(context.Background(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s {
		s[i].Current = s[i].Event &^ pcsc.StateChanged
	}
	wctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := ctx.Wait(wctx, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's deadline", err)
	}
	// The context still works after a cancelled wait.
	if _, err := ctx.ListReaders(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// next returns the next event about reader (or the service), failing the
// test after virtualcardtest.Timeout.
func next(t *testing.T, events <-chan pcsc.Event, reader string) pcsc.Event {
	t.Helper()
	deadline := time.After(virtualcardtest.Timeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event channel closed")
			}
			if e.Reader == reader || e.Reader == "" {
				return e
			}
		case <-deadline:
			t.Fatalf("no event for %s", reader)
		}
	}
}

func expectEvent(t *testing.T, events <-chan pcsc.Event, reader string, kind pcsc.EventKind, atr []byte) {
	t.Helper()
	if e := next(t, events, reader); e.Kind != kind || !bytes.Equal(e.ATR, atr) {
		t.Fatalf("event %v %s %X, want %v %X", e.Kind, e.Reader, e.ATR, kind, atr)
	}
}

func TestWatch(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	wctx, cancel := context.WithCancel(context.Background())
	events := (&pcsc.Monitor{}).Watch(wctx)
	defer func() {
		cancel()
		for range events { // drained and closed once the monitor stops
		}
	}()
	expectEvent(t, events, virtualcardtest.Reader0, pcsc.ReaderAdded, nil)

	cns := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})
	s := virtualcardtest.Insert(t, ctx, cns, virtualcardtest.Addr0, virtualcardtest.Reader0)
	expectEvent(t, events, virtualcardtest.Reader0, pcsc.CardInserted, cns.ATR())
	s.Remove()
	expectEvent(t, events, virtualcardtest.Reader0, pcsc.CardRemoved, nil)

	// Another card: pcscd notices a removal only after vpcd's next poll,
	// so a swap needs a pause (as with a real card and reader).
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	cie := virtualcardtest.NewCard(t, "cie-gemalto", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, cie, virtualcardtest.Addr0, virtualcardtest.Reader0)
	expectEvent(t, events, virtualcardtest.Reader0, pcsc.CardInserted, cie.ATR())
}

// The monitor reports a service it cannot reach, and its return.
func TestWatchServiceLost(t *testing.T) {
	virtualcardtest.Context(t)
	calls := 0
	m := &pcsc.Monitor{Retry: 10 * time.Millisecond, Open: func(ctx context.Context) (pcsc.Context, error) {
		if calls++; calls <= 2 {
			return nil, fmt.Errorf("test: %w", pcsc.ErrNoService)
		}
		return pcsc.Establish(ctx)
	}}
	wctx, cancel := context.WithCancel(context.Background())
	events := m.Watch(wctx)
	defer func() {
		cancel()
		for range events {
		}
	}()
	if e := next(t, events, ""); e.Kind != pcsc.ServiceLost || !errors.Is(e.Err, pcsc.ErrNoService) {
		t.Fatalf("first event %v %v, want ServiceLost", e.Kind, e.Err)
	}
	expectEvent(t, events, "", pcsc.ServiceBack, nil)
	expectEvent(t, events, virtualcardtest.Reader0, pcsc.ReaderAdded, nil)
	if calls != 3 {
		t.Errorf("service opened %d times, want 3 (one report of the loss)", calls)
	}
}

// A card pulled in the middle of a multi-APDU read gives a clean
// ErrCardRemoved; after reinsertion the next operation works and no
// transaction is left behind.
func TestCardPulledMidRead(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	c, err := ctx.Connect(context.Background(), virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	chunks := 0
	err = pcsc.WithTransaction(c, func() error {
		if _, err := pcsc.Exchange(c, []byte{0x00, 0xA4, 0x08, 0x0C, 0x04, 0x11, 0x00, 0x11, 0x01}); err != nil {
			return err
		}
		for off := 0; ; off += 0xFF {
			if _, err := pcsc.Exchange(c, []byte{0x00, 0xB0, byte(off >> 8), byte(off), 0xFF}); err != nil {
				return err
			}
			if chunks++; chunks == 1 {
				slot.Remove() // the user pulls the card
			}
		}
	})
	if !errors.Is(err, pcsc.ErrCardRemoved) || chunks != 1 {
		t.Fatalf("read with the card pulled after %d chunks: %v, want ErrCardRemoved after 1", chunks, err)
	}

	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil) // out for one vpcd poll at least
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, vc.ATR())
	if _, err := c.Transmit([]byte{0x00, 0xA4, 0x00, 0x0C}); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("old handle after reinsertion: %v, want ErrCardRemoved", err)
	}
	if err := c.Reconnect(); err != nil {
		t.Fatal(err)
	}
	p, err := card.ReadPublic(c, eidcert.CNS)
	if err != nil || !bytes.Equal(p.Certificate, vc.Identity().Cert.Raw) {
		t.Fatalf("read after reconnect: %v", err)
	}

	// Another application can lock the card: nothing leaked.
	other := virtualcardtest.Context(t)
	c2, err := other.Connect(context.Background(), virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Disconnect()
	locked := make(chan error, 1)
	go func() { locked <- pcsc.WithTransaction(c2, func() error { return nil }) }()
	select {
	case err := <-locked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(virtualcardtest.Timeout):
		t.Fatal("a transaction is still held on the card")
	}
}

// An exclusive connection keeps the others out, across a Reconnect, until
// it disconnects; it cannot be had while another is open.
func TestConnectExclusive(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	bg := context.Background()
	refused := func(connect func(context.Context, string) (pcsc.Card, error), when string) {
		t.Helper()
		if c, err := connect(bg, virtualcardtest.Reader0); !errors.Is(err, pcsc.ErrSharingViolation) {
			if err == nil {
				c.Disconnect()
			}
			t.Fatalf("%s: %v, want ErrSharingViolation", when, err)
		}
	}
	shared, err := ctx.Connect(bg, virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	refused(ctx.ConnectExclusive, "exclusive beside a shared connection")
	shared.Disconnect()
	own, err := ctx.ConnectExclusive(bg, virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Disconnect()
	refused(ctx.Connect, "connecting beside an exclusive connection")
	if _, err := pcsc.Exchange(own, []byte{0x00, 0xA4, 0x08, 0x0C, 0x04, 0x11, 0x00, 0x11, 0x01}); err != nil {
		t.Fatalf("the exclusive connection's own command: %v", err)
	}
	if err := own.Reconnect(); err != nil {
		t.Fatal(err)
	}
	refused(ctx.Connect, "connecting beside an exclusive connection reconnected")
	own.Disconnect()
	c, err := ctx.Connect(bg, virtualcardtest.Reader0)
	if err != nil {
		t.Fatalf("connecting after the exclusive one left: %v", err)
	}
	c.Disconnect()
}
