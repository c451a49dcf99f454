package relyingparty

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/webinput"
)

func TestVerifyAccepts(t *testing.T) {
	p := getPKI()
	v := p.verifier(t, nil)
	nonce := randomNonce()
	for _, c := range []struct {
		name  string
		token []byte
		want  Identity
	}{
		{"CIE RSA-2048", createToken(t, p.cie, p.rsaKey, testOrigin, nonce),
			Identity{GivenName: "MARIO", Surname: "ROSSI", CodiceFiscale: "RSSMRA80A01H501U", CardKind: "cie"}},
		{"CNS P-384", createToken(t, p.cns, p.ecKey, testOrigin, nonce),
			Identity{GivenName: "ANTONIO", Surname: "MASARI", CodiceFiscale: "MSRNTN77H15C351X", CardKind: "cns"}},
		{"RS384", encode(t, tokenFields(t, p.cie, p.rsaKey, "RS384", testOrigin, nonce)), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
		{"RS512", encode(t, tokenFields(t, p.cie, p.rsaKey, "RS512", testOrigin, nonce)), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
		{"PS256", encode(t, tokenFields(t, p.cie, p.rsaKey, "PS256", testOrigin, nonce)), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
		{"PS512", encode(t, tokenFields(t, p.cie, p.rsaKey, "PS512", testOrigin, nonce)), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
		{"ES256 on P-256", encode(t, tokenFields(t, p.leaf(t, p.ecKey2.Public(), nil), p.ecKey2, "ES256", testOrigin, nonce)), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
		{"unknown fields ignored", func() []byte {
			f := tokenFields(t, p.cie, p.rsaKey, "RS256", testOrigin, nonce)
			f["supportedSignatureAlgorithms"] = []string{"x"}
			return encode(t, f)
		}(), Identity{CodiceFiscale: "RSSMRA80A01H501U"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), c.token, testOrigin, nonce)
			if err != nil {
				t.Fatal(err)
			}
			if id.CodiceFiscale != c.want.CodiceFiscale || c.want.Surname != "" &&
				(id.GivenName != c.want.GivenName || id.Surname != c.want.Surname || id.CardKind != c.want.CardKind) {
				t.Errorf("identity = %+v, want %+v", *id, c.want)
			}
			if id.Certificate == nil {
				t.Error("identity has no certificate")
			}
		})
	}
}

// TestIndependentMessage builds the signed message by hand, as any other
// implementation of "signature over SHA-256(origin) || SHA-256(nonce)"
// would, and checks the verifier accepts it.
func TestIndependentMessage(t *testing.T) {
	p := getPKI()
	nonce := randomNonce()
	ho, hn := sha256.Sum256([]byte(testOrigin)), sha256.Sum256([]byte(nonce))
	digest := sha256.Sum256(append(ho[:], hn[:]...))
	sig, err := rsa.SignPKCS1v15(nil, p.rsaKey, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	token := fmt.Sprintf(`{"unverifiedCertificate":%q,"algorithm":"RS256","signature":%q,"format":"web-eid:1.0"}`,
		base64.StdEncoding.EncodeToString(p.cie.Raw), base64.StdEncoding.EncodeToString(sig))
	if _, err := p.verifier(t, nil).Verify(context.Background(), []byte(token), testOrigin, nonce); err != nil {
		t.Fatal(err)
	}
	// And the token eidlink makes carries exactly such a signature.
	if !bytes.Equal(Algorithm("RS256").Digest(testOrigin, nonce), digest[:]) {
		t.Error("Digest differs from SHA-256(SHA-256(origin) || SHA-256(nonce))")
	}
}

type request struct {
	token         []byte
	origin, nonce string
}

// TestNegativeVectors runs bad tokens through VerifyChallenge, the path a
// site uses, and checks each fails for its own reason.
func TestNegativeVectors(t *testing.T) {
	p := getPKI()
	v := p.verifier(t, nil)
	ctx := context.Background()
	// signed makes a request for cert/key/alg with a nonce from s, after edit.
	signed := func(t *testing.T, s NonceStore, cert *x509.Certificate, key crypto.Signer, alg string, edit func(map[string]any)) request {
		nonce, err := s.Issue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f := tokenFields(t, cert, key, alg, testOrigin, nonce)
		if edit != nil {
			edit(f)
		}
		return request{encode(t, f), testOrigin, nonce}
	}
	good := func(edit func(map[string]any)) func(*testing.T, *MemoryNonceStore) request {
		return func(t *testing.T, s *MemoryNonceStore) request { return signed(t, s, p.cie, p.rsaKey, "RS256", edit) }
	}
	withCert := func(edit func(*x509.Certificate)) func(*testing.T, *MemoryNonceStore) request {
		return func(t *testing.T, s *MemoryNonceStore) request {
			return signed(t, s, p.leaf(t, p.rsaKey.Public(), edit), p.rsaKey, "RS256", nil)
		}
	}
	raw := func(token string) func(*testing.T, *MemoryNonceStore) request {
		return func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.token = []byte(token)
			return r
		}
	}
	set := func(field string, value any) func(*testing.T, *MemoryNonceStore) request {
		return good(func(f map[string]any) { f[field] = value })
	}
	edit := func(field string, change func(string) string) func(*testing.T, *MemoryNonceStore) request {
		return good(func(f map[string]any) { f[field] = change(f[field].(string)) })
	}
	// text edits the JSON text of a good token: another parser must not
	// read the token differently.
	text := func(change func(token string) string) func(*testing.T, *MemoryNonceStore) request {
		return func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.token = []byte(change(string(r.token)))
			return r
		}
	}
	origin := func(o string) func(*testing.T, *MemoryNonceStore) request {
		return func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.origin = o
			return r
		}
	}

	for _, c := range []struct {
		name  string
		want  Reason
		build func(*testing.T, *MemoryNonceStore) request
	}{
		{"replay of an accepted token", ReasonNonceReplayed, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			if _, err := v.VerifyChallenge(ctx, s, r.token, r.origin, r.nonce); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return r
		}},
		{"nonce never issued", ReasonNonceUnknown, func(t *testing.T, s *MemoryNonceStore) request {
			n := randomNonce()
			return request{encode(t, tokenFields(t, p.cie, p.rsaKey, "RS256", testOrigin, n)), testOrigin, n}
		}},
		{"nonce expired", ReasonNonceExpired, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			s.now = func() time.Time { return testNow.Add(DefaultNonceTTL) }
			return r
		}},
		{"wrong origin", ReasonSignature, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.origin = "https://servizi.example.it.evil.example"
			return r
		}},
		{"wrong port", ReasonSignature, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.origin = testOrigin + ":8443"
			return r
		}},
		{"another issued nonce", ReasonSignature, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.nonce, _ = s.Issue(ctx)
			return r
		}},
		{"origin not https", ReasonOriginInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.origin = "http://servizi.example.it"
			return r
		}},
		{"origin with path", ReasonOriginInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.origin = testOrigin + "/login"
			return r
		}},
		{"origin with the default port", ReasonOriginInvalid, origin(testOrigin + ":443")},
		{"origin port 65536", ReasonOriginInvalid, origin(testOrigin + ":65536")},
		{"origin port 99999", ReasonOriginInvalid, origin(testOrigin + ":99999")},
		{"origin port 0", ReasonOriginInvalid, origin(testOrigin + ":0")},
		{"origin port with a sign", ReasonOriginInvalid, origin(testOrigin + ":+8443")},
		{"origin in upper case", ReasonOriginInvalid, origin(strings.ToUpper(testOrigin))},
		{"origin with user info", ReasonOriginInvalid, origin(strings.Replace(testOrigin, "://", "://user@", 1))},
		{"origin javascript:", ReasonOriginInvalid, origin("javascript:alert(1)")},
		{"origin null", ReasonOriginInvalid, origin("null")},
		{"nonce of 31 bytes", ReasonNonceInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.nonce = base64.StdEncoding.EncodeToString(make([]byte, 31)) // 44 characters
			return r
		}},
		{"nonce with a line break", ReasonNonceInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.nonce = r.nonce[:20] + "\n" + r.nonce[20:]
			return r
		}},
		{"duplicate signature, the last one good", ReasonTokenFormat, text(func(tok string) string { return `{"signature":"AAAA",` + tok[1:] })},
		{"duplicate format, the last one good", ReasonTokenFormat, text(func(tok string) string { return `{"format":"web-eid:0.9",` + tok[1:] })},
		{"duplicate format, escaped", ReasonTokenFormat, text(func(tok string) string { return `{"\u0066ormat":"web-eid:0.9",` + tok[1:] })},
		{"SIGNATURE after signature", ReasonTokenFormat, text(func(tok string) string {
			return `{"signature":"AAAA",` + strings.Replace(tok[1:], `"signature"`, `"SIGNATURE"`, 1)
		})},
		{"Format", ReasonTokenFormat, text(func(tok string) string { return strings.Replace(tok, `"format"`, `"Format"`, 1) })},
		{"unverifiedcertificate", ReasonTokenFormat, text(func(tok string) string {
			return strings.Replace(tok, `"unverifiedCertificate"`, `"unverifiedcertificate"`, 1)
		})},
		{"signature with a long s (U+017F)", ReasonTokenFormat, text(func(tok string) string { return strings.Replace(tok, `"signature"`, `"ſignature"`, 1) })},
		{"duplicate key inside an unknown field", ReasonTokenFormat, text(func(tok string) string { return `{"x":{"a":1,"a":2},` + tok[1:] })},
		{"short nonce", ReasonNonceInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.nonce = base64.StdEncoding.EncodeToString(make([]byte, 30)) // 40 characters; 44 needed
			return r
		}},
		{"nonce not base64", ReasonNonceInvalid, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.nonce = strings.Repeat("!", 44)
			return r
		}},
		{"certificate expired", ReasonCertExpired, withCert(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = testNow.AddDate(-5, 0, 0), testNow.Add(-time.Second)
		})},
		{"certificate not yet valid", ReasonCertNotYetValid, withCert(func(c *x509.Certificate) { c.NotBefore = testNow.Add(time.Minute) })},
		{"unknown CA", ReasonUntrusted, func(t *testing.T, s *MemoryNonceStore) request {
			c, err := issue(cieTemplate(), p.rsaKey.Public(), p.unknownCA, p.unknownCAKey)
			if err != nil {
				t.Fatal(err)
			}
			return signed(t, s, c, p.rsaKey, "RS256", nil)
		}},
		{"self-signed card certificate", ReasonUntrusted, func(t *testing.T, s *MemoryNonceStore) request {
			c, err := issue(cieTemplate(), p.rsaKey.Public(), nil, p.rsaKey)
			if err != nil {
				t.Fatal(err)
			}
			return signed(t, s, c, p.rsaKey, "RS256", nil)
		}},
		{"tampered signature", ReasonSignature, edit("signature", func(sig string) string {
			b, _ := base64.StdEncoding.DecodeString(sig)
			b[len(b)/2] ^= 1
			return base64.StdEncoding.EncodeToString(b)
		})},
		{"certificate of another key", ReasonSignature, func(t *testing.T, s *MemoryNonceStore) request {
			return signed(t, s, p.leaf(t, p.ecKey2.Public(), nil), p.ecKey, "ES256", nil)
		}},
		{"PKCS#1 v1.5 signature labelled PS256", ReasonSignature, set("algorithm", "PS256")},
		{"truncated EC signature", ReasonSignature, func(t *testing.T, s *MemoryNonceStore) request {
			return signed(t, s, p.cns, p.ecKey, "ES384", func(f map[string]any) {
				b, _ := base64.StdEncoding.DecodeString(f["signature"].(string))
				f["signature"] = base64.StdEncoding.EncodeToString(b[:len(b)-1])
			})
		}},
		{"key usage nonRepudiation only", ReasonKeyUsage, withCert(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageContentCommitment })},
		{"no key usage", ReasonKeyUsage, withCert(func(c *x509.Certificate) { c.KeyUsage = 0 })},
		{"extended key usage without clientAuth", ReasonKeyUsage, withCert(func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
		})},
		{"CA certificate", ReasonKeyUsage, withCert(func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = true, true })},
		{"no accepted policy", ReasonPolicy, withCert(func(c *x509.Certificate) { c.Policies = []x509.OID{mustOID(1, 3, 76, 47, 5)} })},
		{"no codice fiscale", ReasonIdentity, withCert(func(c *x509.Certificate) { c.Subject.SerialNumber = "" })},
		{"codice fiscale with wrong check character", ReasonIdentity, withCert(func(c *x509.Certificate) {
			c.Subject.SerialNumber = "TINIT-RSSMRA80A01H501A"
		})},
		{"wrong format", ReasonTokenFormat, set("format", "web-eid:0.9")},
		{"format web-eid:1", ReasonTokenFormat, set("format", "web-eid:1")},
		{"no format", ReasonTokenFormat, good(func(f map[string]any) { delete(f, "format") })},
		{"no signature", ReasonTokenFormat, good(func(f map[string]any) { delete(f, "signature") })},
		{"no certificate", ReasonTokenFormat, set("unverifiedCertificate", nil)},
		{"algorithm not a string", ReasonTokenFormat, set("algorithm", 256)},
		{"truncated base64 signature", ReasonTokenFormat, edit("signature", func(s string) string { return s[:len(s)-3] })},
		{"truncated base64 certificate", ReasonTokenFormat, edit("unverifiedCertificate", func(s string) string { return s[:len(s)/2+1] })},
		{"base64 without padding", ReasonTokenFormat, edit("signature", func(s string) string { return strings.TrimRight(s[:len(s)-4], "=") + "AA" })},
		{"URL-safe base64", ReasonTokenFormat, edit("signature", func(s string) string { return strings.NewReplacer("+", "-", "/", "_").Replace(s) + "-_==" })},
		{"line break in base64", ReasonTokenFormat, edit("unverifiedCertificate", func(s string) string { return s[:64] + "\n" + s[64:] })},
		{"certificate not DER", ReasonCertMalformed, set("unverifiedCertificate", base64.StdEncoding.EncodeToString([]byte("not a certificate")))},
		{"unknown algorithm", ReasonAlgorithm, set("algorithm", "HS256")},
		{"algorithm none", ReasonAlgorithm, set("algorithm", "none")},
		{"ES384 on an RSA key", ReasonAlgorithm, set("algorithm", "ES384")},
		{"RS256 on an EC key", ReasonAlgorithm, func(t *testing.T, s *MemoryNonceStore) request {
			return signed(t, s, p.cns, p.ecKey, "ES384", func(f map[string]any) { f["algorithm"] = "RS256" })
		}},
		{"ES256 on a P-384 key", ReasonAlgorithm, func(t *testing.T, s *MemoryNonceStore) request {
			return signed(t, s, p.cns, p.ecKey, "ES256", nil)
		}},
		{"not JSON", ReasonTokenFormat, raw("unverifiedCertificate=...")},
		{"JSON array", ReasonTokenFormat, raw(`["web-eid:1.0"]`)},
		{"JSON null", ReasonTokenFormat, raw(`null`)},
		{"trailing data", ReasonTokenFormat, func(t *testing.T, s *MemoryNonceStore) request {
			r := good(nil)(t, s)
			r.token = append(r.token, '}')
			return r
		}},
		{"oversized token", ReasonTokenFormat, set("appVersion", strings.Repeat("x", MaxTokenSize))},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewMemoryNonceStore(0)
			s.now = func() time.Time { return testNow }
			r := c.build(t, s)
			id, err := v.VerifyChallenge(ctx, s, r.token, r.origin, r.nonce)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got identity %v, error %v; want a *Error with reason %s", id, err, c.want)
			}
			if id != nil || e.Reason != c.want || e.Err == nil {
				t.Fatalf("got %v (identity %v), want reason %s", err, id, c.want)
			}
			t.Log(err)
		})
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without Roots succeeded")
	}
}

func TestLoopbackOrigin(t *testing.T) {
	p := getPKI()
	const origin = "http://localhost:8080"
	nonce := randomNonce()
	token := createToken(t, p.cie, p.rsaKey, origin, nonce)
	if _, err := p.verifier(t, nil).Verify(context.Background(), token, origin, nonce); ReasonOf(err) != ReasonOriginInvalid {
		t.Errorf("loopback http without AllowLoopbackHTTP: got %v, want %s", err, ReasonOriginInvalid)
	}
	v := p.verifier(t, func(c *Config) { c.AllowLoopbackHTTP = true })
	if _, err := v.Verify(context.Background(), token, origin, nonce); err != nil {
		t.Errorf("loopback http with AllowLoopbackHTTP: %v", err)
	}
}

func TestCustomPolicy(t *testing.T) {
	p := getPKI()
	custom := mustOID(1, 2, 3, 4)
	cert := p.leaf(t, p.rsaKey.Public(), func(c *x509.Certificate) { c.Policies = []x509.OID{custom} })
	nonce := randomNonce()
	token := createToken(t, cert, p.rsaKey, testOrigin, nonce)
	id, err := p.verifier(t, func(c *Config) { c.Policies = []x509.OID{custom} }).Verify(context.Background(), token, testOrigin, nonce)
	if err != nil || id.CardKind != "" {
		t.Fatalf("custom policy: identity %v, error %v; want success with no card kind", id, err)
	}
	// The CIE default is off once policies are configured.
	token = createToken(t, p.cie, p.rsaKey, testOrigin, nonce)
	if _, err := p.verifier(t, func(c *Config) { c.Policies = []x509.OID{custom} }).Verify(context.Background(), token, testOrigin, nonce); ReasonOf(err) != ReasonPolicy {
		t.Errorf("CIE certificate with only a custom policy accepted: %v", err)
	}
}

func TestIntermediates(t *testing.T) {
	p := getPKI()
	tmpl := caTemplate("Test Sub CA")
	sub, err := issue(tmpl, p.ecKey2.Public(), p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := issue(cieTemplate(), p.rsaKey.Public(), sub, p.ecKey2)
	if err != nil {
		t.Fatal(err)
	}
	nonce := randomNonce()
	token := createToken(t, cert, p.rsaKey, testOrigin, nonce)
	if _, err := p.verifier(t, nil).Verify(context.Background(), token, testOrigin, nonce); ReasonOf(err) != ReasonUntrusted {
		t.Errorf("without the intermediate: got %v, want %s", err, ReasonUntrusted)
	}
	pool := x509.NewCertPool()
	pool.AddCert(sub)
	v := p.verifier(t, func(c *Config) { c.Intermediates = pool })
	if _, err := v.Verify(context.Background(), token, testOrigin, nonce); err != nil {
		t.Errorf("with the intermediate: %v", err)
	}
}

func TestLoadCertPool(t *testing.T) {
	p := getPKI()
	dir := t.TempDir()
	pemFile, derFile, bad := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.der"), filepath.Join(dir, "bad.pem")
	both := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.unknownCA.Raw}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})...)
	for name, data := range map[string][]byte{pemFile: both, derFile: p.ca.Raw, bad: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	nonce := randomNonce()
	token := createToken(t, p.cie, p.rsaKey, testOrigin, nonce)
	for _, f := range []string{pemFile, derFile} {
		roots, err := LoadCertPool(f)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := New(Config{Roots: roots, Now: func() time.Time { return testNow }})
		if _, err := v.Verify(context.Background(), token, testOrigin, nonce); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
	for _, f := range [][]string{nil, {bad}, {filepath.Join(dir, "missing.pem")}} {
		if _, err := LoadCertPool(f...); err == nil {
			t.Errorf("LoadCertPool(%v) succeeded", f)
		}
	}
}

func FuzzParseToken(f *testing.F) {
	p := getPKI()
	nonce := randomNonce()
	f.Add(createToken(f, p.cie, p.rsaKey, testOrigin, nonce))
	f.Add(createToken(f, p.cns, p.ecKey, testOrigin, nonce))
	f.Add([]byte(`{"format":"web-eid:1.0","algorithm":"RS256","unverifiedCertificate":"AAAA","signature":"AA=="}`))
	f.Add([]byte(`{"format":"web-eid:1.0","algorithm":"ES384","unverifiedCertificate":"MIIB","signature":""}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))
	good := string(createToken(f, p.cie, p.rsaKey, testOrigin, nonce))
	f.Add([]byte(`{"signature":"AAAA",` + good[1:]))
	f.Add([]byte(strings.Replace(good, `"format"`, `"Format"`, 1)))
	f.Add([]byte(strings.Replace(good, `"signature"`, `"SIGNATURE"`, 1)))
	f.Add([]byte(`{"\u0066ormat":"web-eid:0.9",` + good[1:]))
	f.Add([]byte(`{"x":[{"a":1,"a":2}],` + good[1:]))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFlatFields(t, data)
		tok, err := parseToken(data)
		if err != nil {
			if tok != nil || ReasonOf(err) == "" {
				t.Fatalf("token %v with error %v (no reason)", tok, err)
			}
			return
		}
		if tok.cert == nil || tok.alg.Hash() == 0 || len(tok.sig) == 0 {
			t.Fatalf("incomplete token %+v", tok)
		}
	})
}

// checkFlatFields: where parseToken's fast path reads data, it reads what
// encoding/json reads.
func checkFlatFields(t *testing.T, data []byte) bool {
	raw, ok := flatFields(data)
	if ok {
		fast := Token{string(raw.cert), Algorithm(raw.alg), string(raw.sig), string(raw.format), string(raw.appVersion)}
		var slow Token
		if err := json.Unmarshal(data, &slow); err != nil || slow != fast {
			t.Fatalf("flatFields(%q) = %+v, json.Unmarshal = %+v, %v", data, fast, slow, err)
		}
		if err := webinput.CheckJSONKeys(data, &slow); err != nil {
			t.Fatalf("flatFields took %q, which CheckJSONKeys refuses: %v", data, err)
		}
	}
	return ok
}

func TestFlatFields(t *testing.T) {
	p := getPKI()
	good := string(createToken(t, p.cie, p.rsaKey, testOrigin, randomNonce()))
	for _, c := range []struct {
		data string
		fast bool
	}{
		{good, true},
		{" {\n\t\"format\" : \"x\" ,\r\"algorithm\":\"RS256\"} ", true},
		{`{}`, true},
		{`{"format":"a","format":"b"}`, false},
		{`{"format":"a",}`, false},
		{`{"format":"a"} x`, false},
		{`{"format":"a""algorithm":"b"}`, false},
		{"{\"format\":\"a\tb\"}", false},
		{`{"format":"web-eid:1.0","format":1}`, false},
		{`{"format":"web\u002deid:1.0"}`, false},
		{strings.Replace(good, `"signature"`, `"ſignature"`, 1), false},
		{strings.Replace(good, `"format"`, `"Format"`, 1), false},
		{`{"x":[1],` + good[1:], false},
		{`{"format":null}`, false},
		{"{\"format\":\"\xff\"}", false},
		{`{"format":"a"`, false},
		{`["format"]`, false},
		{`null`, false},
	} {
		if got := checkFlatFields(t, []byte(c.data)); got != c.fast {
			t.Errorf("flatFields(%.60q) took the fast path: %v, want %v", c.data, got, c.fast)
		}
	}
}

// TestPlainString puts every byte value at every place of strings of up
// to two 8-byte words and a tail.
func TestPlainString(t *testing.T) {
	if !plainString(nil) {
		t.Error("plainString(nil) = false")
	}
	for n := 1; n <= 19; n++ {
		for at := range n {
			for c := range 256 {
				s := bytes.Repeat([]byte("A"), n)
				s[at] = byte(c)
				if got, want := plainString(s), c >= 0x20 && c != '\\'; got != want {
					t.Fatalf("plainString(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func FuzzFlatFields(f *testing.F) {
	f.Add([]byte(`{"format":"web-eid:1.0","algorithm":"RS256","signature":"AA==","unverifiedCertificate":"AAAA","appVersion":"x"}`))
	f.Add([]byte(" {\"format\" :\t\"a\",\n\"format\":\"b\"}"))
	f.Add([]byte(`{"format":"a","x":{"format":"b"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { checkFlatFields(t, data) })
}

func FuzzVerify(f *testing.F) {
	p := getPKI()
	v := p.verifier(f, nil)
	nonce := randomNonce()
	f.Add(createToken(f, p.cie, p.rsaKey, testOrigin, nonce))
	f.Add(createToken(f, p.cns, p.ecKey, testOrigin, nonce))
	f.Add(encode(f, tokenFields(f, p.cie, p.rsaKey, "PS384", testOrigin, nonce)))
	good := string(createToken(f, p.cie, p.rsaKey, testOrigin, nonce))
	f.Add([]byte(`{"signature":"AAAA",` + good[1:]))
	f.Add([]byte(strings.Replace(good, `"signature"`, `"ſignature"`, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := v.Verify(context.Background(), data, testOrigin, nonce)
		if err == nil {
			// A case-sensitive reader finds the same fields.
			var m map[string]json.RawMessage
			json.Unmarshal(data, &m)
			for _, k := range []string{"unverifiedCertificate", "algorithm", "signature", "format"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("accepted a token without the exact key %q: %s", k, data)
				}
			}
		}
		if (id == nil) == (err == nil) || err != nil && ReasonOf(err) == "" {
			t.Fatalf("identity %v, error %v", id, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	verify := tokenVerification(b)
	for b.Loop() {
		verify()
	}
}

// BenchmarkVerifyVsTwoRSA measures the ratio of BenchmarkVerify to
// BenchmarkTwoRSAVerify (lower is better) with the two run in turns, one
// of each per iteration, so that the load of a shared machine, which comes
// and goes, weighs on both alike; the ratio is of the median times, which
// a few iterations that lost the CPU to another process do not move.
func BenchmarkVerifyVsTwoRSA(b *testing.B) {
	verify, bare := tokenVerification(b), twoRSAVerifications(b)
	var verifying, floor []time.Duration
	for b.Loop() {
		t0 := time.Now()
		verify()
		t1 := time.Now()
		bare()
		verifying, floor = append(verifying, t1.Sub(t0)), append(floor, time.Since(t1))
	}
	b.ReportMetric(float64(median(verifying))/float64(median(floor)), "verify/two-rsa")
}

func median[T cmp.Ordered](v []T) T {
	v = slices.Sorted(slices.Values(v))
	return v[len(v)/2]
}

// BenchmarkTwoRSAVerify is the floor for BenchmarkVerify: the two bare
// RSA verifications a token needs, its signature with the card's key and
// the card certificate's with the CA's.
func BenchmarkTwoRSAVerify(b *testing.B) {
	bare := twoRSAVerifications(b)
	for b.Loop() {
		bare()
	}
}

// tokenVerification returns a function that verifies a CIE token.
func tokenVerification(b *testing.B) func() {
	p := getPKI()
	v := p.verifier(b, nil)
	nonce := randomNonce()
	token := createToken(b, p.cie, p.rsaKey, testOrigin, nonce)
	return func() {
		if _, err := v.Verify(context.Background(), token, testOrigin, nonce); err != nil {
			b.Fatal(err)
		}
	}
}

// twoRSAVerifications returns a function that makes the two RSA
// verifications of tokenVerification's token, and nothing else.
func twoRSAVerifications(b *testing.B) func() {
	p := getPKI()
	digest := Algorithm("RS256").Digest(testOrigin, randomNonce())
	sig, err := rsa.SignPKCS1v15(nil, p.rsaKey, crypto.SHA256, digest)
	if err != nil {
		b.Fatal(err)
	}
	caKey := p.ca.PublicKey.(*rsa.PublicKey)
	return func() {
		if err := rsa.VerifyPKCS1v15(&p.rsaKey.PublicKey, crypto.SHA256, digest, sig); err != nil {
			b.Fatal(err)
		}
		tbs := sha256.Sum256(p.cie.RawTBSCertificate)
		if err := rsa.VerifyPKCS1v15(caKey, crypto.SHA256, tbs[:], p.cie.Signature); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRSAVerify is one bare signature check on the card's key.
func BenchmarkRawRSAVerify(b *testing.B) {
	p := getPKI()
	nonce := randomNonce()
	digest := Algorithm("RS256").Digest(testOrigin, nonce)
	sig, err := rsa.SignPKCS1v15(nil, p.rsaKey, crypto.SHA256, digest)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&p.rsaKey.PublicKey, crypto.SHA256, digest, sig); err != nil {
			b.Fatal(err)
		}
	}
}
