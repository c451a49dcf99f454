package protocol

import (
	"encoding/json"
	"errors"

	"github.com/eidlink/eidlink/internal/webinput"
)

// PIN holds a PIN in memory the host owns, so that it can be zeroed. It
// decodes from a JSON string of printable ASCII without escapes, copying
// the bytes straight from the message buffer (no intermediate string).
type PIN []byte

// MaxPINLength bounds what the host accepts as a PIN.
const MaxPINLength = 64

// UnmarshalJSON implements json.Unmarshaler.
func (p *PIN) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return errors.New("pin must be a string")
	}
	b = b[1 : len(b)-1]
	if len(b) > MaxPINLength {
		return errors.New("pin is too long")
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return errors.New("pin must be printable ASCII")
		}
	}
	*p = append(PIN(nil), b...)
	return nil
}

// Zero overwrites the PIN.
func (p PIN) Zero() { clear(p) }

// ParsePIN decodes the arguments of "pin". The caller zeroes the result
// (and raw) after use.
func ParsePIN(raw json.RawMessage) (PIN, error) {
	var m map[string]PIN
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid("pin arguments are malformed")
	}
	pin, ok := m["pin"]
	if !ok || len(m) != 1 {
		for _, v := range m {
			v.Zero()
		}
		return nil, invalid("pin arguments must be exactly {\"pin\": \"...\"}")
	}
	return pin, nil
}

// keyOnly decodes any JSON value into nothing, copying none of it.
type keyOnly struct{}

func (*keyOnly) UnmarshalJSON([]byte) error { return nil }

// ParseTLSPIN decodes the arguments of "tls-pin": an id and exactly one
// of a PIN or "cancel": true. The caller zeroes the PIN (and raw) after
// use. Like ParsePIN, it leaves no copy of the PIN but the result's.
func ParseTLSPIN(raw json.RawMessage) (*TLSPINArgs, error) {
	var a TLSPINArgs
	var keys map[string]keyOnly
	if !json.Valid(raw) || json.Unmarshal(raw, &keys) != nil {
		return nil, invalid("tls-pin arguments are malformed")
	}
	if err := webinput.CheckJSONKeys(raw, &a); err != nil {
		return nil, invalid("tls-pin arguments are malformed: %v", err)
	}
	for k := range keys {
		if k != "id" && k != "pin" && k != "cancel" {
			return nil, invalid("tls-pin arguments: unknown field %q", k)
		}
	}
	_, hasID := keys["id"]
	_, hasPIN := keys["pin"]
	err := json.Unmarshal(raw, &a)
	if err == nil && (!hasID || hasPIN == a.Cancel) {
		err = errors.New("want an id and either a pin or \"cancel\": true")
	}
	if err != nil {
		a.PIN.Zero()
		return nil, invalid("tls-pin arguments: %v", err)
	}
	return &a, nil
}
