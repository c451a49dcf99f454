package relyingparty

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"github.com/eidlink/eidlink/internal/webinput"
)

// TokenFormat is the format of the tokens Verify accepts, the only one
// eidlink writes.
const TokenFormat = "web-eid:1.0"

// MaxTokenSize is the largest token accepted, in bytes. A token with a
// 4096-bit RSA certificate is about 3 KiB.
const MaxTokenSize = 32 << 10

// Token is a web-eid:1.0 authentication token: the object the page gets
// from eidlink.authenticate (or the Web eID library) and posts to the site
// as JSON. The site passes that JSON to Verify or VerifyChallenge as it
// came; this type documents the fields and is what eidlink writes.
type Token struct {
	// UnverifiedCertificate is the card's authentication certificate,
	// DER in standard base64. Nothing in it is trusted before Verify has
	// checked it.
	UnverifiedCertificate string `json:"unverifiedCertificate"`
	// Algorithm is the signature algorithm.
	Algorithm Algorithm `json:"algorithm"`
	// Signature is the card's signature over H(origin) || H(nonce) (see
	// Algorithm.Digest), in standard base64.
	Signature string `json:"signature"`
	// Format is TokenFormat.
	Format string `json:"format"`
	// AppVersion is the URL of the software that made the token, e.g.
	// "https://eidlink.it/eidlink-host/1.2.3". It is not signed: Verify
	// ignores it, as it ignores fields it does not know.
	AppVersion string `json:"appVersion"`
}

// Algorithm is a token signature algorithm, by its JOSE name (RFC 7518):
// RS256, RS384, RS512 (RSA, PKCS#1 v1.5), PS256, PS384, PS512 (RSA-PSS,
// salt as long as the hash) and ES256, ES384, ES512 (ECDSA on P-256, P-384,
// P-521; the signature is r || s, each as long as the curve's order).
type Algorithm string

// Hash returns a's hash function, or 0 if a is none of the algorithms
// above.
func (a Algorithm) Hash() crypto.Hash {
	switch a {
	case "RS256", "PS256", "ES256":
		return crypto.SHA256
	case "RS384", "PS384", "ES384":
		return crypto.SHA384
	case "RS512", "PS512", "ES512":
		return crypto.SHA512
	}
	return 0
}

// Digest returns H(H(origin) || H(nonce)), H being a's hash: the digest a
// token's signature signs, the signed message being H(origin) || H(nonce).
// origin is the page's origin as the browser writes it
// ("https://host[:port]"), nonce the challenge nonce's base64 text as the
// site issued it. Digest returns nil if a is unknown.
func (a Algorithm) Digest(origin, nonce string) []byte {
	h := a.Hash()
	if h == 0 {
		return nil
	}
	var buf [2 * 64]byte // H(origin) || H(nonce), SHA-512 at most
	w := h.New()
	io.WriteString(w, origin)
	msg := w.Sum(buf[:0])
	w.Reset()
	io.WriteString(w, nonce)
	msg = w.Sum(msg)
	w.Reset()
	w.Write(msg)
	return w.Sum(nil)
}

// AlgorithmFor returns the algorithm eidlink signs with for the public key
// pub: RS256 for RSA, ES256, ES384 or ES512 for ECDSA on P-256, P-384 or
// P-521.
func AlgorithmFor(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("the %s curve is not supported (want P-256, P-384 or P-521)", k.Curve.Params().Name)
	}
	return "", fmt.Errorf("the %T key is not supported (want RSA or ECDSA)", pub)
}

// parsed is a token read by parseToken, not yet verified.
type parsed struct {
	cert *x509.Certificate
	alg  Algorithm
	sig  []byte
}

func parseToken(data []byte) (*parsed, error) {
	if len(data) > MaxTokenSize {
		return nil, fail(ReasonTokenFormat, "the token is %d bytes, more than the %d accepted", len(data), MaxTokenSize)
	}
	f, ok := flatFields(data)
	if !ok {
		var t Token
		if err := json.Unmarshal(data, &t); err != nil {
			return nil, fail(ReasonTokenFormat, "the token is not a JSON object of strings: %v", err)
		}
		if err := webinput.CheckJSONKeys(data, &t); err != nil {
			return nil, fail(ReasonTokenFormat, "the token could read differently to another parser: %v", err)
		}
		f = rawFields{[]byte(t.UnverifiedCertificate), []byte(t.Algorithm), []byte(t.Signature), []byte(t.Format), []byte(t.AppVersion)}
	}
	for _, f := range []struct {
		name  string
		value []byte
	}{{"format", f.format}, {"algorithm", f.alg}, {"unverifiedCertificate", f.cert}, {"signature", f.sig}} {
		if len(f.value) == 0 {
			return nil, fail(ReasonTokenFormat, "the token has no %s", f.name)
		}
	}
	if string(f.format) != TokenFormat {
		return nil, fail(ReasonTokenFormat, "the token format is %.40q; only %q is accepted", f.format, TokenFormat)
	}
	alg := Algorithm(f.alg)
	if alg.Hash() == 0 {
		return nil, fail(ReasonAlgorithm, "the token algorithm %.20q is not supported (want RS256/384/512, PS256/384/512 or ES256/384/512)", alg)
	}
	der, err := decodeBase64("unverifiedCertificate", f.cert)
	if err != nil {
		return nil, err
	}
	sig, err := decodeBase64("signature", f.sig)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fail(ReasonCertMalformed, "the token's certificate does not parse: %v", err)
	}
	return &parsed{cert: cert, alg: alg, sig: sig}, nil
}

// rawFields are the contents of a token's string fields.
type rawFields struct {
	cert, alg, sig, format, appVersion []byte
}

// flatFields reads, without encoding/json's reflection or copies, the
// token every extension sends: valid UTF-8, one flat JSON object whose keys
// are Token's, exactly and once each, and whose values are strings without
// escapes or control characters. For such a token it finds what
// json.Unmarshal would, as slices of data, and CheckJSONKeys has nothing
// to refuse; for anything else it returns false and the caller uses
// encoding/json.
func flatFields(data []byte) (f rawFields, ok bool) {
	if !utf8.Valid(data) {
		return f, false
	}
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return f, false
	}
	if i = skipSpace(data, i+1); i < len(data) && data[i] == '}' {
		return f, skipSpace(data, i+1) == len(data)
	}
	var seen [5]bool
	for {
		key, j, isStr := jsonString(data, i)
		if i = skipSpace(data, j); !isStr || i == len(data) || data[i] != ':' {
			return f, false
		}
		value, j, isStr := jsonString(data, skipSpace(data, i+1))
		if !isStr {
			return f, false
		}
		var dst *[]byte
		var k int
		switch string(key) {
		case "unverifiedCertificate":
			dst, k = &f.cert, 0
		case "algorithm":
			dst, k = &f.alg, 1
		case "signature":
			dst, k = &f.sig, 2
		case "format":
			dst, k = &f.format, 3
		case "appVersion":
			dst, k = &f.appVersion, 4
		default:
			return f, false
		}
		if seen[k] { // a key twice is for CheckJSONKeys to refuse
			return f, false
		}
		seen[k], *dst = true, value
		switch i = skipSpace(data, j); {
		case i < len(data) && data[i] == '}':
			return f, skipSpace(data, i+1) == len(data)
		case i == len(data) || data[i] != ',':
			return f, false
		}
		i = skipSpace(data, i+1)
	}
}

// skipSpace returns the index of the first byte from data[i] on that is
// not JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// jsonString reads the JSON string at data[i] if it has no escapes or
// control characters, and returns its contents and the index after it.
func jsonString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, i, false
	}
	end := bytes.IndexByte(data[i+1:], '"')
	if end < 0 {
		return nil, i, false
	}
	s = data[i+1 : i+1+end]
	if !plainString(s) {
		return nil, i, false
	}
	return s, i + end + 2, true
}

// plainString reports whether s has no backslash and no control
// character (below 0x20), eight bytes at a time: a certificate's base64
// is most of a token.
func plainString(s []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; len(s) >= 8; s = s[8:] {
		x := binary.LittleEndian.Uint64(s)
		below20 := (x - 0x20*ones) &^ x & highs // a byte < 0x20 (bytes >= 0x80 have their own high bit)
		b := x ^ '\\'*ones
		backslash := (b - ones) &^ b & highs // a zero byte where x had a backslash
		if below20|backslash != 0 {
			return false
		}
	}
	for _, c := range s {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	return true
}

// decodeBase64 accepts standard base64 with padding and nothing else.
func decodeBase64(field string, s []byte) ([]byte, error) {
	b, err := webinput.DecodeBase64(s)
	if err != nil {
		return nil, fail(ReasonTokenFormat, "the token's %s is not standard base64 with padding (truncated?)", field)
	}
	return b, nil
}

// LoadCertPool reads trust anchors for Config.Roots (or CA certificates
// for Config.Intermediates) from files of PEM CERTIFICATE blocks, or of one
// DER certificate each. Every certificate read becomes a trust anchor, so
// list only CA certificates. It fails if a file cannot be read or holds no
// certificate, or a certificate does not parse.
func LoadCertPool(paths ...string) (*x509.CertPool, error) {
	if len(paths) == 0 {
		return nil, errors.New("relyingparty: no trust anchor file given")
	}
	pool := x509.NewCertPool()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("relyingparty: reading trust anchors: %w", err)
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("relyingparty: %s: %w", p, err)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	return pool, nil
}

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) > 0 {
		return certs, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errors.New("no certificate found (want PEM CERTIFICATE blocks or one DER certificate)")
	}
	return []*x509.Certificate{c}, nil
}
