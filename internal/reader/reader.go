// Package reader joins eidlink's two views of a card: PC/SC, which sees
// readers, ATRs and what the chip says without a PIN, and PKCS#11, which
// sees the tokens of the installed card software. It names the card in each
// reader, the module that serves it and, when that module is missing, what
// to install.
package reader

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eidlink/eidlink/internal/bounded"
	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
)

// establish opens the PC/SC context; tests replace it.
var establish = pcsc.Establish

// triesBound bounds the PC/SC part of Tries: a login must not wait long for
// a counter it can do without.
const triesBound = 5 * time.Second

// Scan reports every reader and its card. modules and tokens are what the
// PKCS#11 side found (token.Provider.Status). The string is empty when
// PC/SC works, else why it does not and what to do.
func Scan(ctx context.Context, modules []protocol.ModuleStatus, tokens []protocol.TokenStatus) ([]protocol.ReaderStatus, string) {
	return ScanKnown(ctx, modules, tokens, nil)
}

// ScanKnown is Scan with known, which tells whether a driver read the
// card in a reader already (the native CIE driver) and returns its
// authentication certificate (nil when the card shows it only after the
// PIN): that card is not read again, as reading it in clear would end the
// secure session the driver may hold on it.
func ScanKnown(ctx context.Context, modules []protocol.ModuleStatus, tokens []protocol.TokenStatus, known func(pcsc.ReaderState) (*x509.Certificate, bool)) ([]protocol.ReaderStatus, string) {
	c, err := establish(ctx)
	if err != nil {
		return nil, problem(err)
	}
	defer c.Release()
	states, err := pcsc.Snapshot(ctx, c)
	if errors.Is(err, pcsc.ErrNoReaders) {
		return []protocol.ReaderStatus{}, ""
	}
	if err != nil {
		return nil, problem(err)
	}
	readers := make([]protocol.ReaderStatus, 0, len(states))
	for _, s := range states {
		r := protocol.ReaderStatus{Name: s.Reader, CardPresent: s.Event&pcsc.StatePresent != 0}
		if r.CardPresent {
			var cert *x509.Certificate
			read := false
			if known != nil {
				cert, read = known(s)
			}
			describe(ctx, c, &r, s.ATR, cert, read, modules, tokens)
		}
		readers = append(readers, r)
	}
	return readers, ""
}

func problem(err error) string {
	if e := unavailable(err); e != nil {
		return e.Message
	}
	return "PC/SC: " + err.Error()
}

// unavailable returns the error for a PC/SC service that is down or does
// not answer, nil for any other err. Commands and status say the same: one
// cause, one code (CodePCSCUnavailable) and one message.
func unavailable(err error) *protocol.Error {
	var msg string
	switch {
	case errors.Is(err, pcsc.ErrNoService):
		msg = "the smart-card service (pcscd) is not running: start it (Linux: systemctl start pcscd.socket)"
	case errors.Is(err, pcsc.ErrNotAnswering):
		msg = "the smart-card service (pcscd) is not answering: restart it (Linux: systemctl restart pcscd)"
	default:
		return nil
	}
	return &protocol.Error{Code: protocol.CodePCSCUnavailable, Message: msg, Err: err}
}

// Check says, as PC/SC sees it, why no card could be used; cause is why
// the card software found none. It returns an error with
// CodePCSCUnavailable when the service is down or does not answer,
// CodeNoReader when no reader is connected, CodeNoCard when no reader holds
// a card, and a retryable CodeCardInUse when another program holds the
// card: with an exclusive connection (the card software then sees no
// token), or with a transaction, which the card software waits behind
// until it gives up (cause is then a call without an answer, and PC/SC
// sees the card in use). With a card present and free, a card software
// that does not answer is a retryable CodeCardError (its call may still
// end), not "no card". It returns nil when a reader holds a card that is
// free, or PC/SC fails in another way.
func Check(ctx context.Context, cause error) error {
	c, err := establish(ctx)
	var states []pcsc.ReaderState
	if err == nil {
		states, err = pcsc.Snapshot(ctx, c)
		c.Release()
	}
	if e := unavailable(err); e != nil {
		return e
	}
	if errors.Is(err, pcsc.ErrNoReaders) {
		return &protocol.Error{Code: protocol.CodeNoReader, Message: "no smart-card reader is connected: connect one (a CIE needs a contactless reader)", Err: err}
	}
	if err != nil {
		return nil
	}
	mute := bounded.NoAnswer(cause)
	present := false
	for _, s := range states {
		if !s.Event.Has(pcsc.StatePresent) {
			continue
		}
		present = true
		if s.Event.Has(pcsc.StateExclusive) || mute && s.Event.Has(pcsc.StateInUse) {
			e := &protocol.Error{Code: protocol.CodeCardInUse, Message: "the card is in use by another program: close it or try again", Retryable: true,
				Err: fmt.Errorf("reader %q: state %#x (exclusive %#x, in use %#x): %w", s.Reader, uint32(s.Event), uint32(pcsc.StateExclusive), uint32(pcsc.StateInUse), pcsc.ErrSharingViolation)}
			if cause != nil {
				e.Err = fmt.Errorf("%w; the card software: %w", e.Err, cause)
			}
			return e
		}
	}
	if present && mute {
		return &protocol.Error{Code: protocol.CodeCardError, Message: "the card software does not answer: try again, or remove and reinsert the card", Retryable: true, Err: cause}
	}
	if present {
		return nil
	}
	return protocol.Errorf(protocol.CodeNoCard, "no card in the reader: insert the CNS, or lay the CIE on the contactless reader")
}

// describe fills in what the card in r is and who serves it.
func describe(ctx context.Context, c pcsc.Context, r *protocol.ReaderStatus, atr []byte, known *x509.Certificate, read bool, modules []protocol.ModuleStatus, tokens []protocol.TokenStatus) {
	info := card.Identify(atr)
	r.ATR, r.Family, r.CardKind, r.Contactless = info.ATRHex(), info.Name, string(info.Kind), info.Contactless
	if known != nil {
		h := eidcert.HolderOf(known)
		r.Holder, r.CodiceFiscale = h.Name(), h.CodiceFiscale
	}
	if h, err := c.Connect(ctx, r.Name); err == nil {
		r.Pinpad = card.Pinpad(h)
		if info.Kind != eidcert.Unknown && !read {
			if pub, err := card.ReadPublic(h, info.Kind); err == nil {
				r.Holder = pub.Holder.Name()
				r.CodiceFiscale = pub.Holder.CodiceFiscale
			}
		}
		h.Disconnect()
	}
	r.Module, r.Problem = chooseModule(info.Kind, r.Name, modules, tokens)
}

// chooseModule names the PKCS#11 module for a card of kind in reader: the
// one whose token sits in that reader's slot, else the first installed
// module that serves the kind (configured modules come first in modules).
func chooseModule(kind eidcert.Kind, reader string, modules []protocol.ModuleStatus, tokens []protocol.TokenStatus) (module, problem string) {
	for _, t := range tokens {
		if sameReader(t.SlotDesc, reader) {
			return t.Module, ""
		}
	}
	for _, m := range modules {
		if !m.Present || m.Error != "" {
			continue
		}
		if m.Name == protocol.ModuleNativeCIE {
			if kind == eidcert.CIE {
				return m.Name, ""
			}
			continue
		}
		ipzs := m.Name == protocol.ModuleIPZS
		if kind == eidcert.CIE && ipzs || kind == eidcert.CNS && !ipzs {
			return m.Path, ""
		}
	}
	switch kind {
	case eidcert.CIE:
		return "", "CIE found but the CIE software is not installed: install the CIE middleware (IPZS) from cartaidentita.interno.gov.it, then run eidlink doctor"
	case eidcert.CNS:
		return "", "CNS found but no card software for it is installed: install your card's middleware or OpenSC (apt-get install opensc)"
	}
	return "", "this card is not a CIE or a CNS"
}

// sameReader matches a PKCS#11 slot description (padded, sometimes
// prefixed or truncated to 64 characters) to a PC/SC reader name.
func sameReader(slotDesc, reader string) bool {
	d := strings.TrimSpace(slotDesc)
	return d != "" && (d == reader || strings.HasPrefix(reader, d) || strings.HasSuffix(d, reader))
}

// Tries asks the CNS in the reader a PKCS#11 slot describes how many PIN
// tries it has left (VERIFY without data answers 63Cx), without using one.
// It returns -1 when it cannot tell: another kind of card, no card, a card
// that does not say, or a PC/SC service that does not answer in time.
func Tries(slotDesc string) int {
	ctx, cancel := context.WithTimeout(context.Background(), triesBound)
	defer cancel()
	c, err := establish(ctx)
	if err != nil {
		return -1
	}
	defer c.Release()
	names, _ := c.ListReaders(ctx)
	for _, name := range names {
		if !sameReader(slotDesc, name) {
			continue
		}
		h, err := c.Connect(ctx, name)
		if err != nil {
			continue
		}
		n := -1
		if atr, err := h.ATR(); err == nil && card.Identify(atr).Kind == eidcert.CNS {
			n = cnsTries(h)
		}
		h.Disconnect()
		return n
	}
	return -1
}

// cnsTries selects the master file and sends VERIFY with no data for the
// CNS user PIN (reference 10, or 90 on cards that want the local bit).
func cnsTries(h pcsc.Card) int {
	n := -1
	pcsc.WithTransaction(h, func() error {
		if _, err := pcsc.Exchange(h, []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00}); err != nil {
			return err
		}
		for _, ref := range []byte{0x10, 0x90} {
			_, err := pcsc.Exchange(h, []byte{0x00, 0x20, 0x00, ref})
			var ae *pcsc.AuthError
			switch {
			case errors.As(err, &ae):
				n = ae.Retries
				return nil
			case errors.Is(err, pcsc.ErrBlocked):
				n = 0
				return nil
			}
		}
		return nil
	})
	return n
}
