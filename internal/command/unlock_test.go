package command

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// keeper is an Unlocker that records what it was given; it opens card
// for any name, or finds no card when card is nil, or fails with err.
type keeper struct {
	card    Card
	err     error
	names   chan string
	cards   chan Card
	origins chan string
}

func newKeeper(card Card) *keeper {
	return &keeper{card: card, names: make(chan string, 10), cards: make(chan Card, 1), origins: make(chan string, 1)}
}

func (k *keeper) Open(_ context.Context, name string) (Card, error) {
	select {
	case k.names <- name:
	default: // a card wait asks again and again
	}
	if k.err != nil {
		return nil, k.err
	}
	if k.card == nil {
		return nil, protocol.Errorf(protocol.CodeNoCard, "no card matches %q", name)
	}
	return k.card, nil
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
	k := newKeeper(card)
	// The provider's first card is not the one: the Unlocker opens the named one.
	s := startConfig(t, Config{Provider: &fakeProvider{err: protocol.Errorf(protocol.CodeCardError, "not this card")}, Version: "1.0.0", PINTimeout: time.Minute, Unlocker: k})
	s.send(`{"command":"unlock","arguments":{"origin":"` + origin + `","card":"cns"}}`)
	r := s.pinRequest()
	if name := <-k.names; name != "cns" {
		t.Fatalf("the Unlocker opened %q, want the card the holder's click named", name)
	}
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
	k := newKeeper(card)
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

// The card "unlock" names, not there yet: the card request goes out, and
// the wait asks the Unlocker for that card again until it comes.
func TestUnlockWaitsForTheNamedCard(t *testing.T) {
	k := newKeeper(nil)
	s := startConfig(t, Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1.0.0", PINTimeout: time.Minute, Unlocker: k, CardPoll: time.Millisecond})
	s.send(`{"command":"unlock","arguments":{"card":"cie","waitForCard":60000}}`)
	m := s.next()
	var cr protocol.CardRequestMessage
	if err := json.Unmarshal(mustJSON(t, m), &cr); err != nil || cr.CardRequest == nil || cr.CardRequest.Reason != protocol.CardReasonNoCard {
		t.Fatalf("want a card request, got %s", mustJSON(t, m))
	}
	for range 2 {
		if name := <-k.names; name != "cie" {
			t.Fatalf("opened %q, want cie", name)
		}
	}
	s.send(`{"command":"cancel"}`)
	s.wantError(protocol.CodeUserCancelled)
}

// A name that fits several cards ends "unlock" at once with their list
// and CodeCardAmbiguous, even with a card wait: no card request, no PIN
// asked, nothing kept.
func TestUnlockAmbiguousCard(t *testing.T) {
	const list = `slot 1 "CIE di MARIO ROSSI" (cie), slot 2 "CIE di ANNA VERDI" (cie)`
	k := newKeeper(newFakeCard(t))
	k.err = protocol.Errorf(protocol.CodeCardAmbiguous, "2 cards are %q (%s)", "cie", list)
	s := startConfig(t, Config{Provider: &fakeProvider{card: newFakeCard(t)}, Version: "1.0.0", PINTimeout: time.Minute, Unlocker: k, CardPoll: time.Millisecond})
	s.send(`{"command":"unlock","arguments":{"origin":"` + origin + `","card":"cie","waitForCard":60000}}`)
	if e := s.wantError(protocol.CodeCardAmbiguous); !strings.Contains(e.Message, list) {
		t.Fatalf("message %q does not list the cards", e.Message)
	}
	if name := <-k.names; name != "cie" || len(k.names) != 0 || len(k.cards) != 0 {
		t.Fatalf("opened %q (%d more), kept %d cards", name, len(k.names), len(k.cards))
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
