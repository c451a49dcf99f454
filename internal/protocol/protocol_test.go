package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
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
		{"https://www.inps.it:65536", Options{}, false},
		{"https://www.inps.it:99999", Options{}, false},
		{"https://www.inps.it:0", Options{}, false},
		{"https://www.inps.it:443", Options{}, false}, // the browser's origin is https://www.inps.it
		{"http://localhost:80", dev, false},
		{"https://www.inps.it:+443", Options{}, false},
		{"https://1.2.3", Options{}, false},
		{"javascript:alert(1)", Options{}, false},
		{"null", Options{}, false},
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

// TestCanonicalOrigin runs the vectors the extension's origin.js is
// tested against too (extension/test/origin.test.mjs), so the two agree.
func TestCanonicalOrigin(t *testing.T) {
	data, err := os.ReadFile("testdata/origins.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Origin    string
		Canonical *string
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		got, err := CanonicalOrigin(v.Origin)
		switch {
		case v.Canonical == nil && err == nil:
			t.Errorf("CanonicalOrigin(%q) = %q, want an error", v.Origin, got)
		case v.Canonical != nil && (err != nil || got != *v.Canonical):
			t.Errorf("CanonicalOrigin(%q) = %q, %v; want %q", v.Origin, got, err, *v.Canonical)
		case v.Canonical != nil:
			ok := got == v.Origin && (strings.HasPrefix(got, "https://") || isLoopback(strings.TrimPrefix(got, "http://")))
			if verr := ValidateOrigin(v.Origin, Options{AllowLoopbackHTTP: true}); (verr == nil) != ok {
				t.Errorf("ValidateOrigin(%q) = %v, want ok=%v (canonical %q)", v.Origin, verr, ok, got)
			}
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
		{strings.Repeat("A", 42) + "==", false},                                 // 31 bytes
		{strings.Repeat("A", 20) + "\n" + strings.Repeat("A", 23) + "=", false}, // the decoder alone skips line breaks
		{strings.Repeat("A", 20) + "\r\n" + strings.Repeat("A", 24), false},
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
			if c, err := CanonicalOrigin(a.Origin); err != nil || c != a.Origin {
				t.Fatalf("accepted the non-canonical origin %q", a.Origin)
			}
			if b, err := DecodeBase64(a.ChallengeNonce); err != nil || len(b) < MinNonceBytes {
				t.Fatalf("accepted the nonce %q", a.ChallengeNonce)
			}
		}
		ParseGetSigningCertificate(r.Arguments, o)
		ParseSign(r.Arguments, o)
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

func TestCheckJSONKeys(t *testing.T) {
	for _, tc := range []struct {
		json string
		ok   bool
	}{
		{`{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}`, true},
		{`{"format":"x","Formats":"y"}`, true},
		{`{"s":"{\"a\":1,\"a\":2}"}`, true}, // a string, not an object
		{`{"a":"x\"","b":"}"}`, true},
		{`[1,"a",{"b":2}]`, true},
		{`{"a":1,"a":1}`, false},
		{`{"a":{"b":[{"c":1,"c":2}]}}`, false},
		{`{"\u0061":1,"a":2}`, false},
		{`{"format":"x","Format":"x"}`, false},
		{`{"FORMAT":"x"}`, false},
		{`{"ſignature":"x"}`, false},   // U+017F folds to s
		{`{"x":{"FORMAT":"x"}}`, true}, // only the top level is a struct
		{`{"\ud800":1,"\ufffd":2}`, false},
	} {
		if err := CheckJSONKeys([]byte(tc.json), &struct {
			Format    string `json:"format"`
			Signature string `json:"signature"`
		}{}); (err == nil) != tc.ok {
			t.Errorf("CheckJSONKeys(%s) = %v, want ok=%v", tc.json, err, tc.ok)
		}
	}
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = `"k` + strings.Repeat("x", i) + `":1`
	}
	if err := CheckJSONKeys([]byte("{"+strings.Join(keys, ",")+"}"), nil); err != nil {
		t.Errorf("100 distinct keys: %v", err)
	}
	if err := CheckJSONKeys([]byte("{"+strings.Join(keys, ",")+`,"k":2}`), nil); err == nil {
		t.Error("a duplicate after 100 keys passed")
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

// FuzzCheckJSONKeys checks the hand-written scanner against a reference
// walk of encoding/json's tokens: for any valid JSON both find a duplicate
// key, or neither does.
func FuzzCheckJSONKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[{"c":1},{"c":1}]}}`, `{"\u0061":1,"a":2}`, `{"a":"}\"{","b":[1,"a",{}]}`,
		`[{"x":1,"y":{"x":1}}]`, "{\"\xff\":1,\"\xfe\":2}", `{"a\\":1,"a\\\\":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			CheckJSONKeys(data, nil) // must not panic
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		want := hasDuplicateKey(dec)
		if got := CheckJSONKeys(data, nil) != nil; got != want {
			t.Fatalf("CheckJSONKeys(%q) found a duplicate: %v; encoding/json's tokens: %v", data, got, want)
		}
	})
}

func hasDuplicateKey(dec *json.Decoder) bool {
	tok, _ := dec.Token()
	dup := false
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, _ := dec.Token()
			key, _ := k.(string)
			dup = dup || seen[key]
			seen[key] = true
			dup = hasDuplicateKey(dec) || dup
		}
		dec.Token()
	case json.Delim('['):
		for dec.More() {
			dup = hasDuplicateKey(dec) || dup
		}
		dec.Token()
	}
	return dup
}
