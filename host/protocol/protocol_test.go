package protocol

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateOrigin(t *testing.T) {
	dev := Options{AllowLoopbackHTTP: true}
	for _, tc := range []struct {
		origin string
		o      Options
		ok     bool
	}{
		{"https://www.inps.it", Options{}, true},
		{"https://serviziweb2.inps.it:8443", Options{}, true},
		{"https://[::1]:8443", Options{}, true},
		{"http://localhost:8080", dev, true},
		{"http://127.0.0.1:8080", dev, true},
		{"http://[::1]", dev, true},
		{"http://localhost:8080", Options{}, false},
		{"http://www.inps.it", dev, false},
		{"https://www.inps.it/", Options{}, false},
		{"https://www.inps.it/path", Options{}, false},
		{"https://www.inps.it?x", Options{}, false},
		{"https://www.inps.it#x", Options{}, false},
		{"https://user@www.inps.it", Options{}, false},
		{"https://WWW.INPS.IT", Options{}, false},
		{"https://www.inps.it:", Options{}, false},
		{"https://www.inps.it:0443", Options{}, false},
		{"ftp://www.inps.it", Options{}, false},
		{"chrome-extension://abc", Options{}, false},
		{"www.inps.it", Options{}, false},
		{"", Options{}, false},
		{"https://" + strings.Repeat("a", 250) + ".it", Options{}, false},
	} {
		err := ValidateOrigin(tc.origin, tc.o)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateOrigin(%q, %+v) = %v, want ok=%v", tc.origin, tc.o, err, tc.ok)
		}
		var pe *Error
		if err != nil && (!errors.As(err, &pe) || pe.Code != CodeInvalidArgument) {
			t.Errorf("ValidateOrigin(%q) error %v has no invalid-argument code", tc.origin, err)
		}
	}
}

func TestValidateNonce(t *testing.T) {
	for _, tc := range []struct {
		nonce string
		ok    bool
	}{
		{strings.Repeat("A", 44), true},
		{strings.Repeat("A", 128), true},
		{strings.Repeat("A", 40), false},
		{strings.Repeat("A", 132), false},
		{strings.Repeat("A", 43) + "=", true},
		{strings.Repeat("A", 43) + "-", false}, // URL alphabet
		{strings.Repeat("A", 45), false},       // truncated base64
		{strings.Repeat("A", 42) + "B=", false},
	} {
		if err := ValidateNonce(tc.nonce); (err == nil) != tc.ok {
			t.Errorf("ValidateNonce(%q) = %v, want ok=%v", tc.nonce, err, tc.ok)
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
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := ParseRequest(msg)
		if err != nil {
			return
		}
		o := Options{AllowLoopbackHTTP: true}
		ParseAuthenticate(r.Arguments, o)
		ParseGetSigningCertificate(r.Arguments, o)
		ParseSign(r.Arguments, o)
		if p, err := ParsePIN(r.Arguments); err == nil && len(p) > MaxPINLength {
			t.Fatalf("PIN of %d bytes accepted", len(p))
		}
	})
}
