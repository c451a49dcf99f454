// Package authtoken makes web-eid:1.0 authentication tokens with a card.
// The token format, its algorithms and the signed data are defined once, in
// package relyingparty (Token, Algorithm), which verifies what this
// package makes.
package authtoken

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"

	"github.com/eidlink/eidlink/relyingparty"
)

// Signer signs a digest with a card's private key. RSA keys return a
// PKCS#1 v1.5 signature; EC keys return raw r||s.
type Signer interface {
	Sign(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error)
}

// Create signs origin and nonce with s, whose certificate is cert, and
// returns the token. appVersion is the host's version URL, e.g.
// "https://eidlink.it/eidlink-host/1.2.3".
func Create(ctx context.Context, cert *x509.Certificate, s Signer, origin, nonce, appVersion string) (*relyingparty.Token, error) {
	alg, err := relyingparty.AlgorithmFor(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(ctx, alg.Hash(), alg.Digest(origin, nonce))
	if err != nil {
		return nil, err
	}
	return &relyingparty.Token{
		UnverifiedCertificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:             alg,
		Signature:             base64.StdEncoding.EncodeToString(sig),
		Format:                relyingparty.TokenFormat,
		AppVersion:            appVersion,
	}, nil
}
