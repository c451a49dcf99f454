package command

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/relyingparty"
)

// fakeCard is a software card with a PIN and a tries counter: it stands in
// for the PKCS#11 token so the conversation logic can be driven exactly.
type fakeCard struct {
	key    *rsa.PrivateKey
	cert   *x509.Certificate
	pin    string
	tries  int
	info   protocol.TokenStatus
	logins []string // PINs presented, in order
	given  [][]byte // the slices Login received, to check they are zeroed
	signed bool
	// certAfterPIN hides the certificate until a login, as a CIE whose
	// certificate file needs the PIN.
	certAfterPIN, loggedIn bool
}

func newFakeCard(t testing.TB) *fakeCard {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "RSSMRA80A01H501U"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fakeCard{key: key, cert: cert, pin: "12345678", tries: 3, info: protocol.TokenStatus{
		CardKind: "cie", Holder: "MARIO ROSSI", CodiceFiscale: "RSSMRA80A01H501U", Label: "CIE",
		MinPINLength: 8, MaxPINLength: 8, PINPart: "full", TriesLeft: 3}}
}

func (c *fakeCard) Info() protocol.TokenStatus {
	i := c.info
	i.TriesLeft, i.PINLocked = c.tries, c.tries == 0
	return i
}
func (c *fakeCard) AuthCertificate() *x509.Certificate {
	if c.certAfterPIN && !c.loggedIn {
		return nil
	}
	return c.cert
}
func (c *fakeCard) SigningCertificate() *x509.Certificate { return c.cert }
func (c *fakeCard) Close() error                          { return nil }
func (c *fakeCard) Login(_ context.Context, pin []byte) error {
	c.logins = append(c.logins, string(pin))
	c.given = append(c.given, pin)
	if c.tries == 0 {
		return protocol.Errorf(protocol.CodePINBlocked, "locked")
	}
	if string(pin) != c.pin && !(c.info.Pinpad && pin == nil) {
		c.tries--
		n := c.tries
		return &protocol.Error{Code: protocol.CodePINIncorrect, Message: "wrong PIN", TriesLeft: &n}
	}
	c.tries, c.loggedIn = 3, true
	return nil
}
func (c *fakeCard) Sign(_ context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error) {
	c.signed = true
	return rsa.SignPKCS1v15(rand.Reader, c.key, h, digest)
}

type fakeProvider struct {
	card *fakeCard
	err  error
}

func (p *fakeProvider) Open(context.Context) (Card, error) {
	if p.err != nil {
		return nil, p.err
	}
	return p.card, nil
}
func (p *fakeProvider) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	return nil, []protocol.TokenStatus{p.card.Info()}
}

// session drives a Server like the extension does.
type session struct {
	t    *testing.T
	in   chan protocol.Input
	out  chan []byte
	done chan error
	sent [][]byte
}

func start(t *testing.T, p Provider, timeout time.Duration) *session {
	return startConfig(t, Config{Provider: p, Version: "1.0.0", PINTimeout: timeout})
}

func startConfig(t *testing.T, cfg Config) *session {
	s := &session{t: t, in: make(chan protocol.Input), out: make(chan []byte, 16), done: make(chan error, 1)}
	go func() {
		s.done <- Serve(context.Background(), cfg, s.in, func(v any) error {
			b, err := json.Marshal(v)
			s.out <- b
			return err
		})
	}()
	return s
}

func (s *session) send(msg string) {
	b := []byte(msg)
	s.sent = append(s.sent, b)
	s.in <- protocol.Input{Msg: b}
}

func (s *session) recv() map[string]json.RawMessage {
	s.t.Helper()
	select {
	case b := <-s.out:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("host wrote invalid JSON %q", b)
		}
		return m
	case err := <-s.done:
		s.t.Fatalf("server ended early: %v", err)
	case <-time.After(10 * time.Second):
		s.t.Fatal("no answer from the server")
	}
	return nil
}

func (s *session) pinRequest() *protocol.PINRequest {
	s.t.Helper()
	m := s.next()
	var r protocol.PINRequest
	if err := json.Unmarshal(m["pinRequest"], &r); err != nil || m["pinRequest"] == nil {
		s.t.Fatalf("want a pinRequest, got %v", m)
	}
	return &r
}

func (s *session) wantError(code protocol.Code) *protocol.Error {
	s.t.Helper()
	m := s.next()
	var e protocol.Error
	if err := json.Unmarshal(m["error"], &e); err != nil || e.Code != code {
		s.t.Fatalf("want error %s, got %s", code, m)
	}
	return &e
}

const (
	origin = "https://www.inps.it"
	nonce  = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
)

var authMsg = `{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`

func TestAuthenticateWrongThenRightPIN(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	r := s.pinRequest()
	if r.Holder != "MARIO ROSSI" || r.CodiceFiscale != "RSSMRA80A01H501U" || r.TriesLeft != 3 || r.LastTry || r.Origin != origin || r.Error != nil || r.Driver != "" {
		t.Fatalf("first pinRequest = %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"00000000"}}`)
	r = s.pinRequest()
	if r.Error == nil || r.Error.Code != protocol.CodePINIncorrect || r.TriesLeft != 2 || r.LastTry {
		t.Fatalf("after a wrong PIN: %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"11111111"}}`)
	if r = s.pinRequest(); r.TriesLeft != 1 || !r.LastTry {
		t.Fatalf("before the last try: %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	m := s.recv()
	var tok relyingparty.Token
	if err := json.Unmarshal(mustJSON(t, m), &tok); err != nil || tok.Format != "web-eid:1.0" || tok.Algorithm != "RS256" {
		t.Fatalf("token = %s", mustJSON(t, m))
	}
	sig, _ := base64.StdEncoding.DecodeString(tok.Signature)
	if err := rsa.VerifyPKCS1v15(&card.key.PublicKey, crypto.SHA256, relyingparty.Algorithm("RS256").Digest(origin, nonce), sig); err != nil {
		t.Fatalf("token signature: %v", err)
	}
	if strings.Join(card.logins, ",") != "00000000,11111111,12345678" {
		t.Fatalf("the host tried %q; it must try exactly the PINs sent", card.logins)
	}
	for i, b := range card.given {
		if strings.Trim(string(b), "\x00") != "" {
			t.Errorf("PIN buffer %d not zeroed after login", i)
		}
	}
	for i, b := range s.sent {
		if strings.Contains(string(b), "12345678") {
			t.Errorf("message %d still holds the PIN after handling", i)
		}
	}
}

func mustJSON(t *testing.T, m map[string]json.RawMessage) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A CIE on eidlink's own driver: the PIN request says so, for the PIN
// window to name the path, and asks all 8 digits.
func TestPINRequestNamesTheNativeDriver(t *testing.T) {
	card := newFakeCard(t)
	card.info.Module = protocol.ModuleNativeCIE
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	if r := s.pinRequest(); r.Driver != "eidlink" || r.PINPart != "full" || r.MinLength != 8 {
		t.Fatalf("pinRequest = %+v", r)
	}
}

// A card that shows its certificate only after the PIN: the token carries
// the certificate read after the login.
func TestAuthenticateCertificateAfterPIN(t *testing.T) {
	card := newFakeCard(t)
	card.certAfterPIN = true
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	s.pinRequest()
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	var tok relyingparty.Token
	if err := json.Unmarshal(mustJSON(t, s.recv()), &tok); err != nil || tok.UnverifiedCertificate != base64.StdEncoding.EncodeToString(card.cert.Raw) {
		t.Fatalf("token = %+v, %v", tok, err)
	}
}

func TestPINBlockedAfterLastTry(t *testing.T) {
	card := newFakeCard(t)
	card.tries = 1
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	if r := s.pinRequest(); !r.LastTry {
		t.Fatalf("no last-try warning: %+v", r)
	}
	s.send(`{"command":"pin","arguments":{"pin":"00000000"}}`)
	s.wantError(protocol.CodePINBlocked)
	s.send(authMsg) // a blocked card is refused without asking for a PIN
	s.wantError(protocol.CodePINBlocked)
	if len(card.logins) != 1 {
		t.Fatalf("logins = %d, want 1", len(card.logins))
	}
}

func TestPINFormatUsesNoTry(t *testing.T) {
	for _, tc := range []struct{ part, pin string }{
		{"full", "1234567"}, {"full", "1234567a"}, {"last4", "12345678"},
	} {
		card := newFakeCard(t)
		card.info.PINPart = tc.part
		if tc.part == "last4" {
			card.info.MinPINLength, card.info.MaxPINLength = 4, 4
		}
		s := start(t, &fakeProvider{card: card}, time.Minute)
		s.send(authMsg)
		s.pinRequest()
		s.send(`{"command":"pin","arguments":{"pin":"` + tc.pin + `"}}`)
		r := s.pinRequest()
		if r.Error == nil || r.Error.Code != protocol.CodePINFormat || r.TriesLeft != 3 || len(card.logins) != 0 {
			t.Fatalf("%s %q: %+v, logins %v", tc.part, tc.pin, r, card.logins)
		}
		s.send(`{"command":"cancel"}`)
		s.wantError(protocol.CodeUserCancelled)
	}
}

func TestPinpadTriesOnlyWhenAsked(t *testing.T) {
	card := newFakeCard(t)
	card.info.Pinpad = true
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	if r := s.pinRequest(); !r.Pinpad {
		t.Fatalf("pinRequest without pinpad: %+v", r)
	}
	if len(card.logins) != 0 {
		t.Fatal("pinpad verify started before the extension asked")
	}
	s.send(`{"command":"pin","arguments":{"pin":""}}`)
	s.recv() // the token
	if len(card.logins) != 1 || card.logins[0] != "" {
		t.Fatalf("logins = %q, want one pinpad login", card.logins)
	}
}

func TestMessagesDuringPINWait(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(authMsg)
	s.pinRequest()
	s.send(`{"command":"status"}`) // answered during the wait
	if m := s.recv(); m["tokens"] == nil {
		t.Fatalf("status during the PIN wait: %v", m)
	}
	s.send(authMsg)
	s.wantError(protocol.CodeBusy)
	s.send(`not json`)
	s.wantError(protocol.CodeMalformedMessage)
	s.send(`{"command":"pin","arguments":{"pin":12345678}}`)
	s.wantError(protocol.CodeInvalidArgument)
	s.send(`{"command":"pin","arguments":{"pin":"12345678","x":1}}`)
	s.wantError(protocol.CodeInvalidArgument)
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	if m := s.recv(); m["signature"] == nil {
		t.Fatalf("want the token, got %v", m)
	}
	if len(card.logins) != 1 {
		t.Fatalf("logins = %v", card.logins)
	}
}

func TestCommandErrors(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Minute)
	for _, tc := range []struct {
		msg  string
		code protocol.Code
	}{
		{`{"command":"pin","arguments":{"pin":"12345678"}}`, protocol.CodeUnexpectedPIN},
		{`{"command":"cancel"}`, protocol.CodeUnexpectedPIN},
		{`{"command":"format-disk"}`, protocol.CodeUnknownCommand},
		{`{"command":"status","extra":1}`, protocol.CodeMalformedMessage},
		{`[]`, protocol.CodeMalformedMessage},
		{`{}`, protocol.CodeMalformedMessage},
		{`{"command":"authenticate"}`, protocol.CodeInvalidArgument},
		{`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"http://www.inps.it"}}`, protocol.CodeInvalidArgument},
		{`{"command":"authenticate","arguments":{"challengeNonce":"c2hvcnQ=","origin":"` + origin + `"}}`, protocol.CodeInvalidArgument},
		{`{"command":"sign","arguments":{"certificate":"","hash":"","hashFunction":"MD5","origin":"` + origin + `"}}`, protocol.CodeInvalidArgument},
	} {
		s.send(tc.msg)
		s.wantError(tc.code)
	}
	if len(card.logins) != 0 || card.signed {
		t.Fatal("an invalid request reached the card")
	}
}

func TestNoCard(t *testing.T) {
	s := start(t, &fakeProvider{err: protocol.Errorf(protocol.CodeNoCard, "no card")}, time.Minute)
	s.send(authMsg)
	s.wantError(protocol.CodeNoCard)
}

func TestPINTimeoutAndCancel(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Millisecond)
	s.send(authMsg)
	s.pinRequest()
	s.wantError(protocol.CodeUserTimeout)
	if len(card.logins) != 0 {
		t.Fatal("login after timeout")
	}
}

func TestQuitAndCloseDuringPINWait(t *testing.T) {
	for _, end := range []string{"quit", "close"} {
		s := start(t, &fakeProvider{card: newFakeCard(t)}, time.Minute)
		s.send(authMsg)
		s.pinRequest()
		if end == "quit" {
			s.send(`{"command":"quit"}`)
		} else {
			close(s.in)
		}
		select {
		case err := <-s.done:
			if err != nil {
				t.Fatalf("%s: Serve = %v", end, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Serve did not end", end)
		}
	}
}

func TestSignAndSigningCertificate(t *testing.T) {
	card := newFakeCard(t)
	s := start(t, &fakeProvider{card: card}, time.Minute)
	s.send(`{"command":"get-signing-certificate","arguments":{"origin":"` + origin + `"}}`)
	var res protocol.SigningCertificateResult
	json.Unmarshal(mustJSON(t, s.recv()), &res)
	if res.Certificate != base64.StdEncoding.EncodeToString(card.cert.Raw) || len(res.SupportedSignatureAlgorithms) == 0 {
		t.Fatalf("get-signing-certificate = %+v", res)
	}
	digest := crypto.SHA384.New().Sum(nil)
	s.send(`{"command":"sign","arguments":{"certificate":"` + res.Certificate + `","hash":"` + base64.StdEncoding.EncodeToString(digest) + `","hashFunction":"SHA-384","origin":"` + origin + `"}}`)
	if r := s.pinRequest(); r.Purpose != "sign" {
		t.Fatalf("purpose = %q", r.Purpose)
	}
	s.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	var sr protocol.SignResult
	json.Unmarshal(mustJSON(t, s.recv()), &sr)
	sig, _ := base64.StdEncoding.DecodeString(sr.Signature)
	if err := rsa.VerifyPKCS1v15(&card.key.PublicKey, crypto.SHA384, digest, sig); err != nil || sr.SignatureAlgorithm.HashFunction != "SHA-384" {
		t.Fatalf("sign result %+v: %v", sr, err)
	}
	other := newFakeCard(t)
	s.send(`{"command":"sign","arguments":{"certificate":"` + base64.StdEncoding.EncodeToString(other.cert.Raw) + `","hash":"` + base64.StdEncoding.EncodeToString(digest) + `","hashFunction":"SHA-384","origin":"` + origin + `"}}`)
	s.wantError(protocol.CodeNoCertificate)
}
