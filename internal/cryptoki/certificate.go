package cryptoki

import (
	"crypto/x509"

	"github.com/eidlink/eidlink/internal/eidcert"
)

type role int

const (
	roleNone role = iota
	roleAuth
	roleSign
)

// classify tells what a certificate on a token is for: authentication
// when it has the IPZS label "CIE0" (a CIE's only key pair), else
// signature when it carries nonRepudiation, else authentication when it
// has digitalSignature or no key usage at all. CA certificates are for
// neither.
func classify(c *x509.Certificate, label string) role {
	switch {
	case c.IsCA:
		return roleNone
	case label == "CIE0":
		return roleAuth
	case c.KeyUsage&x509.KeyUsageContentCommitment != 0:
		return roleSign
	case c.KeyUsage == 0, c.KeyUsage&x509.KeyUsageDigitalSignature != 0:
		return roleAuth
	}
	return roleNone
}

// cardKind tells a CIE from a CNS by the authentication certificate's
// policies (eidcert.Kind), then by the token's manufacturer or label.
func cardKind(c *x509.Certificate, manufacturer, label string) eidcert.Kind {
	if k := eidcert.KindOf(c); k != "" {
		return k
	}
	if cieToken(manufacturer, label) {
		return eidcert.CIE
	}
	return eidcert.Unknown
}
