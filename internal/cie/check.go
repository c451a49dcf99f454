package cie

import (
	"encoding/hex"
	"errors"

	"github.com/eidlink/eidlink/internal/pcsc"
)

// Report is what Check found on a card, for `eidlink cie check` and bug
// reports.
type Report struct {
	Reader    string `json:"reader,omitempty"`
	Family    string `json:"family"`
	ATR       string `json:"atr"`
	NIS       string `json:"nis,omitempty"`
	Steps     []Step `json:"steps"`
	TriesLeft *int   `json:"triesLeft,omitempty"`
	APDUs     int    `json:"apdus"`
}

// Step is one part of Check.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Status string `json:"status,omitempty"` // the card's status word, when it gave one
	Error  string `json:"error,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// OK reports whether every step passed.
func (r Report) OK() bool {
	for _, s := range r.Steps {
		if !s.OK {
			return false
		}
	}
	return len(r.Steps) > 0
}

func step(name string, err error) Step {
	s := Step{Name: name, OK: err == nil}
	if err != nil {
		s.Error, s.Hint = err.Error(), Hint(err)
		var se *pcsc.StatusError
		var ae *pcsc.AuthError
		switch {
		case errors.As(err, &se):
			s.Status = hex.EncodeToString([]byte{byte(se.SW >> 8), byte(se.SW)})
		case errors.As(err, &ae):
			s.Status = hex.EncodeToString([]byte{0x63, 0xC0 | byte(ae.Retries)})
		}
	}
	return s
}

// Check runs what spends no PIN try: the public data, secure messaging
// with device authentication, and the tries left. It leaves a fresh
// session open (no PIN verified).
func (c *Card) Check() Report {
	r := Report{Family: c.Family.Name, ATR: hex.EncodeToString(c.ATR)}
	p, err := c.ReadPublic()
	r.NIS = p.NIS
	r.Steps = append(r.Steps, step("public data (EF D003, EF 1001)", err))
	c.mu.Lock()
	err = c.tx("open the secure session", c.establish)
	c.mu.Unlock()
	r.Steps = append(r.Steps, step("secure messaging and device authentication", err))
	if err == nil {
		n, err := c.TriesLeft()
		if err == nil {
			r.TriesLeft = &n
		}
		if !errors.Is(err, ErrTriesUnknown) { // a card may not tell: not a failure
			r.Steps = append(r.Steps, step("PIN tries left (no try spent)", err))
		}
	}
	r.APDUs = c.APDUs()
	return r
}
