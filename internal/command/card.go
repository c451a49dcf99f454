package command

import (
	"context"
	"crypto"
	"crypto/x509"

	"github.com/eidlink/eidlink/internal/protocol"
)

// Provider finds cards. The PKCS#11 implementation is cryptoki.Provider,
// through Cards.
type Provider interface {
	// Open returns a session on the card to use: the first token that
	// holds an authentication certificate. Errors are *protocol.Error
	// with CodeNoModule, CodeNoReader, CodeNoCard or CodeNoCertificate.
	Open(ctx context.Context) (Card, error)
	// Status reports every module and token, never failing as a whole.
	Status(ctx context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus)
}

// Cards makes a Provider of p, whose Open returns its own card type C:
// the card packages need not import this one to satisfy its interfaces.
func Cards[C Card](p interface {
	Open(context.Context) (C, error)
	Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus)
}) Provider {
	return cards[C]{p}
}

type cards[C Card] struct {
	p interface {
		Open(context.Context) (C, error)
		Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus)
	}
}

func (c cards[C]) Open(ctx context.Context) (Card, error) {
	card, err := c.p.Open(ctx)
	if err != nil {
		return nil, err // never a typed nil in the interface
	}
	return card, nil
}

func (c cards[C]) Status(ctx context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	return c.p.Status(ctx)
}

// Card is an open session on one card.
type Card interface {
	// Info describes the card now: call it again after a failed Login
	// for the tries left.
	Info() protocol.TokenStatus
	// AuthCertificate is the authentication certificate.
	AuthCertificate() *x509.Certificate
	// SigningCertificate is the qualified signature certificate, or the
	// authentication certificate on cards with one key pair (CIE).
	SigningCertificate() *x509.Certificate
	// Login presents pin (nil on a pinpad reader: the holder types it
	// there). A wrong PIN is a *protocol.Error with CodePINIncorrect and
	// TriesLeft; a blocked PIN CodePINBlocked; a pulled card
	// CodeCardRemoved. Login never keeps pin.
	Login(ctx context.Context, pin []byte) error
	// Sign signs digest, made with h, with the private key of cert: a
	// PKCS#1 v1.5 signature for RSA (DigestInfo built by the
	// implementation, mechanism CKM_RSA_PKCS), raw r||s for EC.
	Sign(ctx context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error)
	// Close ends the session (and logs out).
	Close() error
}
