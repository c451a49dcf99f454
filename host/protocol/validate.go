package protocol

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"strings"
)

// Limits from the Web eID specification.
const (
	MinNonceLength  = 44
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

// ValidateOrigin checks that origin is a bare https://host[:port] origin, or
// a loopback http origin when o.AllowLoopbackHTTP is set.
func ValidateOrigin(origin string, o Options) error {
	if origin == "" {
		return invalid("origin is missing")
	}
	if len(origin) > MaxOriginLength {
		return invalid("origin is longer than %d characters", MaxOriginLength)
	}
	u, err := url.Parse(origin)
	if err != nil {
		return invalid("origin is not a URL")
	}
	if u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.HasSuffix(origin, "?") || strings.HasSuffix(origin, "#") {
		return invalid("origin must be scheme://host[:port] with nothing after it")
	}
	if u.String() != origin || strings.ToLower(origin) != origin {
		return invalid("origin is not in canonical (lower-case) form")
	}
	if p := u.Port(); p != "" {
		if p[0] == '0' || len(p) > 5 {
			return invalid("origin has an invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return invalid("origin has an empty port")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if o.AllowLoopbackHTTP && isLoopback(u.Hostname()) {
			return nil
		}
		if isLoopback(u.Hostname()) {
			return invalid("http origins are accepted only on loopback in developer mode")
		}
		return invalid("origin must use https")
	default:
		return invalid("origin must use https")
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateNonce checks the challenge nonce: 44 to 128 characters of
// standard base64 with padding, as Web eID requires.
func ValidateNonce(nonce string) error {
	if len(nonce) < MinNonceLength || len(nonce) > MaxNonceLength {
		return invalid("challenge nonce must be %d to %d characters, got %d", MinNonceLength, MaxNonceLength, len(nonce))
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(nonce); err != nil {
		return invalid("challenge nonce is not standard base64")
	}
	return nil
}

// decodeArgs decodes raw into v, refusing unknown fields and trailing data.
func decodeArgs(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return invalid("arguments are missing")
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
	return &a, validateLang(a.Lang)
}

// SignRequest is a validated "sign" request.
type SignRequest struct {
	Origin      string
	Certificate *x509.Certificate
	Hash        []byte
	HashFunc    string
	Lang        string
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
	digest, err := base64.StdEncoding.Strict().DecodeString(a.Hash)
	if err != nil {
		return nil, invalid("hash is not standard base64")
	}
	if len(digest) != h.Size() {
		return nil, invalid("hash is %d bytes, %s needs %d", len(digest), a.HashFunction, h.Size())
	}
	der, err := base64.StdEncoding.Strict().DecodeString(a.Certificate)
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
	return &SignRequest{Origin: a.Origin, Certificate: cert, Hash: digest, HashFunc: a.HashFunction, Lang: a.Lang}, nil
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
