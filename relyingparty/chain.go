package relyingparty

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"slices"
	"sync"
	"time"
)

// chains verifies that card certificates chain to the trust anchors.
//
// A site's tokens come from a handful of issuing CAs. Once x509.Verify has
// built and checked a chain for one card, the chain's CAs (the issuer up
// to a trust anchor) are kept for the next card of the same issuer, which
// then needs only its own signature checked and those CAs' validity at the
// time: not the chain built again and every CA's signature verified again
// (with a two-level chain, an issuing CA under a root, one RSA
// verification fewer per login).
// Kept are only chains in which no certificate constrains names or
// policies, so that what x509.Verify found for the CAs holds for any card
// they issue; whatever the kept CAs cannot settle goes to x509.Verify.
type chains struct {
	opts x509.VerifyOptions // all but CurrentTime

	mu    sync.RWMutex
	above map[string][][]*x509.Certificate // by the issuer's RawSubject: CAs from the issuer up
}

// maxIssuers bounds the chains kept. Only chains to the trust anchors are
// kept, so the CAs the trust anchors certify bound them anyway.
const maxIssuers = 64

func newChains(roots, intermediates *x509.CertPool) *chains {
	return &chains{
		opts: x509.VerifyOptions{
			Roots:         roots,
			Intermediates: intermediates,
			// The card's extended key usage is checked by the verifier;
			// CA certificates are not required to list clientAuth.
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		},
		above: map[string][][]*x509.Certificate{},
	}
}

// verify returns the issuer of card if card chains to the trust anchors
// at now, else x509.Verify's error.
func (c *chains) verify(card *x509.Certificate, now time.Time) (*x509.Certificate, error) {
	c.mu.RLock()
	kept := c.above[string(card.RawIssuer)]
	c.mu.RUnlock()
	for _, cas := range kept {
		if ski := cas[0].SubjectKeyId; len(ski) > 0 && len(card.AuthorityKeyId) > 0 && !bytes.Equal(ski, card.AuthorityKeyId) {
			continue // another key of the same CA name
		}
		if settles(cas, card, now) {
			return cas[0], nil
		}
	}
	opts := c.opts
	opts.CurrentTime = now
	found, err := card.Verify(opts)
	if err != nil {
		return nil, err
	}
	chain := found[0]
	if len(chain) == 1 { // card is itself a trust anchor
		return card, nil
	}
	if !slices.ContainsFunc(chain, constrains) {
		c.keep(string(card.RawIssuer), chain[1:])
	}
	return chain[1], nil
}

// keep adds cas to the chains kept for their issuer, unless they are kept
// already or the bounds are reached (a few chains per issuer: a CA
// renewed with the same name, cross-certified).
func (c *chains) keep(issuer string, cas []*x509.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.above[issuer]
	if len(kept) >= 4 || kept == nil && len(c.above) >= maxIssuers ||
		slices.ContainsFunc(kept, func(k []*x509.Certificate) bool { return slices.EqualFunc(k, cas, (*x509.Certificate).Equal) }) {
		return
	}
	c.above[issuer] = append(slices.Clip(kept), cas) // readers keep the old slice
}

// settles reports whether cas, a chain that x509.Verify accepted for
// another card, proves card's chain at now, as x509.Verify would find it:
// card names no constraints and no critical extension x509 does not
// handle, is not one of the CAs (x509 refuses to put a certificate twice
// in a chain), is valid at now as the CAs are, and cas[0] signed it.
func settles(cas []*x509.Certificate, card *x509.Certificate, now time.Time) bool {
	if len(card.UnhandledCriticalExtensions) > 0 || constrains(card) || !validAt(card, now) {
		return false
	}
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, card.RawSubject) || !validAt(ca, now) {
			return false
		}
	}
	return card.CheckSignatureFrom(cas[0]) == nil
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

// Extensions that make a chain's verdict depend on the certificates below
// a CA (RFC 5280 4.2.1.10, 4.2.1.5, 4.2.1.11, 4.2.1.14).
var (
	oidNameConstraints   = asn1.ObjectIdentifier{2, 5, 29, 30}
	oidPolicyMappings    = asn1.ObjectIdentifier{2, 5, 29, 33}
	oidPolicyConstraints = asn1.ObjectIdentifier{2, 5, 29, 36}
	oidInhibitAnyPolicy  = asn1.ObjectIdentifier{2, 5, 29, 54}
)

func constrains(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidNameConstraints) || e.Id.Equal(oidPolicyMappings) || e.Id.Equal(oidPolicyConstraints) || e.Id.Equal(oidInhibitAnyPolicy) {
			return true
		}
	}
	return false
}
