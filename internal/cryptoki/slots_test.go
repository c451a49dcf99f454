package cryptoki

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/eidlink/eidlink/internal/protocol"
)

// Slots lists every slot of the module, the card's authentication
// certificate in the one that holds it; OpenSlot opens that very card.
func TestSlots(t *testing.T) {
	r := newCard(t, TestCardOptions{Type: "cns", PIN: "54321"})
	p := newProvider(t, softhsm)
	slots := p.Slots(ctx)
	var withCard []Slot
	for _, s := range slots {
		if s.Card != nil {
			withCard = append(withCard, s)
		}
	}
	// SoftHSM2 also lists an empty slot for the next token.
	if len(slots) < 2 || len(withCard) != 1 {
		t.Fatalf("Slots() = %+v, want the card and an empty slot", slots)
	}
	sc := withCard[0].Card
	if !sc.Cert.Equal(r.AuthCert) || sc.Info.Holder != "MARIO ROSSI" || !sc.RawRSA {
		t.Fatalf("card = %+v, want the authentication certificate (not the signature one) and raw RSA", sc)
	}
	again := p.Slots(ctx)
	for i := range slots {
		if again[i].Key != slots[i].Key {
			t.Fatalf("slot keys changed: %q, then %q", slots[i].Key, again[i].Key)
		}
	}
	c, err := p.OpenSlot(ctx, withCard[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.AuthCertificate().Equal(r.AuthCert) {
		t.Fatal("OpenSlot opened another card")
	}
	if err := c.Login(ctx, []byte("54321")); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("tls 1.3 transcript"))
	pub := r.AuthCert.PublicKey.(*rsa.PublicKey)
	em := pssBlock(t, pub, digest[:])
	sig, err := c.SignRaw(ctx, r.AuthCert, em)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}); err != nil {
		t.Fatalf("raw RSA over an EMSA-PSS block: %v", err)
	}
	if _, err := c.SignRaw(ctx, r.AuthCert, em[1:]); err == nil {
		t.Error("SignRaw took a block shorter than the modulus")
	}
	for _, key := range []string{"", softhsm + "\x00nothing\x000", "/no/such/module\x00x\x000"} {
		_, err := p.OpenSlot(ctx, key)
		wantCode(t, err, protocol.CodeNoReader)
	}
}

// pssBlock is the EMSA-PSS encoding of digest for pub (salt as long as
// the hash), made with the public key's inverse: a signature by a
// software key, opened with the public exponent.
func pssBlock(t *testing.T, pub *rsa.PublicKey, digest []byte) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, pub.N.BitLen())
	if err != nil {
		t.Fatal(err)
	}
	sig, err := rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest, &rsa.PSSOptions{SaltLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	return rawPublic(&k.PublicKey, sig)
}

func rawPublic(pub *rsa.PublicKey, sig []byte) []byte {
	c := new(big.Int).SetBytes(sig)
	m := c.Exp(c, big.NewInt(int64(pub.E)), pub.N)
	return m.FillBytes(make([]byte, pub.Size()))
}
