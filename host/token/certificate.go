package token

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// Card kinds, as in protocol.TokenStatus.CardKind.
const (
	KindCIE     = "cie"
	KindCNS     = "cns"
	KindUnknown = "unknown"
)

// Certificate policy OIDs of the Italian eID cards.
var (
	PolicyCIE = asn1.ObjectIdentifier{1, 3, 76, 47, 4}
	PolicyCNS = asn1.ObjectIdentifier{1, 3, 76, 16, 2, 1}
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
// policies, then by the token's manufacturer or label.
func cardKind(c *x509.Certificate, manufacturer, label string) string {
	for _, p := range c.Policies {
		switch s := p.String(); {
		case s == PolicyCIE.String() || strings.HasPrefix(s, PolicyCIE.String()+"."):
			return KindCIE
		case s == PolicyCNS.String() || strings.HasPrefix(s, PolicyCNS.String()+"."):
			return KindCNS
		}
	}
	if manufacturer == "IPZS" || label == "CIE" {
		return KindCIE
	}
	return KindUnknown
}

var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)

// holderFromCertificate reads the holder's name ("GIVEN SURNAME") and
// codice fiscale from the subject: the codice fiscale is the serialNumber
// without its "TINIT-" or "IT:" prefix, else the CN up to "/" (CNS), else
// the CN itself. Either result is empty when the subject lacks it.
func holderFromCertificate(c *x509.Certificate) (name, cf string) {
	var given, surname string
	for _, n := range c.Subject.Names {
		v, _ := n.Value.(string)
		switch {
		case n.Type.Equal(oidGivenName) && given == "":
			given = v
		case n.Type.Equal(oidSurname) && surname == "":
			surname = v
		}
	}
	name = strings.TrimSpace(given + " " + surname)
	sn := strings.TrimPrefix(strings.TrimPrefix(c.Subject.SerialNumber, "TINIT-"), "IT:")
	cn, _, _ := strings.Cut(c.Subject.CommonName, "/")
	for _, s := range []string{sn, cn} {
		if isCodiceFiscale(s) {
			return name, s
		}
	}
	return name, ""
}

// isCodiceFiscale checks the shape of a personal codice fiscale: 16
// upper-case letters and digits, starting with six letters and ending
// with a letter (digits may be letters after omocodia).
func isCodiceFiscale(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		if !letter && (!digit || i < 6 || i == 15) {
			return false
		}
	}
	return true
}
