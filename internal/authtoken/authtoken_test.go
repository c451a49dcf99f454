package authtoken

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/relyingparty"
)

// softCard signs like a card, with a software key.
type softCard struct{ key crypto.Signer }

func (c softCard) Sign(_ context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	return eidcert.SignDigest(c.key, h, digest)
}

// TestCreateVerifies: the tokens the host makes, for each key kind a card
// has, are what the relying party's verifier accepts.
func TestCreateVerifies(t *testing.T) {
	ca, caKey, err := eidcert.NewTestCA("Test CA")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const origin, nonce = "https://servizi.example.it", "MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI="
	for _, c := range []struct {
		kind eidcert.Kind
		key  crypto.Signer
		alg  relyingparty.Algorithm
	}{
		{eidcert.CIE, rsaKey, "RS256"},
		{eidcert.CNS, mustEC(t, elliptic.P256()), "ES256"},
		{eidcert.CNS, mustEC(t, elliptic.P384()), "ES384"},
		{eidcert.CIE, mustEC(t, elliptic.P521()), "ES512"},
	} {
		der, err := x509.CreateCertificate(rand.Reader, eidcert.Template(c.kind, eidcert.TestHolder, "61200000000001"), ca, c.key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		tok, err := Create(context.Background(), cert, softCard{c.key}, origin, nonce, "https://eidlink.it/test")
		if err != nil {
			t.Fatal(err)
		}
		if tok.Algorithm != c.alg || tok.Format != relyingparty.TokenFormat || tok.AppVersion != "https://eidlink.it/test" {
			t.Errorf("%s: token %+v", c.alg, tok)
		}
		data, _ := json.Marshal(tok)
		id, err := v.Verify(context.Background(), data, origin, nonce)
		if err != nil {
			t.Fatalf("%s: %v", c.alg, err)
		}
		if id.CodiceFiscale != eidcert.TestHolder.CodiceFiscale || id.CardKind != string(c.kind) {
			t.Errorf("%s: identity %+v", c.alg, id)
		}
		if _, err := v.Verify(context.Background(), data, origin+":8443", nonce); relyingparty.ReasonOf(err) != relyingparty.ReasonSignature {
			t.Errorf("%s: the token verified for another origin: %v", c.alg, err)
		}
	}
}

func mustEC(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
