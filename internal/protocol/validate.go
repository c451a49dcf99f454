package protocol

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// Options changes how strictly arguments are checked.
type Options struct {
	// AllowLoopbackHTTP accepts http://localhost, http://127.0.0.1 and
	// http://[::1] origins (developer mode). https is always required
	// otherwise.
	AllowLoopbackHTTP bool
}

func invalid(format string, args ...any) *Error {
	return Errorf(CodeInvalidArgument, format, args...)
}

// ValidateOrigin checks that origin is a canonical (CanonicalOrigin)
// https origin, or a loopback http origin when o.AllowLoopbackHTTP is set.
func ValidateOrigin(origin string, o Options) error {
	if origin == "" {
		return invalid("origin is missing")
	}
	if len(origin) > MaxOriginLength {
		return invalid("origin is longer than %d characters", MaxOriginLength)
	}
	canonical, err := CanonicalOrigin(origin)
	if err != nil {
		return err
	}
	if canonical != origin {
		return invalid("origin %.80q is not canonical: it is %q", origin, canonical)
	}
	scheme, rest, _ := strings.Cut(origin, "://")
	if scheme == "https" {
		return nil
	}
	if !isLoopback(rest) {
		return invalid("origin must use https")
	}
	if !o.AllowLoopbackHTTP {
		return invalid("http origins are accepted only on loopback in developer mode")
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
		return "", invalid("origin must be https://host[:port]")
	}
	if i := strings.IndexAny(rest, "/?#@\\%"); i >= 0 {
		return "", invalid("origin must be scheme://host[:port] with nothing after it (found %q)", rest[i])
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", invalid("origin has an unterminated IPv6 address")
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" && port[0] != ':' {
			return "", invalid("origin has text after its IPv6 address")
		}
		a, err := netip.ParseAddr(host[1:end])
		if err != nil || !a.Is6() || a.Is4In6() || a.Zone() != "" {
			return "", invalid("origin has an invalid IPv6 address")
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
			return "", invalid("origin has an invalid port %.10q (want 1..65535, no leading zeros)", port[1:])
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
		return "", invalid("origin has no valid host")
	}
	for _, c := range []byte(host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", invalid("origin host %.80q has a character other than a-z, 0-9, '-', '_' and '.' (IDNs go in punycode)", host)
		}
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", invalid("origin host %.80q has an empty or too long label", host)
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return "", invalid("origin host %.80q is not a dotted-quad IPv4 address", host)
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
func DecodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64")
	}
	return base64.StdEncoding.Strict().DecodeString(s)
}

// ValidateNonce checks the challenge nonce: 44 to 128 characters of
// standard base64 with padding that decode to at least MinNonceBytes, as
// Web eID requires.
func ValidateNonce(nonce string) error {
	if len(nonce) < MinNonceLength || len(nonce) > MaxNonceLength {
		return invalid("challenge nonce must be %d to %d characters, got %d", MinNonceLength, MaxNonceLength, len(nonce))
	}
	b, err := DecodeBase64(nonce)
	if err != nil {
		return invalid("challenge nonce is not standard base64 with padding")
	}
	if len(b) < MinNonceBytes {
		return invalid("challenge nonce decodes to %d bytes; at least %d are needed", len(b), MinNonceBytes)
	}
	return nil
}

// decodeArgs decodes raw into v, a pointer to an arguments struct,
// refusing unknown fields, case variants of its fields and trailing data.
// (Duplicate keys were refused with the whole message by ParseRequest.)
func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return invalid("arguments are missing")
	}
	if json.Valid(raw) {
		if err := CheckJSONKeys(raw, v); err != nil {
			return invalid("arguments are malformed: %v", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("arguments are malformed: %v", err)
	}
	if dec.More() {
		return invalid("arguments are followed by extra data")
	}
	return nil
}

// ParseNoArguments checks the arguments of a command that takes none
// ("status", "quit", "cancel"): absent, null or {}.
func ParseNoArguments(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if len(raw) > 0 && (json.Unmarshal(raw, &m) != nil || len(m) > 0) {
		return invalid("this command takes no arguments")
	}
	return nil
}

// ParseAuthenticate decodes and validates the arguments of "authenticate".
func ParseAuthenticate(raw json.RawMessage, o Options) (*AuthenticateArgs, error) {
	var a AuthenticateArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if err := ValidateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	if err := ValidateNonce(a.ChallengeNonce); err != nil {
		return nil, err
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &a, validateLang(a.Lang)
}

// ParseGetSigningCertificate decodes and validates "get-signing-certificate".
func ParseGetSigningCertificate(raw json.RawMessage, o Options) (*GetSigningCertificateArgs, error) {
	var a GetSigningCertificateArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if err := ValidateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &a, validateLang(a.Lang)
}

// SignRequest is a validated "sign" request.
type SignRequest struct {
	Origin      string
	Certificate *x509.Certificate
	Hash        []byte
	HashFunc    string
	Lang        string
	WaitForCard int // milliseconds
}

// ParseSign decodes and validates "sign": the certificate must parse, the
// hash function must be known and the hash must have its length.
func ParseSign(raw json.RawMessage, o Options) (*SignRequest, error) {
	var a SignArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if err := ValidateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	h, ok := HashFunctions[a.HashFunction]
	if !ok {
		return nil, invalid("unknown hash function %q", a.HashFunction)
	}
	digest, err := DecodeBase64(a.Hash)
	if err != nil {
		return nil, invalid("hash is not standard base64")
	}
	if len(digest) != h.Size() {
		return nil, invalid("hash is %d bytes, %s needs %d", len(digest), a.HashFunction, h.Size())
	}
	der, err := DecodeBase64(a.Certificate)
	if err != nil {
		return nil, invalid("certificate is not standard base64")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, invalid("certificate does not parse: %v", err)
	}
	if err := validateLang(a.Lang); err != nil {
		return nil, err
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &SignRequest{Origin: a.Origin, Certificate: cert, Hash: digest, HashFunc: a.HashFunction, Lang: a.Lang, WaitForCard: a.WaitForCard}, nil
}

// validateWait checks a waitForCard argument.
func validateWait(ms int) error {
	if ms < 0 || ms > MaxCardWait {
		return invalid("waitForCard must be 0 to %d milliseconds", MaxCardWait)
	}
	return nil
}

// validateLang accepts an empty language or a short BCP 47-like tag.
func validateLang(lang string) error {
	if len(lang) > 16 {
		return invalid("lang is too long")
	}
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r >= '0' && r <= '9') {
			return invalid("lang has an invalid character")
		}
	}
	return nil
}

// ParseRequest decodes one message into a Request. Unknown top-level
// fields are refused. It uses json.Unmarshal, which reads msg in place, so
// that a PIN in the arguments exists only in msg and in Arguments: the
// caller zeroes both when the message carried a PIN.
func ParseRequest(msg []byte) (*Request, error) {
	if len(msg) == 0 {
		return nil, Errorf(CodeMalformedMessage, "empty message")
	}
	if !json.Valid(msg) {
		return nil, Errorf(CodeMalformedMessage, "message is not JSON")
	}
	// Before decoding: a duplicate "arguments" would leave a decoded copy
	// of the first (maybe with a PIN) behind, unzeroed.
	if err := CheckJSONKeys(msg, &Request{}); err != nil {
		return nil, Errorf(CodeMalformedMessage, "message is ambiguous: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, Errorf(CodeMalformedMessage, "message is not a JSON object")
	}
	r := &Request{Arguments: m["arguments"]}
	for k := range m {
		if k != "command" && k != "arguments" {
			clear(r.Arguments)
			return nil, Errorf(CodeMalformedMessage, "message has an unknown field %q", k)
		}
	}
	if err := json.Unmarshal(m["command"], &r.Command); err != nil || r.Command == "" {
		clear(r.Arguments)
		return nil, Errorf(CodeMalformedMessage, "message has no command")
	}
	return r, nil
}
