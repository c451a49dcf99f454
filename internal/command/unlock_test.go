package command

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// keeper is an Unlocker that records what it was given.
type keeper struct {
	cards   chan Card
	origins chan string
}

func (k *keeper) Keep(card Card, origin string) (*protocol.Unlocked, error) {
	k.cards <- card
	k.origins <- origin
	return &protocol.Unlocked{ExpiresIn: 60, Signatures: 4, Origin: origin, CardKind: "cie", Holder: "MARIO ROSSI"}, nil
}

// "unlock" asks the PIN as a login does, for the site and with purpose
// "tls", tries each PIN the extension sends once, and hands the logged-in
// card over.
func TestUnlock(t *testing.T) {
	card := newFakeCard(t)
	k := &keeper{cards: make(chan Card, 1), origins: make(chan string, 1)}
	s := startConfig(t, Config{Provider: &fakeProvider{card: card}, Version: "1.0.0", PINTimeout: time.Minute, Unlocker: k})
	s.send(`{"command":"unlock","arguments":{"origin":"` + origin + `"}}`)
	r := s.pinRequest()
	if r.Purpose != protocol.PurposeTLS || r.Origin != origin || r.TriesLeft != 3 || r.Holder != "MARIO ROSSI" {
		t.Fatalf("pinRequest = %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"00000000"}}`)
	if r := s.pinRequest(); r.Error == nil || r.Error.Code != protocol.CodePINIncorrect || r.TriesLeft != 2 || r.Purpose != protocol.PurposeTLS {
		t.Fatalf("after a wrong PIN: %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	m := s.next()
	var res protocol.UnlockResult
	if err := json.Unmarshal(mustJSON(t, m), &res); err != nil || res.Unlocked == nil || res.Unlocked.Signatures != 4 {
		t.Fatalf("answer %s", mustJSON(t, m))
	}
	if got := <-k.cards; got != Card(card) || <-k.origins != origin {
		t.Fatal("the card was not handed over with the site")
	}
	if len(card.logins) != 2 {
		t.Fatalf("logins %q: want each PIN sent tried once", card.logins)
	}
	for _, pin := range card.given {
		for _, b := range pin {
			if b != 0 {
				t.Fatal("a PIN was not zeroed")
			}
		}
	}
}

// Without an Unlocker (no service) "unlock" says what it needs; a bad
// origin is refused before the card is touched.
func TestUnlockRefused(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(`{"command":"unlock","arguments":{}}`)
	if e := s.wantError(protocol.CodeUnknownCommand); e.Message == "" {
		t.Fatal("no message")
	}
	k := &keeper{cards: make(chan Card, 1), origins: make(chan string, 1)}
	s = startConfig(t, Config{Provider: &fakeProvider{card: card}, Version: "1.0.0", PINTimeout: time.Minute, Unlocker: k})
	s.send(`{"command":"unlock","arguments":{"origin":"http://www.inps.it"}}`)
	s.wantError(protocol.CodeInvalidArgument)
	s.send(`{"command":"unlock","arguments":{}}`)
	if r := s.pinRequest(); r.Origin != "" {
		t.Fatalf("pinRequest = %+v", r)
	}
	s.send(`{"command":"cancel"}`)
	s.wantError(protocol.CodeUserCancelled)
	if len(card.logins) != 0 || len(k.cards) != 0 {
		t.Fatal("a cancelled unlock tried a PIN or kept the card")
	}
}

// "tls-pin" answers the service's own PIN request, not this port's: it
// is handed over and acknowledged at once, also while a command waits
// for its PIN; without the service it is refused.
func TestTLSPIN(t *testing.T) {
	card := newFakeCard(t)
	got := make(chan *protocol.TLSPINArgs, 1)
	s := startConfig(t, Config{Provider: &fakeProvider{card: card}, Version: "1.0.0", PINTimeout: time.Minute,
		TLSPIN: func(a *protocol.TLSPINArgs) error { got <- a; return nil }})
	s.send(authMsg)
	s.pinRequest()
	s.send(`{"command":"tls-pin","arguments":{"id":3,"pin":"12345678"}}`)
	if m := s.next(); len(m) != 0 {
		t.Fatalf("want {}, got %s", mustJSON(t, m))
	}
	if a := <-got; a.ID != 3 || string(a.PIN) != "12345678" {
		t.Fatalf("handed over %+v", a)
	}
	s.send(`{"command":"tls-pin","arguments":{"id":3}}`)
	s.wantError(protocol.CodeInvalidArgument)
	s.send(`{"command":"cancel"}`) // the login's own PIN request goes on meanwhile
	s.wantError(protocol.CodeUserCancelled)
	if len(card.logins) != 0 {
		t.Fatal("a tls-pin PIN was tried by this port's login")
	}
	s = start(t, &fakeProvider{card: card}, time.Minute)
	s.send(`{"command":"tls-pin","arguments":{"id":3,"cancel":true}}`)
	s.wantError(protocol.CodeUnknownCommand)
}
