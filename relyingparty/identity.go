package relyingparty

import (
	"crypto/x509"

	"github.com/eidlink/eidlink/internal/eidcert"
)

func identityOf(c *x509.Certificate, kind string) (*Identity, error) {
	h := eidcert.HolderOf(c)
	if h.CodiceFiscale == "" {
		return nil, fail(ReasonIdentity, "the certificate subject %.200q carries no valid codice fiscale (looked in serialNumber and CN)", c.Subject.String())
	}
	return &Identity{GivenName: h.GivenName, Surname: h.Surname, CodiceFiscale: h.CodiceFiscale, CardKind: kind, Certificate: c}, nil
}
