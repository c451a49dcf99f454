package relyingparty

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"
)

// TestChainsAgreeWithX509: for a card of an issuer whose chain the
// verifier keeps, the kept chain decides as x509.Verify does, whatever is
// wrong with the card or its CAs.
func TestChainsAgreeWithX509(t *testing.T) {
	p := getPKI()
	key := func() crypto.Signer {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	mustIssue := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
		c, err := issue(tmpl, pub, parent, signer)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(cn string, edit func(*x509.Certificate)) *x509.Certificate {
		tmpl := caTemplate(cn)
		if edit != nil {
			edit(tmpl)
		}
		return tmpl
	}
	card := func(edit func(*x509.Certificate)) *x509.Certificate {
		tmpl := cieTemplate()
		if edit != nil {
			edit(tmpl)
		}
		return tmpl
	}
	subKey, otherKey := key(), key()
	sub := mustIssue(ca("Test Sub CA", nil), p.ca, subKey.Public(), p.caKey)
	shortSub := mustIssue(ca("Test Short Sub CA", func(c *x509.Certificate) { c.NotAfter = testNow.Add(time.Hour) }), p.ca, subKey.Public(), p.caKey)
	constrainedSub := mustIssue(ca("Test Constrained Sub CA", func(c *x509.Certificate) {
		c.PermittedDNSDomains = []string{"example.it"}
	}), p.ca, subKey.Public(), p.caKey)
	critical := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}

	for _, c := range []struct {
		name   string
		issuer *x509.Certificate // of both cards
		key    crypto.Signer     // issuer's key
		second *x509.Certificate // the card verified after a first good one
		forged bool              // second is signed by another key in the issuer's name
		at     time.Time
		kept   bool // the first card's chain is kept
	}{
		{name: "a second card of the root", issuer: p.ca, key: p.caKey, second: card(nil), kept: true},
		{name: "a second card of the sub CA", issuer: sub, key: subKey, second: card(nil), kept: true},
		{name: "a card signed by another key in the sub CA's name", issuer: sub, key: subKey, second: card(nil), forged: true, kept: true},
		{name: "the sub CA expired", issuer: shortSub, key: subKey, second: card(nil), at: testNow.Add(2 * time.Hour), kept: true},
		{name: "an unhandled critical extension", issuer: sub, key: subKey, second: card(func(c *x509.Certificate) { c.ExtraExtensions = []pkix.Extension{critical} }), kept: true},
		{name: "requireExplicitPolicy 0 on the card", issuer: sub, key: subKey, second: card(func(c *x509.Certificate) { c.RequireExplicitPolicyZero = true }), kept: true},
		{name: "the card names its issuer", issuer: sub, key: subKey, second: card(func(c *x509.Certificate) { c.Subject = sub.Subject }), kept: true},
		{name: "a name outside the sub CA's constraints", issuer: constrainedSub, key: subKey, second: card(func(c *x509.Certificate) { c.DNSNames = []string{"evil.example"} }), kept: false},
		{name: "a name inside the sub CA's constraints", issuer: constrainedSub, key: subKey, second: card(func(c *x509.Certificate) { c.DNSNames = []string{"www.example.it"} }), kept: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			intermediates := x509.NewCertPool()
			intermediates.AddCert(c.issuer)
			ch := newChains(p.roots(), intermediates)
			first := mustIssue(card(nil), c.issuer, p.rsaKey.Public(), c.key)
			if _, err := ch.verify(first, testNow); err != nil {
				t.Fatalf("first card: %v", err)
			}
			if kept := len(ch.above) > 0; kept != c.kept {
				t.Fatalf("chain kept: %v, want %v", kept, c.kept)
			}
			signer, key := c.issuer, c.key
			if c.forged {
				key = otherKey
				signer = mustIssue(ca(c.issuer.Subject.CommonName, nil), nil, key.Public(), key)
				if !bytes.Equal(signer.RawSubject, c.issuer.RawSubject) {
					t.Fatal("the forger's CA has another name")
				}
			}
			second := mustIssue(c.second, signer, p.rsaKey.Public(), key)
			at := c.at
			if at.IsZero() {
				at = testNow
			}
			_, want := second.Verify(x509.VerifyOptions{Roots: p.roots(), Intermediates: intermediates, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			issuer, got := ch.verify(second, at)
			if (got == nil) != (want == nil) {
				t.Fatalf("kept chain: %v; x509.Verify: %v", got, want)
			}
			if got == nil && !issuer.Equal(c.issuer) {
				t.Errorf("issuer %s, want %s", issuer.Subject, c.issuer.Subject)
			}
			t.Logf("x509.Verify: %v", want)
		})
	}
}

// TestChainsBounded: chains are kept for at most maxIssuers issuers.
func TestChainsBounded(t *testing.T) {
	p := getPKI()
	ch := newChains(p.roots(), nil)
	for i := range maxIssuers + 3 {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		sub, err := issue(caTemplate("Sub CA "+string(rune('A'+i))), k.Public(), p.ca, p.caKey)
		if err != nil {
			t.Fatal(err)
		}
		ch.opts.Intermediates = x509.NewCertPool()
		ch.opts.Intermediates.AddCert(sub)
		c, err := issue(cieTemplate(), p.rsaKey.Public(), sub, k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.verify(c, testNow); err != nil {
			t.Fatal(err)
		}
	}
	if len(ch.above) != maxIssuers {
		t.Errorf("%d issuers kept, want %d", len(ch.above), maxIssuers)
	}
}

// TestChainsRenewedCA: a CA renewed under the same name with a new key
// gets its own kept chain, and the old one still serves its cards.
func TestChainsRenewedCA(t *testing.T) {
	p := getPKI()
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	oldCA, err := issue(caTemplate("Test Sub CA"), oldKey.Public(), p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	newCA, err := issue(caTemplate("Test Sub CA"), newKey.Public(), p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	intermediates := x509.NewCertPool()
	intermediates.AddCert(oldCA)
	intermediates.AddCert(newCA)
	ch := newChains(p.roots(), intermediates)
	for i, c := range []struct {
		ca  *x509.Certificate
		key crypto.Signer
	}{{oldCA, oldKey}, {newCA, newKey}, {oldCA, oldKey}, {newCA, newKey}} {
		card, err := issue(cieTemplate(), p.rsaKey.Public(), c.ca, c.key)
		if err != nil {
			t.Fatal(err)
		}
		issuer, err := ch.verify(card, testNow)
		if err != nil || !issuer.Equal(c.ca) {
			t.Fatalf("card %d: issuer %v, error %v", i, issuer != nil && issuer.Equal(newCA), err)
		}
	}
	if kept := ch.above[string(oldCA.RawSubject)]; len(kept) != 2 {
		t.Errorf("%d chains kept for the CA's name, want 2", len(kept))
	}
}
