package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/webinput"
)

// TestInvalidArguments: a bad origin, nonce or hash, refused by the
// webinput rules, reaches the extension as invalid-argument.
func TestInvalidArguments(t *testing.T) {
	const nonce = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
	for _, c := range []struct {
		parse func(json.RawMessage, Options) error
		args  string
	}{
		{authenticate, `{"challengeNonce":"` + nonce + `","origin":"https://www.inps.it/"}`},
		{authenticate, `{"challengeNonce":"` + nonce + `","origin":"http://localhost:8080"}`},
		{authenticate, `{"challengeNonce":"` + nonce[:40] + `","origin":"https://www.inps.it"}`},
		{getSigningCertificate, `{"origin":"https://WWW.INPS.IT"}`},
		{sign, `{"certificate":"AAAA","hash":"AA\nAA","hashFunction":"SHA-256","origin":"https://www.inps.it"}`},
	} {
		err := c.parse(json.RawMessage(c.args), Options{})
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeInvalidArgument || pe.Message == "" {
			t.Errorf("%s: got %v, want %s with a message", c.args, err, CodeInvalidArgument)
		}
	}
	if err := authenticate(json.RawMessage(`{"challengeNonce":"`+nonce+`","origin":"http://localhost:8080"}`), Options{AllowLoopbackHTTP: true}); err != nil {
		t.Errorf("loopback origin in developer mode: %v", err)
	}
}

func authenticate(raw json.RawMessage, o Options) error {
	_, err := ParseAuthenticate(raw, o)
	return err
}

func getSigningCertificate(raw json.RawMessage, o Options) error {
	_, err := ParseGetSigningCertificate(raw, o)
	return err
}

func sign(raw json.RawMessage, o Options) error {
	_, err := ParseSign(raw, o)
	return err
}

// "unlock" takes no origin (a command-line tool) or a canonical one, and
// refuses what the other commands refuse.
func TestParseUnlock(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{}`: true,
		`{"origin":"https://idp.example","waitForCard":60000,"lang":"it"}`: true,
		`{"card":"cns"}`:                             true,
		`{"card":"CNS di ANNA BIANCHI"}`:             true,
		`{"card":"cie\n"}`:                           false,
		`{"card":"` + strings.Repeat("x", 65) + `"}`: false,
		`{"card":7}`:                                 false,
		`{"origin":"https://IDP.example"}`:           false,
		`{"origin":"http://idp.example"}`:            false,
		`{"waitForCard":-1}`:                         false,
		`{"waitForCard":600001}`:                     false,
		`{"pin":"12345678"}`:                         false,
		`{"origin":"https://a.example","Origin":"https://b.example"}`: false,
		``: false,
	} {
		a, err := ParseUnlock(json.RawMessage(raw), Options{})
		if (err == nil) != ok {
			t.Errorf("ParseUnlock(%s) = %+v, %v", raw, a, err)
		}
	}
}

func TestParseTLSPIN(t *testing.T) {
	a, err := ParseTLSPIN(json.RawMessage(`{"id":7,"pin":"12345678"}`))
	if err != nil || a.ID != 7 || string(a.PIN) != "12345678" || a.Cancel {
		t.Fatalf("ParseTLSPIN = %+v, %v", a, err)
	}
	if a, err := ParseTLSPIN(json.RawMessage(`{"id":7,"cancel":true}`)); err != nil || !a.Cancel || a.PIN != nil {
		t.Fatalf("cancel: %+v, %v", a, err)
	}
	for _, raw := range []string{`{"pin":"12345678"}`, `{"id":7}`, `{"id":7,"pin":"1","cancel":true}`, `{"id":7,"cancel":false}`,
		`{"id":7,"pin":"1","x":1}`, `{"id":7,"PIN":"1"}`, `{"id":7,"pin":"1","pin":"2"}`, `{"id":-1,"pin":"1"}`, `{"id":7,"pin":1}`, `[]`, ``} {
		if a, err := ParseTLSPIN(json.RawMessage(raw)); err == nil {
			t.Errorf("ParseTLSPIN(%s) = %+v", raw, a)
		}
	}
}

func TestParsePIN(t *testing.T) {
	pin, err := ParsePIN(json.RawMessage(`{"pin":"12345678"}`))
	if err != nil || string(pin) != "12345678" {
		t.Fatalf("ParsePIN = %q, %v", pin, err)
	}
	pin.Zero()
	if string(pin) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatal("Zero did not clear the PIN")
	}
	for _, bad := range []string{`{"pin":1234}`, `{"pin":"12\u00e8"}`, `{"pin":"a\\"b"}`, `{}`, `{"pin":"1","x":"2"}`, `[]`, `{"pin":"` + strings.Repeat("1", 65) + `"}`} {
		if _, err := ParsePIN(json.RawMessage(bad)); err == nil {
			t.Errorf("ParsePIN(%s) accepted", bad)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`{"command":"authenticate","arguments":{"challengeNonce":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=","origin":"https://a.it"}}`))
	f.Add([]byte(`{"command":"sign","arguments":{"certificate":"MIIB","hash":"AAAA","hashFunction":"SHA-256","origin":"https://a.it"}}`))
	f.Add([]byte(`{"command":"pin","arguments":{"pin":"1234"}}`))
	f.Add([]byte(`{"command":null}`))
	const nonce = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
	for _, args := range []string{
		`"challengeNonce":"` + nonce + `","origin":"https://a.it:65536"`,
		`"challengeNonce":"` + nonce + `","origin":"https://a.it:443"`,
		`"challengeNonce":"` + nonce + `","origin":"https://a.it:0"`,
		`"challengeNonce":"` + nonce + `","origin":"https://a.it","origin":"https://b.it"`,
		`"challengeNonce":"` + nonce + `","Origin":"https://a.it"`,
		`"challengeNonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==","origin":"https://a.it"`,
	} {
		f.Add([]byte(`{"command":"authenticate","arguments":{` + args + `}}`))
	}
	f.Add([]byte(`{"command":"pin","arguments":{"pin":"1234","pin":"5678"}}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := ParseRequest(msg)
		if err != nil {
			return
		}
		o := Options{AllowLoopbackHTTP: true}
		if a, err := ParseAuthenticate(r.Arguments, o); err == nil {
			if c, err := webinput.CanonicalOrigin(a.Origin); err != nil || c != a.Origin {
				t.Fatalf("accepted the non-canonical origin %q", a.Origin)
			}
			if b, err := webinput.DecodeBase64([]byte(a.ChallengeNonce)); err != nil || len(b) < webinput.MinNonceBytes {
				t.Fatalf("accepted the nonce %q", a.ChallengeNonce)
			}
		}
		ParseGetSigningCertificate(r.Arguments, o)
		ParseSign(r.Arguments, o)
		if a, err := ParseTLSPIN(r.Arguments); err == nil && len(a.PIN) > MaxPINLength {
			t.Fatalf("tls-pin accepted %+v", a)
		}
		if a, err := ParseUnlock(r.Arguments, o); err == nil && a.Origin != "" {
			if c, err := webinput.CanonicalOrigin(a.Origin); err != nil || c != a.Origin {
				t.Fatalf("unlock accepted the non-canonical origin %q", a.Origin)
			}
		}
		if p, err := ParsePIN(r.Arguments); err == nil && len(p) > MaxPINLength {
			t.Fatalf("PIN of %d bytes accepted", len(p))
		}
	})
}

// TestAmbiguousMessages: messages encoding/json alone would read one way
// and another parser another way are refused.
func TestAmbiguousMessages(t *testing.T) {
	const nonce = "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
	auth := func(args string) string { return `{"command":"authenticate","arguments":{` + args + `}}` }
	o := Options{}
	for _, msg := range []string{
		`{"command":"status","command":"authenticate"}`,
		`{"command":"quit","arguments":{},"arguments":{}}`,
		`{"command":"status","\u0063ommand":"quit"}`,
		auth(`"challengeNonce":"` + nonce + `","origin":"https://evil.example","origin":"https://www.inps.it"`),
		auth(`"challengeNonce":"` + nonce + `","Origin":"https://www.inps.it"`),
		auth(`"challengeNonce":"` + nonce + `","ORIGIN":"https://www.inps.it"`),
		auth(`"challengeNonce":"` + nonce + `","origin":"https://www.inps.it","LANG":"it"`),
		auth(`"challengeNonce":"` + nonce + `","origin":"https://www.inps.it","lang":"it","Lang":"en"`),
		auth(`"challengeNonce":"` + nonce + `","origin":"https://www.inps.\u0069t","origin":"https://www.inps.it"`),
		`{"command":"pin","arguments":{"pin":"11111111","pin":"12345678"}}`,
		`{"command":"pin","arguments":{"pin":"12345678","p\u0069n":"1"}}`,
		`{"command":"status","arguments":{"x":[{"a":1,"a":2}]}}`,
	} {
		r, err := ParseRequest([]byte(msg))
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != CodeMalformedMessage {
				t.Errorf("ParseRequest(%s) = %v, want %s", msg, err, CodeMalformedMessage)
			}
			continue
		}
		if _, err := ParseAuthenticate(r.Arguments, o); err == nil && r.Command == CmdAuthenticate {
			t.Errorf("%s accepted", msg)
		}
		if r.Command != CmdAuthenticate {
			t.Errorf("%s parsed as %q", msg, r.Command)
		}
	}
	// The same arguments once each, in the right case, pass.
	r, err := ParseRequest([]byte(auth(`"challengeNonce":"` + nonce + `","origin":"https://www.inps.it","lang":"it"`)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseAuthenticate(r.Arguments, o); err != nil {
		t.Fatal(err)
	}
}

func TestParseNoArguments(t *testing.T) {
	for _, ok := range []string{``, `null`, `{}`, ` { } `} {
		if err := ParseNoArguments(json.RawMessage(ok)); err != nil {
			t.Errorf("ParseNoArguments(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{`"x"`, `1`, `[]`, `{"x":1}`, `true`} {
		if err := ParseNoArguments(json.RawMessage(bad)); err == nil {
			t.Errorf("ParseNoArguments(%q) accepted", bad)
		}
	}
}
