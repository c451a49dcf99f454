package protocol

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/eidlink/eidlink/internal/webinput"
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

// validateOrigin applies webinput.ValidateOrigin with o's developer mode.
func validateOrigin(origin string, o Options) error {
	if err := webinput.ValidateOrigin(origin, o.AllowLoopbackHTTP); err != nil {
		return invalid("%v", err)
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
		if err := webinput.CheckJSONKeys(raw, v); err != nil {
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
	if err := validateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	if err := webinput.ValidateNonce(a.ChallengeNonce); err != nil {
		return nil, invalid("%v", err)
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
	if err := validateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &a, validateLang(a.Lang)
}

// ParseUnlock decodes and validates "unlock"; its origin and card are
// optional.
func ParseUnlock(raw json.RawMessage, o Options) (*UnlockArgs, error) {
	var a UnlockArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if len(a.Card) > MaxCardName || !utf8.ValidString(a.Card) || strings.ContainsFunc(a.Card, unicode.IsControl) {
		return nil, invalid("card must be a card kind, a slot number or a token label of at most %d bytes", MaxCardName)
	}
	if a.Origin != "" {
		if err := validateOrigin(a.Origin, o); err != nil {
			return nil, err
		}
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &a, validateLang(a.Lang)
}

// SignRequest is a validated "sign" request.
type SignRequest struct {
	Origin string
	// Certificate is the DER the page sent, not parsed here: the command
	// parses it (crypto/x509 would double eidlink-host's start-up time,
	// and the host relays requests without validating them).
	Certificate []byte
	Hash        []byte
	HashFunc    string
	Lang        string
	WaitForCard int // milliseconds
}

// ParseSign decodes and validates "sign": the certificate must be base64
// (whether it parses is the command's to check), the hash function must
// be known and the hash must have its length.
func ParseSign(raw json.RawMessage, o Options) (*SignRequest, error) {
	var a SignArgs
	if err := decodeArgs(raw, &a); err != nil {
		return nil, err
	}
	if err := validateOrigin(a.Origin, o); err != nil {
		return nil, err
	}
	h, ok := HashFunctions[a.HashFunction]
	if !ok {
		return nil, invalid("unknown hash function %q", a.HashFunction)
	}
	digest, err := webinput.DecodeBase64([]byte(a.Hash))
	if err != nil {
		return nil, invalid("hash is not standard base64")
	}
	if len(digest) != h.Size() {
		return nil, invalid("hash is %d bytes, %s needs %d", len(digest), a.HashFunction, h.Size())
	}
	der, err := webinput.DecodeBase64([]byte(a.Certificate))
	if err != nil {
		return nil, invalid("certificate is not standard base64")
	}
	if err := validateLang(a.Lang); err != nil {
		return nil, err
	}
	if err := validateWait(a.WaitForCard); err != nil {
		return nil, err
	}
	return &SignRequest{Origin: a.Origin, Certificate: der, Hash: digest, HashFunc: a.HashFunction, Lang: a.Lang, WaitForCard: a.WaitForCard}, nil
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
	if err := webinput.CheckJSONKeys(msg, &Request{}); err != nil {
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
