// Package webinput holds the rules for the values a web page hands to
// eidlink and that the relying party checks again: web origins as browsers
// write them, challenge nonces, strict base64 and JSON objects that every
// parser reads the same way. The native host's protocol (internal/protocol)
// and the relying-party verifier (relyingparty) both apply them, so that
// the host signs only what a verifier accepts.
//
// Errors are plain errors whose text says what is wrong; callers attach
// their own codes.
package webinput

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits from the Web eID specification.
const (
	MinNonceLength  = 44 // characters: base64 of MinNonceBytes
	MinNonceBytes   = 32
	MaxNonceLength  = 128
	MaxOriginLength = 255
)

// ValidateOrigin checks that origin is a canonical (CanonicalOrigin)
// https origin, or, when allowLoopbackHTTP is set (developer mode), a
// canonical http origin on localhost or a loopback address.
func ValidateOrigin(origin string, allowLoopbackHTTP bool) error {
	if origin == "" {
		return errors.New("origin is missing")
	}
	if len(origin) > MaxOriginLength {
		return fmt.Errorf("origin is longer than %d characters", MaxOriginLength)
	}
	canonical, err := CanonicalOrigin(origin)
	if err != nil {
		return err
	}
	if canonical != origin {
		return fmt.Errorf("origin %.80q is not canonical: it is %q", origin, canonical)
	}
	scheme, rest, _ := strings.Cut(origin, "://")
	if scheme == "https" {
		return nil
	}
	if !isLoopback(rest) {
		return errors.New("origin must use https")
	}
	if !allowLoopbackHTTP {
		return errors.New("http origins are accepted only on loopback in developer mode")
	}
	return nil
}

// CanonicalOrigin returns origin as browsers serialise an http(s) origin
// (URL.origin, sender.origin): scheme and host in lower case, no default
// port (443 for https, 80 for http). It refuses everything else: other
// schemes, user info, a path (even "/"), a query or fragment, an empty,
// signed, zero-padded or out-of-range (1..65535) port, a host that is not
// an ASCII DNS name (IDNs in punycode), a dotted-quad IPv4 address or a
// bracketed IPv6 address in its shortest form. The extension computes
// origins by the same rule (extension/src/shared/origin.js); both are tested
// against testdata/origins.json.
func CanonicalOrigin(origin string) (string, error) {
	scheme, rest, ok := strings.Cut(origin, "://")
	scheme = strings.ToLower(scheme)
	if !ok || scheme != "https" && scheme != "http" {
		return "", errors.New("origin must be https://host[:port]")
	}
	if i := strings.IndexAny(rest, "/?#@\\%"); i >= 0 {
		return "", fmt.Errorf("origin must be scheme://host[:port] with nothing after it (found %q)", rest[i])
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", errors.New("origin has an unterminated IPv6 address")
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" && port[0] != ':' {
			return "", errors.New("origin has text after its IPv6 address")
		}
		a, err := netip.ParseAddr(host[1:end])
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return "", errors.New("origin has an invalid IPv6 address")
		}
		host = "[" + a.String() + "]"
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i:]
		}
		var err error
		if host, err = canonicalHost(host); err != nil {
			return "", err
		}
	}
	if port != "" {
		n, err := strconv.ParseUint(port[1:], 10, 16)
		if err != nil || n == 0 || port[1] == '0' {
			return "", fmt.Errorf("origin has an invalid port %.10q (want 1..65535, no leading zeros)", port[1:])
		}
		if scheme == "https" && n == 443 || scheme == "http" && n == 80 {
			port = ""
		}
	}
	return scheme + "://" + host + port, nil
}

// canonicalHost lower-cases an ASCII DNS name or checks a dotted-quad
// IPv4 address. As in URLs, a host whose last label is numeric is an
// IPv4 address.
func canonicalHost(host string) (string, error) {
	if host == "" || len(host) > 253 {
		return "", errors.New("origin has no valid host")
	}
	for _, c := range []byte(host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", fmt.Errorf("origin host %.80q has a character other than a-z, 0-9, '-', '_' and '.' (IDNs go in punycode)", host)
		}
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", fmt.Errorf("origin host %.80q has an empty or too long label", host)
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("origin host %.80q is not a dotted-quad IPv4 address", host)
		}
	}
	return host, nil
}

// isLoopback reports whether the host[:port] of a canonical origin is
// localhost or a loopback address.
func isLoopback(hostport string) bool {
	host := hostport
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host = hostport[:i]
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// DecodeBase64 decodes standard base64 with padding and nothing else (the
// standard decoder alone skips line breaks).
func DecodeBase64(s []byte) ([]byte, error) {
	return appendBase64(make([]byte, 0, base64.StdEncoding.DecodedLen(len(s))), s)
}

// appendBase64 appends to dst what DecodeBase64 returns.
func appendBase64(dst, s []byte) ([]byte, error) {
	if bytes.IndexByte(s, '\n') >= 0 || bytes.IndexByte(s, '\r') >= 0 {
		return nil, errors.New("line break in base64")
	}
	return base64.StdEncoding.Strict().AppendDecode(dst, s)
}

// ValidateNonce checks the challenge nonce: 44 to 128 characters of
// standard base64 with padding that decode to at least MinNonceBytes, as
// Web eID requires.
func ValidateNonce(nonce string) error {
	if len(nonce) < MinNonceLength || len(nonce) > MaxNonceLength {
		return fmt.Errorf("challenge nonce must be %d to %d characters, got %d", MinNonceLength, MaxNonceLength, len(nonce))
	}
	var buf [MaxNonceLength / 4 * 3]byte
	b, err := appendBase64(buf[:0], []byte(nonce))
	if err != nil {
		return errors.New("challenge nonce is not standard base64 with padding")
	}
	if len(b) < MinNonceBytes {
		return fmt.Errorf("challenge nonce decodes to %d bytes; at least %d are needed", len(b), MinNonceBytes)
	}
	return nil
}
