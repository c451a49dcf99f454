package verify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)

func identityOf(c *x509.Certificate, kind string) (*Identity, error) {
	cf := codiceFiscaleOf(c.Subject)
	if cf == "" {
		return nil, fail(ReasonIdentity, "the certificate subject %.200q carries no valid codice fiscale (looked in serialNumber and CN)", c.Subject.String())
	}
	return &Identity{
		GivenName:     attribute(c.Subject, oidGivenName),
		Surname:       attribute(c.Subject, oidSurname),
		CodiceFiscale: cf,
		CardKind:      kind,
		Certificate:   c,
	}, nil
}

// codiceFiscaleOf finds the holder's codice fiscale in the subject
// serialNumber ("TINIT-CF", "IT:CF" or "CF") or the common name ("CF" or
// "CF/serial.hash").
func codiceFiscaleOf(n pkix.Name) string {
	sn := strings.ToUpper(strings.TrimSpace(n.SerialNumber))
	sn = strings.TrimPrefix(strings.TrimPrefix(sn, "TINIT-"), "IT:")
	cn, _, _ := strings.Cut(n.CommonName, "/")
	for _, cf := range []string{sn, strings.ToUpper(strings.TrimSpace(cn))} {
		if ValidCodiceFiscale(cf) {
			return cf
		}
	}
	return ""
}

func attribute(n pkix.Name, oid asn1.ObjectIdentifier) string {
	for _, a := range n.Names {
		if s, ok := a.Value.(string); ok && a.Type.Equal(oid) {
			return s
		}
	}
	return ""
}

// oddValues are the values of 0-9 / A-Z (same row) in the odd positions
// (1st, 3rd, ... 15th) of a codice fiscale. In even positions a digit is
// worth itself and a letter its index in the alphabet.
var oddValues = [26]int{1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23}

// ValidCodiceFiscale reports whether cf is a person's 16-character codice
// fiscale in upper case, with a valid month letter and check character.
// Omocodia (digits replaced by the letters LMNPQRSTUV) is accepted.
func ValidCodiceFiscale(cf string) bool {
	const shape = "LLLLLLDDMDDLDDDL" // L letter, D digit or omocodia letter, M month
	if len(cf) != len(shape) || strings.IndexByte("ABCDEHLMPRST", cf[8]) < 0 {
		return false
	}
	sum := 0
	for i := range len(shape) - 1 {
		c := cf[i]
		var v int
		switch {
		case c >= '0' && c <= '9' && shape[i] == 'D':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z' && (shape[i] != 'D' || strings.IndexByte("LMNPQRSTUV", c) >= 0):
			v = int(c - 'A')
		default:
			return false
		}
		if i%2 == 0 {
			v = oddValues[v]
		}
		sum += v
	}
	return cf[15] == byte('A'+sum%26)
}
