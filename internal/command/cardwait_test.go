package command

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// laterProvider has no reader, then a reader and no card, then the card,
// as the test says; each change is a card event.
type laterProvider struct {
	card   *fakeCard
	events chan protocol.EventMessage
	mu     sync.Mutex
	err    error // what Open says until the card arrives
	opens  int
}

func newLaterProvider(t *testing.T) *laterProvider {
	return &laterProvider{card: newFakeCard(t), events: make(chan protocol.EventMessage, 4),
		err: protocol.Errorf(protocol.CodeNoReader, "no reader")}
}

func (p *laterProvider) Open(context.Context) (Card, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opens++
	if p.err != nil {
		return nil, p.err
	}
	return p.card, nil
}

func (p *laterProvider) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	return nil, nil
}

// set changes what Open says and sends the event that tells.
func (p *laterProvider) set(err error, event string) {
	p.mu.Lock()
	p.err = err
	p.mu.Unlock()
	p.events <- protocol.EventMessage{Event: event}
}

func (p *laterProvider) start(t *testing.T) *session {
	return startConfig(t, Config{Provider: p, Version: "1.0.0", PINTimeout: time.Minute, CardPoll: time.Hour,
		Events: func(context.Context) <-chan protocol.EventMessage { return p.events }})
}

const authWaitMsg = `{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `","waitForCard":60000}}`

// next returns the next message that is not an event.
func (s *session) next() map[string]json.RawMessage {
	s.t.Helper()
	for {
		if m := s.recv(); m["event"] == nil {
			return m
		}
	}
}

func (s *session) cardRequest() *protocol.CardRequest {
	s.t.Helper()
	m := s.next()
	var r protocol.CardRequest
	if err := json.Unmarshal(m["cardRequest"], &r); err != nil || m["cardRequest"] == nil {
		s.t.Fatalf("want a cardRequest, got %v", m)
	}
	return &r
}

// Asked to wait, the host says what is missing, follows the holder's
// steps (a reader, then the card) and goes on to the PIN.
func TestCardWaitFollowsTheHolder(t *testing.T) {
	p := newLaterProvider(t)
	s := p.start(t)
	s.send(authWaitMsg)
	if r := s.cardRequest(); r.Reason != protocol.CardReasonNoReader || r.Origin != origin || r.Purpose != "authenticate" {
		t.Fatalf("first cardRequest = %+v", r)
	}
	s.send(`{"command":"status"}`) // answered during the wait
	if m := s.next(); m["mode"] == nil {
		t.Fatalf("status during the card wait: %v", m)
	}
	s.send(authWaitMsg)
	s.wantError(protocol.CodeBusy)
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	s.wantError(protocol.CodeUnexpectedPIN)
	p.set(protocol.Errorf(protocol.CodeNoCard, "no card"), "reader-added")
	if r := s.cardRequest(); r.Reason != protocol.CardReasonNoCard {
		t.Fatalf("after the reader: %+v", r)
	}
	p.set(nil, "card-inserted")
	if r := s.pinRequest(); r.Holder != "MARIO ROSSI" {
		t.Fatalf("pinRequest = %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	if m := s.next(); m["signature"] == nil {
		t.Fatalf("want a token, got %v", m)
	}
	if len(p.card.logins) != 1 {
		t.Fatalf("logins %q: the PIN sent during the card wait was tried", p.card.logins)
	}
}

func TestCardWaitCancelled(t *testing.T) {
	p := newLaterProvider(t)
	s := p.start(t)
	s.send(authWaitMsg)
	s.cardRequest()
	s.send(`{"command":"cancel"}`)
	s.wantError(protocol.CodeUserCancelled)
	s.send(`{"command":"status"}`) // the session goes on
	if m := s.next(); m["version"] == nil {
		t.Fatalf("status after a cancelled card wait: %v", m)
	}
}

func TestCardWaitTimesOut(t *testing.T) {
	p := newLaterProvider(t)
	s := p.start(t)
	s.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `","waitForCard":1}}`)
	s.cardRequest()
	s.wantError(protocol.CodeUserTimeout)
}

// Without waitForCard (an extension that does not know cardRequest) the
// host fails at once, as it always did.
func TestNoCardWaitWithoutAsking(t *testing.T) {
	p := newLaterProvider(t)
	s := p.start(t)
	s.send(authMsg)
	s.wantError(protocol.CodeNoReader)
}

// The provider is asked again without events too (PKCS#11-only tokens).
func TestCardWaitPolls(t *testing.T) {
	p := newLaterProvider(t)
	s := startConfig(t, Config{Provider: p, Version: "1.0.0", PINTimeout: time.Minute, CardPoll: time.Millisecond})
	s.send(authWaitMsg)
	s.cardRequest()
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
	s.pinRequest()
}
