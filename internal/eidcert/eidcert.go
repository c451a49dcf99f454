// Package eidcert describes the certificates of Italian eID cards (CIE,
// CNS): their policies, the holder's identity in the subject, and, for
// virtual cards, certificates of the same shape.
//
// One rule reads the holder everywhere (the token, the card reader, the
// relying party's verifier): the codice fiscale is the subject
// serialNumber without its optional "TINIT-" or "IT:" prefix, else the
// common name up to the first "/" (CNS: "CF/serial.hash"), and it counts
// only when it passes ValidCodiceFiscale, check character included. No
// caller is lenient: a card whose code failed the check would show a
// codice fiscale that no site accepts, so HolderOf leaves it out (the
// name still shows), and the makers of virtual cards refuse such a code.
package eidcert

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

// Kind is the kind of card, as protocol.TokenStatus.CardKind names it:
// "cie", "cns" or "unknown".
type Kind string

// Card kinds.
const (
	CIE     Kind = "cie"
	CNS     Kind = "cns"
	Unknown Kind = "unknown"
)

// Certificate policies of the authentication certificates.
var (
	PolicyCIE = mustOID(1, 3, 76, 47, 4)
	PolicyCNS = mustOID(1, 3, 76, 16, 2, 1)
)

// Subject attributes of the holder's names.
var (
	OIDGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	OIDSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
)

func mustOID(arcs ...uint64) x509.OID {
	o, err := x509.OIDFromInts(arcs)
	if err != nil {
		panic(err)
	}
	return o
}

// KindOf returns CIE or CNS by the first of c's policies that is
// PolicyCIE or PolicyCNS or lies under one of them, else "".
func KindOf(c *x509.Certificate) Kind {
	under := func(p, root x509.OID) bool {
		s, r := p.String(), root.String()
		return s == r || strings.HasPrefix(s, r+".")
	}
	for _, p := range c.Policies {
		switch {
		case under(p, PolicyCIE):
			return CIE
		case under(p, PolicyCNS):
			return CNS
		}
	}
	return ""
}

// Holder is the person a card's certificate names.
type Holder struct {
	GivenName     string `json:"givenName,omitempty"`
	Surname       string `json:"surname,omitempty"`
	CodiceFiscale string `json:"codiceFiscale,omitempty"`
}

// Name returns "GivenName Surname", either of them possibly missing.
func (h Holder) Name() string { return strings.TrimSpace(h.GivenName + " " + h.Surname) }

// HolderOf reads the holder from c's subject: the first givenName and
// surname attributes, and the codice fiscale by the rule of the package
// documentation. Missing parts are empty.
func HolderOf(c *x509.Certificate) Holder {
	var h Holder
	for _, a := range c.Subject.Names {
		s, _ := a.Value.(string)
		switch {
		case a.Type.Equal(OIDGivenName) && h.GivenName == "":
			h.GivenName = s
		case a.Type.Equal(OIDSurname) && h.Surname == "":
			h.Surname = s
		}
	}
	sn := strings.ToUpper(strings.TrimSpace(c.Subject.SerialNumber))
	cn, _, _ := strings.Cut(c.Subject.CommonName, "/")
	for _, cf := range []string{strings.TrimPrefix(strings.TrimPrefix(sn, "TINIT-"), "IT:"), strings.ToUpper(strings.TrimSpace(cn))} {
		if ValidCodiceFiscale(cf) {
			h.CodiceFiscale = cf
			break
		}
	}
	return h
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
