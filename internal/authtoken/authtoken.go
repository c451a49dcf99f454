// Package authtoken creates and decodes web-eid:1.0 authentication tokens.
//
// The token proves possession of the card's authentication key for one
// origin and one challenge nonce. The signed data is
//
//	H(origin) || H(nonce)
//
// where H is the hash function of the token's algorithm, origin is the
// UTF-8 web origin ("https://host[:port]") as the browser reports it and
// nonce is the challenge nonce's base64 text exactly as the server sent it.
// RSA keys sign RS256 (PKCS#1 v1.5 with SHA-256). EC keys sign ES256 on
// P-256 and ES384 on P-384, and the signature is the raw r||s pair, each
// half as long as the curve's order.
package authtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"

	"github.com/eidlink/eidlink/internal/protocol"
)

// Algorithm names a token signature algorithm and its hash.
type Algorithm struct {
	Name string      // "RS256", "ES256", "ES384", "ES512", "PS256"
	Hash crypto.Hash // the H in H(origin) || H(nonce)
}

var algorithms = map[string]Algorithm{
	"RS256": {"RS256", crypto.SHA256},
	"RS384": {"RS384", crypto.SHA384},
	"RS512": {"RS512", crypto.SHA512},
	"PS256": {"PS256", crypto.SHA256},
	"PS384": {"PS384", crypto.SHA384},
	"PS512": {"PS512", crypto.SHA512},
	"ES256": {"ES256", crypto.SHA256},
	"ES384": {"ES384", crypto.SHA384},
	"ES512": {"ES512", crypto.SHA512},
}

// LookupAlgorithm returns the algorithm with the given token name.
func LookupAlgorithm(name string) (Algorithm, bool) {
	a, ok := algorithms[name]
	return a, ok
}

// AlgorithmFor returns the algorithm eidlink signs with for pub: RS256 for
// RSA, ES256/ES384/ES512 for EC keys by curve.
func AlgorithmFor(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return algorithms["RS256"], nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return algorithms["ES256"], nil
		case elliptic.P384():
			return algorithms["ES384"], nil
		case elliptic.P521():
			return algorithms["ES512"], nil
		}
		return Algorithm{}, fmt.Errorf("authtoken: unsupported curve %s", k.Curve.Params().Name)
	}
	return Algorithm{}, fmt.Errorf("authtoken: unsupported public key type %T", pub)
}

// Digest returns the hash, under h, of H(origin) || H(nonce): the value
// the card signs.
func Digest(h crypto.Hash, origin, nonce string) []byte {
	return hashOf(h, Message(h, origin, nonce))
}

// Message returns H(origin) || H(nonce), the message the signature covers.
func Message(h crypto.Hash, origin, nonce string) []byte {
	return append(hashOf(h, []byte(origin)), hashOf(h, []byte(nonce))...)
}

func hashOf(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

// Signer signs a digest with a card's private key. RSA keys return a
// PKCS#1 v1.5 signature; EC keys return raw r||s.
type Signer interface {
	Sign(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error)
}

// Create signs origin and nonce with s, whose certificate is cert, and
// returns the token. appVersion is the host's version URL, e.g.
// "https://eidlink.it/eidlink-host/1.2.3".
func Create(ctx context.Context, cert *x509.Certificate, s Signer, origin, nonce, appVersion string) (*protocol.AuthToken, error) {
	alg, err := AlgorithmFor(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(ctx, alg.Hash, Digest(alg.Hash, origin, nonce))
	if err != nil {
		return nil, err
	}
	return &protocol.AuthToken{
		UnverifiedCertificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:             alg.Name,
		Signature:             base64.StdEncoding.EncodeToString(sig),
		Format:                protocol.TokenFormat,
		AppVersion:            appVersion,
	}, nil
}
