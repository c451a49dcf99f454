package relyingparty

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"github.com/eidlink/eidlink/internal/authtoken"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/webinput"
)

// MaxTokenSize is the largest token accepted, in bytes. A token with a
// 4096-bit RSA certificate is about 3 KiB.
const MaxTokenSize = 32 << 10

// token is a parsed, not yet verified, web-eid:1.0 token.
type token struct {
	cert *x509.Certificate
	alg  authtoken.Algorithm
	sig  []byte
}

func parseToken(data []byte) (*token, error) {
	if len(data) > MaxTokenSize {
		return nil, fail(ReasonTokenFormat, "the token is %d bytes, more than the %d accepted", len(data), MaxTokenSize)
	}
	raw, ok := flatFields(data)
	if !ok {
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fail(ReasonTokenFormat, "the token is not a JSON object of strings: %v", err)
		}
		if err := webinput.CheckJSONKeys(data, &raw); err != nil {
			return nil, fail(ReasonTokenFormat, "the token could read differently to another parser: %v", err)
		}
	}
	for _, f := range []struct{ name, value string }{
		{"format", raw.Format}, {"algorithm", raw.Algorithm},
		{"unverifiedCertificate", raw.UnverifiedCertificate}, {"signature", raw.Signature},
	} {
		if f.value == "" {
			return nil, fail(ReasonTokenFormat, "the token has no %s", f.name)
		}
	}
	if raw.Format != protocol.TokenFormat {
		return nil, fail(ReasonTokenFormat, "the token format is %.40q; only %q is accepted", raw.Format, protocol.TokenFormat)
	}
	alg, ok := authtoken.LookupAlgorithm(raw.Algorithm)
	if !ok {
		return nil, fail(ReasonAlgorithm, "the token algorithm %.20q is not supported (want RS256/384/512, PS256/384/512 or ES256/384/512)", raw.Algorithm)
	}
	der, err := decodeBase64("unverifiedCertificate", raw.UnverifiedCertificate)
	if err != nil {
		return nil, err
	}
	sig, err := decodeBase64("signature", raw.Signature)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fail(ReasonCertMalformed, "the token's certificate does not parse: %v", err)
	}
	return &token{cert: cert, alg: alg, sig: sig}, nil
}

// flatFields reads, without encoding/json's reflection, the token every
// extension sends: valid UTF-8, one flat JSON object whose keys are
// AuthToken's, exactly and once each, and whose values are strings
// without escapes or control characters. For such a token it finds what
// json.Unmarshal would, and CheckJSONKeys has nothing to refuse; for
// anything else it returns false and the caller uses encoding/json.
func flatFields(data []byte) (t protocol.AuthToken, ok bool) {
	if !utf8.Valid(data) {
		return t, false
	}
	fields := map[string]*string{
		"unverifiedCertificate": &t.UnverifiedCertificate, "algorithm": &t.Algorithm,
		"signature": &t.Signature, "format": &t.Format, "appVersion": &t.AppVersion,
	}
	i := 0
	ws := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
	}
	next := func(c byte) bool {
		ws()
		if i < len(data) && data[i] == c {
			i++
			return true
		}
		return false
	}
	str := func() (string, bool) {
		if !next('"') {
			return "", false
		}
		for start := i; i < len(data); i++ {
			switch c := data[i]; {
			case c == '"':
				i++
				return string(data[start : i-1]), true
			case c == '\\' || c < 0x20:
				return "", false
			}
		}
		return "", false
	}
	if !next('{') {
		return t, false
	}
	for first := true; !next('}'); first = false {
		if !first && !next(',') {
			return t, false
		}
		key, isStr := str()
		dst, known := fields[key]
		if !isStr || !known || !next(':') {
			return t, false
		}
		delete(fields, key) // a key twice is for CheckJSONKeys to refuse
		if *dst, isStr = str(); !isStr {
			return t, false
		}
	}
	ws()
	return t, i == len(data)
}

// decodeBase64 accepts standard base64 with padding and nothing else.
func decodeBase64(field, s string) ([]byte, error) {
	b, err := webinput.DecodeBase64(s)
	if err != nil {
		return nil, fail(ReasonTokenFormat, "the token's %s is not standard base64 with padding (truncated?)", field)
	}
	return b, nil
}

// LoadCertPool reads trust anchors from files of PEM CERTIFICATE blocks
// (or one DER certificate each). Every certificate read becomes a trust
// anchor, so list only CA certificates.
func LoadCertPool(paths ...string) (*x509.CertPool, error) {
	if len(paths) == 0 {
		return nil, errors.New("verify: no trust anchor file given")
	}
	pool := x509.NewCertPool()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("verify: reading trust anchors: %w", err)
		}
		certs, err := parseCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("verify: %s: %w", p, err)
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
