package cie

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
)

// ModuleName names the native driver where status lists card software.
const ModuleName = protocol.ModuleNativeCIE

// Provider finds CIEs in the PC/SC readers for the command loop (it
// satisfies command.Provider through command.Cards). A Token keeps its
// PC/SC connection, and so its secure session, until Close.
type Provider struct{}

// ErrNoCIE is Open's error when no reader holds a CIE.
var ErrNoCIE = protocol.Errorf(protocol.CodeNoCard, "no CIE in the readers")

// Open connects to the first CIE in the readers and reads its
// certificate.
func (p *Provider) Open(ctx context.Context) (*Token, error) {
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		return nil, ErrNoCIE // no PC/SC: the PKCS#11 modules may still serve a card
	}
	readers, err := pc.ListReaders(ctx)
	if err != nil {
		pc.Release()
		return nil, ErrNoCIE
	}
	for _, r := range readers {
		h, err := pc.Connect(ctx, r)
		if err != nil {
			continue
		}
		if atr, err := h.ATR(); err != nil || card.Identify(atr).Kind != eidcert.CIE {
			h.Disconnect()
			continue
		}
		c, err := New(h)
		if err == nil {
			var der []byte
			if der, err = c.Certificate(); err == nil {
				var cert *x509.Certificate
				if cert, err = x509.ParseCertificate(der); err == nil {
					t := &Token{c: c, h: h, pc: pc, reader: r, cert: cert, tries: -1}
					// The tries left, spending none; the secure session
					// opened for it serves the login that follows.
					if n, err := c.TriesLeft(); err == nil {
						t.tries = n
					}
					return t, nil
				}
			}
			c.Close()
		}
		h.Disconnect()
		pc.Release()
		return nil, protoErr(err)
	}
	pc.Release()
	return nil, ErrNoCIE
}

// Status lists the driver as a module and, without touching the cards
// (status must not disturb a session), no tokens: the reader scan names
// the CIEs.
func (p *Provider) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	return []protocol.ModuleStatus{{Name: ModuleName, Source: "builtin", Present: true, Loaded: true,
		Library: "eidlink " + protocol.Version}}, nil
}

// Token is an open CIE for the command loop (command.Card).
type Token struct {
	c      *Card
	h      pcsc.Card
	pc     pcsc.Context
	reader string
	cert   *x509.Certificate
	tries  int // -1: not known yet
}

// Info describes the card; the PIN is always all 8 digits.
func (t *Token) Info() protocol.TokenStatus {
	h := eidcert.HolderOf(t.cert)
	return protocol.TokenStatus{Module: ModuleName, SlotDesc: t.reader, Label: "CIE", Manufacturer: t.c.Family.Vendor,
		Model: t.c.Family.Name, CardKind: string(eidcert.CIE), Holder: h.Name(), CodiceFiscale: h.CodiceFiscale,
		HasAuthKey: true, HasSignKey: true, TriesLeft: t.tries, PINLocked: t.tries == 0,
		MinPINLength: 8, MaxPINLength: 8, PINPart: "full"}
}

// AuthCertificate is the certificate of EF 1003.
func (t *Token) AuthCertificate() *x509.Certificate { return t.cert }

// SigningCertificate is the same: a CIE has one key pair.
func (t *Token) SigningCertificate() *x509.Certificate { return t.cert }

// Login verifies the full PIN once.
func (t *Token) Login(_ context.Context, pin []byte) error {
	if pin == nil {
		return protocol.Errorf(protocol.CodePINFormat, "the CIE needs all 8 digits of the PIN")
	}
	err := t.c.Login(pin)
	var ae *pcsc.AuthError
	if errors.As(err, &ae) {
		t.tries = ae.Retries
	} else if err == nil {
		t.tries = 3
	}
	return protoErr(err)
}

// Sign signs a digest made with h (RSA PKCS#1 v1.5: the driver builds the
// DigestInfo, the card pads it).
func (t *Token) Sign(_ context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error) {
	if !cert.Equal(t.cert) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "the CIE holds no key for that certificate")
	}
	if h.Size() != len(digest) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "digest of %d bytes for %v", len(digest), h)
	}
	sig, err := t.c.Sign(cryptoki.DigestInfo(h, digest))
	return sig, protoErr(err)
}

// Close ends the session and the connection.
func (t *Token) Close() error {
	err := t.c.Close()
	t.h.Disconnect()
	t.pc.Release()
	return err
}

// protoErr gives an error of the driver its protocol code.
func protoErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	var ae *pcsc.AuthError
	code := protocol.CodeCardError
	var tries *int
	switch {
	case errors.As(err, &ae) && ae.Retries > 0:
		code, tries = protocol.CodePINIncorrect, &ae.Retries
	case errors.Is(err, pcsc.ErrBlocked):
		code = protocol.CodePINBlocked
	case errors.Is(err, ErrPINFormat):
		code = protocol.CodePINFormat
	case errors.Is(err, pcsc.ErrCardRemoved), errors.Is(err, pcsc.ErrNoCard):
		code = protocol.CodeCardRemoved
	case errors.Is(err, pcsc.ErrNoReaders):
		code = protocol.CodeNoReader
	case errors.Is(err, pcsc.ErrNoService), errors.Is(err, pcsc.ErrNotAnswering):
		code = protocol.CodePCSCUnavailable
	case errors.Is(err, pcsc.ErrSharingViolation):
		code = protocol.CodeCardInUse
	case errors.Is(err, ErrLoginRequired), errors.Is(err, iasecc.ErrMAC), errors.Is(err, iasecc.ErrSMFormat):
		code = protocol.CodeCardError
	}
	return &protocol.Error{Code: code, Message: fmt.Sprintf("%v (%s)", err, Hint(err)), TriesLeft: tries, Err: err}
}
