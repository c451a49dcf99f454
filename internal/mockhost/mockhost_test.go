package mockhost

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/relyingparty"
)

const (
	origin = "https://www.inps.it"
	nonce  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	auth   = `{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`
)

var (
	cards   = map[eidcert.Kind]*Card{}
	cardDir string
)

func TestMain(m *testing.M) {
	var err error
	if cardDir, err = os.MkdirTemp("", "mockhost-test"); err != nil {
		panic(err)
	}
	pinpadTyping = 10 * time.Millisecond
	code := m.Run()
	os.RemoveAll(cardDir)
	os.Exit(code)
}

// card returns a mock card of kind, made once per test binary (RSA key
// generation is the slow part).
func card(t *testing.T, kind eidcert.Kind) *Card {
	if c := cards[kind]; c != nil {
		return c
	}
	pin := "12345678"
	if kind == "cns" {
		pin = "24680"
	}
	c, err := CreateCard(filepath.Join(cardDir, string(kind)), CardOptions{Kind: kind, PIN: pin, GivenName: "ANNA", Surname: "BIANCHI", CodiceFiscale: "BNCNNA85M41F205Q"})
	if err != nil {
		t.Fatal(err)
	}
	cards[kind] = c
	return c
}

// conn is the browser's side of one connection to Serve.
type conn struct {
	t    *testing.T
	in   *io.PipeWriter
	out  *nativemsg.Reader
	done chan error
}

func start(t *testing.T, o Options) *conn {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &conn{t: t, in: inW, out: nativemsg.NewReader(outR, nativemsg.MaxOutgoing), done: make(chan error, 1)}
	go func() {
		err := Serve(context.Background(), o, inR, outW)
		outW.CloseWithError(io.EOF)
		c.done <- err
	}()
	t.Cleanup(func() { inW.Close() })
	return c
}

func (c *conn) send(msg string) {
	c.t.Helper()
	if err := nativemsg.Write(c.in, []byte(msg)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *conn) recv() map[string]json.RawMessage {
	c.t.Helper()
	b, err := c.out.Read()
	if err != nil {
		c.t.Fatalf("reading from the mock host: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("mock host wrote %q", b)
	}
	return m
}

// hello reads the version message.
func (c *conn) hello() string {
	c.t.Helper()
	var v string
	json.Unmarshal(c.recv()["version"], &v)
	return v
}

func (c *conn) pinRequest() protocol.PINRequest {
	c.t.Helper()
	m := c.recv()
	var r protocol.PINRequest
	if err := json.Unmarshal(m["pinRequest"], &r); err != nil || m["pinRequest"] == nil {
		c.t.Fatalf("want a pinRequest, got %s", flat(m))
	}
	return r
}

func flat(m map[string]json.RawMessage) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func errorOf(m map[string]json.RawMessage) protocol.Error {
	var e protocol.Error
	json.Unmarshal(m["error"], &e)
	return e
}

func TestLoginWrongThenRightPINGivesAVerifiableToken(t *testing.T) {
	for _, kind := range []eidcert.Kind{eidcert.CIE, eidcert.CNS} {
		t.Run(string(kind), func(t *testing.T) {
			crd := card(t, kind)
			c := start(t, Options{Card: crd})
			if v := c.hello(); v != protocol.Version {
				t.Fatalf("version %q", v)
			}
			c.send(auth)
			r := c.pinRequest()
			if r.CardKind != string(kind) || r.Holder != "ANNA BIANCHI" || r.TriesLeft != 3 || r.Origin != origin || r.Error != nil {
				t.Fatalf("first PIN request %+v", r)
			}
			c.send(`{"command":"pin","arguments":{"pin":"99999999"}}`)
			r = c.pinRequest()
			if r.Error == nil || r.Error.Code != protocol.CodePINIncorrect || r.TriesLeft != 2 || *r.Error.TriesLeft != 2 {
				t.Fatalf("after a wrong PIN %+v", r)
			}
			c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN + `"}}`)
			tok, _ := json.Marshal(c.recv())
			roots, err := relyingparty.LoadCertPool(crd.CAFile)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := relyingparty.New(relyingparty.Config{Roots: roots})
			id, err := v.Verify(context.Background(), tok, origin, nonce)
			if err != nil {
				t.Fatalf("the token does not verify: %v\n%s", err, tok)
			}
			if id.CodiceFiscale != "BNCNNA85M41F205Q" || id.CardKind != string(kind) || id.Surname != "BIANCHI" {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestErrorScenarios(t *testing.T) {
	crd := card(t, "cie")
	for _, tc := range []struct {
		scenario string
		pin      string // sent after the first PIN request; "" sends none
		want     protocol.Code
	}{
		{"no-card", "", protocol.CodeNoCard},
		{"no-reader", "", protocol.CodeNoReader},
		{"no-module", "", protocol.CodeNoModule},
		{"pin-blocked", "", protocol.CodePINBlocked},
		{"card-removed", crd.PIN, protocol.CodeCardRemoved},
		{"last-try", "11112222", protocol.CodePINBlocked},
		{"ok", "cancel", protocol.CodeUserCancelled},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := start(t, Options{Scenario: tc.scenario, Card: crd})
			c.hello()
			c.send(auth)
			m := c.recv()
			if tc.pin != "" {
				var r protocol.PINRequest
				if json.Unmarshal(m["pinRequest"], &r); m["pinRequest"] == nil {
					t.Fatalf("want a PIN request, got %s", flat(m))
				}
				if tc.scenario == "last-try" && (!r.LastTry || r.TriesLeft != 1) {
					t.Errorf("last-try PIN request %+v", r)
				}
				if tc.pin == "cancel" {
					c.send(`{"command":"cancel"}`)
				} else {
					c.send(`{"command":"pin","arguments":{"pin":"` + tc.pin + `"}}`)
				}
				m = c.recv()
			}
			if e := errorOf(m); e.Code != tc.want {
				t.Fatalf("got %s, want %s", flat(m), tc.want)
			}
		})
	}
}

func TestStatusMatchesScenario(t *testing.T) {
	crd := card(t, "cns")
	for _, tc := range []struct {
		scenario         string
		tokens, readers  int
		cardPresent      bool
		locked, blocking bool
	}{
		{"ok", 1, 1, true, false, false},
		{"pin-blocked", 1, 1, true, true, false},
		{"no-card", 0, 1, false, false, false},
		{"no-reader", 0, 0, false, false, false},
		{"no-module", 0, 1, true, false, false},
	} {
		c := start(t, Options{Scenario: tc.scenario, Card: crd})
		c.hello()
		c.send(`{"command":"status"}`)
		b, _ := json.Marshal(c.recv())
		var st protocol.Status
		json.Unmarshal(b, &st)
		if len(st.Tokens) != tc.tokens || len(st.Readers) != tc.readers || st.Mode != "mock" {
			t.Errorf("%s: status %s", tc.scenario, b)
			continue
		}
		if tc.readers > 0 && st.Readers[0].CardPresent != tc.cardPresent {
			t.Errorf("%s: reader %+v", tc.scenario, st.Readers[0])
		}
		if tc.tokens > 0 && (st.Tokens[0].PINLocked != tc.locked || !st.Tokens[0].HasAuthKey || st.Tokens[0].CardKind != string(eidcert.CNS)) {
			t.Errorf("%s: token %+v", tc.scenario, st.Tokens[0])
		}
	}
}

func TestLast4AndPinpad(t *testing.T) {
	crd := card(t, "cie")
	c := start(t, Options{Scenario: "last4", Card: crd})
	c.hello()
	c.send(auth)
	if r := c.pinRequest(); r.PINPart != "last4" || r.MinLength != 4 || r.MaxLength != 4 {
		t.Fatalf("last4 PIN request %+v", r)
	}
	c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN + `"}}`) // all 8 digits: refused, no try used
	if r := c.pinRequest(); r.Error == nil || r.Error.Code != protocol.CodePINFormat || r.TriesLeft != 3 {
		t.Fatalf("8 digits where 4 are wanted: %+v", r)
	}
	c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN[4:] + `"}}`)
	if m := c.recv(); m["signature"] == nil {
		t.Fatalf("last4: %s", flat(m))
	}

	c = start(t, Options{Scenario: "pinpad", Card: crd})
	c.hello()
	c.send(auth)
	if r := c.pinRequest(); !r.Pinpad {
		t.Fatalf("pinpad PIN request %+v", r)
	}
	c.send(`{"command":"pin","arguments":{"pin":""}}`)
	if m := c.recv(); m["signature"] == nil {
		t.Fatalf("pinpad: %s", flat(m))
	}
}

func TestWrongPINOnce(t *testing.T) {
	crd := card(t, "cie")
	c := start(t, Options{Scenario: "wrong-pin-once", Card: crd})
	c.hello()
	c.send(auth)
	c.pinRequest()
	c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN + `"}}`)
	if r := c.pinRequest(); r.Error == nil || r.Error.Code != protocol.CodePINIncorrect || r.TriesLeft != 2 {
		t.Fatalf("the first PIN was not refused: %+v", r)
	}
	c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN + `"}}`)
	if m := c.recv(); m["signature"] == nil {
		t.Fatalf("the second PIN did not log in: %s", flat(m))
	}
}

func TestCrashEndsTheStreamMidConversation(t *testing.T) {
	c := start(t, Options{Scenario: "crash", Card: card(t, "cie")})
	c.hello()
	c.send(auth)
	c.pinRequest()
	c.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	if b, err := c.out.Read(); err != io.EOF {
		t.Fatalf("after the crash the host wrote %q, %v; want nothing", b, err)
	}
	if err := <-c.done; !errors.Is(err, ErrCrashed) {
		t.Fatalf("Serve returned %v, want ErrCrashed", err)
	}
}

func TestTimeout(t *testing.T) {
	c := start(t, Options{Scenario: "timeout", Card: card(t, "cie"), PINTimeout: 50 * time.Millisecond})
	c.hello()
	c.send(auth)
	c.pinRequest()
	if e := errorOf(c.recv()); e.Code != protocol.CodeUserTimeout {
		t.Fatalf("got %+v, want a user timeout", e)
	}
}

func TestWrongVersionAndEcho(t *testing.T) {
	c := start(t, Options{Scenario: "wrong-version"})
	if v := c.hello(); v != "99.0.0" {
		t.Fatalf("wrong-version says %q", v)
	}
	c = start(t, Options{Scenario: "echo"})
	c.hello()
	for _, msg := range []string{`{"command":"status"}`, `{"x":[1,2,3]}`} {
		c.send(msg)
		if b, _ := json.Marshal(c.recv()); string(b) != msg {
			t.Fatalf("echo of %s is %s", msg, b)
		}
	}
	c.in.Close()
	if err := <-c.done; err != nil {
		t.Fatalf("echo ended with %v", err)
	}
}

func TestServeRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{{Scenario: "nope"}, {Scenario: "ok"}} {
		if err := Serve(context.Background(), o, strings.NewReader(""), io.Discard); err == nil {
			t.Errorf("Serve(%+v) accepted", o)
		}
	}
}

func TestLoadCardChecksTheFiles(t *testing.T) {
	crd := card(t, "cie")
	got, err := LoadCard(crd.Dir)
	if err != nil || !got.Identity.Key.Equal(crd.Identity.Key) || got.PIN != crd.PIN || got.Kind != eidcert.CIE {
		t.Fatalf("LoadCard = %+v, %v", got, err)
	}
	if _, err := LoadCard(t.TempDir()); err == nil {
		t.Error("LoadCard of an empty directory succeeded")
	}
	if _, err := CreateCard(t.TempDir(), CardOptions{Kind: "cie", PIN: "1234"}); err == nil {
		t.Error("a 4-digit CIE PIN was accepted")
	}
}

// card-later: asked to wait, the host says "no card", then the card
// arrives and the login goes on to the PIN and the token; not asked, it
// fails at once as no-card does.
func TestCardLater(t *testing.T) {
	crd := card(t, "cie")
	c := start(t, Options{Scenario: "card-later", Card: crd})
	c.hello()
	c.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `","waitForCard":60000}}`)
	var cr protocol.CardRequest
	if m := c.recv(); json.Unmarshal(m["cardRequest"], &cr) != nil || cr.Reason != protocol.CardReasonNoCard {
		t.Fatalf("want a cardRequest, got %s", flat(m))
	}
	if m := c.recv(); m["pinRequest"] == nil {
		t.Fatalf("want a PIN request once the card arrives, got %s", flat(m))
	}
	c.send(`{"command":"pin","arguments":{"pin":"` + crd.PIN + `"}}`)
	if m := c.recv(); m["signature"] == nil {
		t.Fatalf("want a token, got %s", flat(m))
	}

	c = start(t, Options{Scenario: "card-later", Card: crd})
	c.hello()
	c.send(auth)
	if e := errorOf(c.recv()); e.Code != protocol.CodeNoCard {
		t.Fatalf("without waitForCard: %+v", e)
	}
}
