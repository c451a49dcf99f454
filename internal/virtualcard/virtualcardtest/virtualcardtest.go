// Package virtualcardtest runs virtual cards in tests against the real pcscd
// with vsmartcard's vpcd reader driver.
//
// Tests that use it need pcscd with vpcd's readers: where they are
// missing, the tests skip, or fail under EIDLINK_TEST_STRICT=1 (see
// testenv), with a message saying how to start them.
package virtualcardtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
)

// vpcd's two readers and their TCP ports.
const (
	Reader0 = "Virtual PCD 00 00"
	Addr0   = "127.0.0.1:35963"
	Reader1 = "Virtual PCD 00 01"
	Addr1   = "127.0.0.1:35964"
)

// Timeout bounds every wait for pcscd to notice a change (it polls vpcd
// about every 0.4 s).
const Timeout = 10 * time.Second

const howTo = "run `make pcscd` (pcscd with the vpcd driver, packages pcscd and vsmartcard-vpcd)"

var (
	lockOnce sync.Once
	lockErr  error
)

// Lock waits until no other test process uses vpcd's readers and keeps
// them for this process until it exits. Context calls it; a test binary
// that reaches PC/SC only indirectly (a status scan, a PKCS#11 module such
// as OpenSC probing the readers) calls it from TestMain, so that it does
// not disturb another package's virtual cards.
func Lock() error {
	lockOnce.Do(func() { lockErr = lockReaders() })
	return lockErr
}

// Context returns a PC/SC context released at cleanup, failing the test
// when pcscd or vpcd's readers are missing. The first call waits until no
// other test process uses vpcd's readers.
func Context(t testing.TB) pcsc.Context {
	t.Helper()
	if err := Lock(); err != nil {
		t.Fatalf("locking vpcd's readers for this test process: %v", err)
	}
	c, err := pcsc.Establish(context.Background())
	if err != nil {
		testenv.Missing(t, fmt.Sprintf("pcscd (not reachable: %v)", err), howTo)
	}
	t.Cleanup(func() { c.Release() })
	readers, err := c.ListReaders(context.Background())
	if err != nil || !slices.Contains(readers, Reader0) || !slices.Contains(readers, Reader1) {
		testenv.Missing(t, fmt.Sprintf("vpcd's readers in pcscd (readers %q, %v)", readers, err), howTo)
	}
	return c
}

var (
	idMu sync.Mutex
	ids  = map[eidcert.Kind]*eidcert.TestIdentity{}
)

// Identity returns an identity of the kind ("cie" or "cns") shared by the
// tests of the package, to generate RSA keys once.
func Identity(t testing.TB, kind eidcert.Kind) *eidcert.TestIdentity {
	t.Helper()
	idMu.Lock()
	defer idMu.Unlock()
	if ids[kind] == nil {
		id, err := eidcert.NewTestIdentity(kind, eidcert.TestHolder)
		if err != nil {
			t.Fatal(err)
		}
		ids[kind] = id
	}
	return ids[kind]
}

// NewCard returns a virtual card of type typ with the shared identity.
func NewCard(t testing.TB, typ string, o virtualcard.Options) *virtualcard.Card {
	t.Helper()
	ty, ok := virtualcard.LookupType(typ)
	if !ok {
		t.Fatalf("no card type %q", typ)
	}
	if o.Identity == nil {
		o.Identity = Identity(t, ty.Kind)
	}
	c, err := virtualcard.New(typ, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Insert puts card into the vpcd reader at addr, waits until pcscd shows
// it in reader, and at cleanup removes it and waits until pcscd sees the
// reader empty, so that no test leaves a card behind.
func Insert(t testing.TB, c pcsc.Context, card *virtualcard.Card, addr, reader string) *virtualcard.Slot {
	t.Helper()
	WaitCard(t, c, reader, nil) // a card left by a crashed run must go first
	s := &virtualcard.Slot{Card: card, Addr: addr}
	if err := s.Insert(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Remove()
		WaitCard(t, c, reader, nil)
	})
	WaitCard(t, c, reader, card.ATR())
	return s
}

// WaitCard waits until pcscd shows a card with this ATR in reader, or no
// card when atr is nil.
func WaitCard(t testing.TB, c pcsc.Context, reader string, atr []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	s := []pcsc.ReaderState{{Reader: reader}}
	for {
		if err := c.Wait(ctx, s); err != nil {
			t.Fatalf("waiting for %s to show card %X: %v", reader, atr, err)
		}
		present := s[0].Event.Has(pcsc.StatePresent) && !s[0].Event.Has(pcsc.StateMute)
		if atr == nil && !present || atr != nil && present && bytes.Equal(s[0].ATR, atr) {
			return
		}
		s[0].Current = s[0].Event &^ pcsc.StateChanged
	}
}
