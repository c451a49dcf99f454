package service

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/tlsauth"
)

// pinCard is a card whose PIN is 12345678, counting tries.
type pinCard struct {
	mu     sync.Mutex
	tries  int
	logins []string
	given  [][]byte
}

func (c *pinCard) Info() protocol.TokenStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return protocol.TokenStatus{CardKind: "cie", Holder: "MARIO ROSSI", TriesLeft: c.tries, MinPINLength: 8, MaxPINLength: 8, PINPart: "full"}
}
func (c *pinCard) AuthCertificate() *x509.Certificate    { return nil }
func (c *pinCard) SigningCertificate() *x509.Certificate { return nil }
func (c *pinCard) Close() error                          { return nil }
func (c *pinCard) Sign(context.Context, *x509.Certificate, crypto.Hash, []byte) ([]byte, error) {
	return nil, errors.New("not here")
}
func (c *pinCard) Login(_ context.Context, pin []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logins, c.given = append(c.logins, string(pin)), append(c.given, pin)
	if string(pin) != "12345678" {
		c.tries--
		n := c.tries
		return &protocol.Error{Code: protocol.CodePINIncorrect, Message: "wrong PIN", TriesLeft: &n}
	}
	return nil
}

func nextEvent(t *testing.T, ch chan protocol.EventMessage) protocol.EventMessage {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return protocol.EventMessage{}
}

func pinArgs(t *testing.T, raw string) *protocol.TLSPINArgs {
	a, err := protocol.ParseTLSPIN([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// At signing time the PIN is asked of every connected extension by event;
// each answer is tried once, a wrong one brings a new request with the
// tries left, and the result closes every window.
func TestTLSPINAsked(t *testing.T) {
	var h hub
	a := newTLSAsker(&h, time.Minute)
	a.hostWait = time.Millisecond
	card := &pinCard{tries: 3}
	if err := a.ask(context.Background(), card); !errors.Is(err, tlsauth.ErrNotAvailable) {
		t.Fatalf("no extension: %v", err)
	}
	events := h.subscribe()
	done := make(chan error, 1)
	go func() { done <- a.ask(context.Background(), card) }()
	ev := nextEvent(t, events)
	req, ok := ev.Data.(*protocol.TLSPINRequest)
	if ev.Event != protocol.EventTLSPINRequest || !ok || req.PINRequest.Purpose != protocol.PurposeTLS || req.PINRequest.TriesLeft != 3 {
		t.Fatalf("event %+v", ev)
	}
	if err := a.answer(pinArgs(t, `{"id":999,"pin":"12345678"}`)); protocol.AsError(err).Code != protocol.CodeUnexpectedPIN {
		t.Fatalf("an answer to no request: %v", err)
	}
	if err := a.answer(pinArgs(t, `{"id":`+strconv.FormatUint(req.ID, 10)+`,"pin":"00000000"}`)); err != nil {
		t.Fatal(err)
	}
	ev = nextEvent(t, events)
	again := ev.Data.(*protocol.TLSPINRequest)
	if again.ID != req.ID || again.PINRequest.Error == nil || again.PINRequest.Error.Code != protocol.CodePINIncorrect || again.PINRequest.TriesLeft != 2 {
		t.Fatalf("after a wrong PIN: %+v", again.PINRequest)
	}
	if err := a.answer(pinArgs(t, `{"id":`+strconv.FormatUint(req.ID, 10)+`,"pin":"12345678"}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev = nextEvent(t, events); ev.Event != protocol.EventTLSPINResult || !ev.Data.(*protocol.TLSPINResult).OK {
		t.Fatalf("result %+v", ev)
	}
	if len(card.logins) != 2 {
		t.Fatalf("logins %q: each PIN once", card.logins)
	}
	for _, p := range card.given {
		for _, b := range p {
			if b != 0 {
				t.Fatal("a PIN was not zeroed")
			}
		}
	}
	if err := a.answer(pinArgs(t, `{"id":`+strconv.FormatUint(req.ID, 10)+`,"pin":"12345678"}`)); err == nil {
		t.Fatal("an answer after the result was taken")
	}
}

// A signature that finds no host waits for one a while: the extension
// connects as the site's page starts loading, racing the handshake.
func TestTLSPINWaitsForHost(t *testing.T) {
	var h hub
	a := newTLSAsker(&h, time.Minute)
	a.hostWait = time.Minute
	done := make(chan error, 1)
	go func() { done <- a.ask(context.Background(), &pinCard{tries: 3}) }()
	for { // the request waits for a host (no sleep: a host that came first is as good)
		h.mu.Lock()
		waiting := h.joined != nil
		h.mu.Unlock()
		if waiting {
			break
		}
		runtime.Gosched()
	}
	events := h.subscribe()
	req, ok := nextEvent(t, events).Data.(*protocol.TLSPINRequest)
	if !ok {
		t.Fatal("no PIN request to the host that came")
	}
	if err := a.answer(pinArgs(t, `{"id":`+strconv.FormatUint(req.ID, 10)+`,"pin":"12345678"}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Cancel, time out, or the browser giving up: the signature is refused
// and the windows close with the reason.
func TestTLSPINCancelled(t *testing.T) {
	for _, how := range []string{"cancel", "timeout", "browser"} {
		t.Run(how, func(t *testing.T) {
			var h hub
			timeout := time.Minute
			if how == "timeout" {
				timeout = time.Millisecond
			}
			a := newTLSAsker(&h, timeout)
			events := h.subscribe()
			ctx, giveUp := context.WithCancel(context.Background())
			defer giveUp()
			done := make(chan error, 1)
			go func() { done <- a.ask(ctx, &pinCard{tries: 3}) }()
			req := nextEvent(t, events).Data.(*protocol.TLSPINRequest)
			switch how {
			case "cancel":
				if err := a.answer(pinArgs(t, `{"id":`+strconv.FormatUint(req.ID, 10)+`,"cancel":true}`)); err != nil {
					t.Fatal(err)
				}
			case "browser":
				giveUp()
			}
			want := map[string]protocol.Code{"cancel": protocol.CodeUserCancelled, "timeout": protocol.CodeUserTimeout, "browser": protocol.CodeUserCancelled}[how]
			err := <-done
			if how != "browser" && protocol.AsError(err).Code != want || how == "browser" && !errors.Is(err, context.Canceled) {
				t.Fatalf("ask: %v", err)
			}
			res := nextEvent(t, events).Data.(*protocol.TLSPINResult)
			if res.OK || res.Error == nil || res.Error.Code != want || res.ID != req.ID {
				t.Fatalf("result %+v", res)
			}
		})
	}
}
