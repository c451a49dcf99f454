package webinput

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestValidateOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin string
		dev    bool
		ok     bool
	}{
		{"https://www.inps.it", false, true},
		{"https://serviziweb2.inps.it:8443", false, true},
		{"https://[::1]:8443", false, true},
		{"http://localhost:8080", true, true},
		{"http://127.0.0.1:8080", true, true},
		{"http://[::1]", true, true},
		{"http://localhost:8080", false, false},
		{"http://www.inps.it", true, false},
		{"https://www.inps.it/", false, false},
		{"https://www.inps.it/path", false, false},
		{"https://www.inps.it?x", false, false},
		{"https://www.inps.it#x", false, false},
		{"https://user@www.inps.it", false, false},
		{"https://WWW.INPS.IT", false, false},
		{"https://www.inps.it:", false, false},
		{"https://www.inps.it:0443", false, false},
		{"ftp://www.inps.it", false, false},
		{"chrome-extension://abc", false, false},
		{"www.inps.it", false, false},
		{"", false, false},
		{"https://" + strings.Repeat("a", 250) + ".it", false, false},
		{"https://www.inps.it:65536", false, false},
		{"https://www.inps.it:99999", false, false},
		{"https://www.inps.it:0", false, false},
		{"https://www.inps.it:443", false, false}, // the browser's origin is https://www.inps.it
		{"http://localhost:80", true, false},
		{"https://www.inps.it:+443", false, false},
		{"https://1.2.3", false, false},
		{"javascript:alert(1)", false, false},
		{"null", false, false},
	} {
		if err := ValidateOrigin(tc.origin, tc.dev); (err == nil) != tc.ok {
			t.Errorf("ValidateOrigin(%q, %v) = %v, want ok=%v", tc.origin, tc.dev, err, tc.ok)
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
			if verr := ValidateOrigin(v.Origin, true); (verr == nil) != ok {
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

// FuzzCheckJSONKeys checks the hand-written scanner against a reference
// walk of encoding/json's tokens: for any valid JSON both find a duplicate
// key, or neither does.
func FuzzCheckJSONKeys(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":[{"c":1},{"c":1}]}}`, `{"\u0061":1,"a":2}`, `{"a":"}\"{","b":[1,"a",{}]}`,
		`[{"x":1,"y":{"x":1}}]`, "{\"\xff\":1,\"\xfe\":2}", `{"a\\":1,"a\\\\":2}`, `{"a":1e999,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			CheckJSONKeys(data, nil) // must not panic
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber() // 1e999 is valid JSON but no float64
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
			k, err := dec.Token()
			if err != nil {
				return dup // a decoder error repeats forever
			}
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
