package eidcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"
)

// TestHolder is the holder of virtual cards made without one.
var TestHolder = Holder{GivenName: "MARIO", Surname: "ROSSI", CodiceFiscale: "RSSMRA80A01H501U"}

// TestOrganization is the O of every test CA's subject, which the
// certificate auto-selection for the demo sites filters on.
const TestOrganization = "eidlink test"

// NewTestCA makes a self-signed ECDSA P-256 CA, valid for ten years, to
// issue the certificates of virtual cards. Its subject is commonName,
// O=TestOrganization, C=IT.
func NewTestCA(commonName string) (*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{TestOrganization}, Country: []string{"IT"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

// TestCardSerial derives a stable card serial from a codice fiscale: a CNS
// gets 16 digits, a CIE a document number "CA00000AA".
func TestCardSerial(kind Kind, cf string) string {
	h := sha256.Sum256([]byte(cf))
	n := binary.BigEndian.Uint64(h[:8])
	if kind == CIE {
		return fmt.Sprintf("CA%05d%c%c", n%100000, 'A'+h[8]%26, 'A'+h[9]%26)
	}
	return fmt.Sprintf("61200%011d", n%100000000000)
}

// Template is the authentication certificate of a card of the kind (CNS,
// else CIE) for h, valid for three years, with a random serial number:
//   - CIE: CN "<CF>", serialNumber "TINIT-<CF>", givenName, surname, C=IT,
//     policy PolicyCIE (the real CIE subject layout is unconfirmed);
//   - CNS: CN "<CF>/<cardSerial>.<hash>" (the hash stands in for the
//     real cards' opaque suffix), givenName, surname, C=IT, policy
//     PolicyCNS.
//
// Key usage is digitalSignature, extended key usage clientAuth. A CNS's
// signature certificate is the same with key usage nonRepudiation (x509's
// KeyUsageContentCommitment) and neither extended key usage nor policy.
func Template(kind Kind, h Holder, cardSerial string) *x509.Certificate {
	now := time.Now()
	t := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			Country: []string{"IT"}, CommonName: h.CodiceFiscale, SerialNumber: "TINIT-" + h.CodiceFiscale,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: OIDGivenName, Value: h.GivenName}, {Type: OIDSurname, Value: h.Surname}},
		},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(3, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:    []x509.OID{PolicyCIE},
	}
	if kind == CNS {
		cn := h.CodiceFiscale + "/" + cardSerial
		sum := sha1.Sum([]byte(cn))
		t.Subject.CommonName, t.Subject.SerialNumber = cn+"."+base64.StdEncoding.EncodeToString(sum[:]), ""
		t.Policies = []x509.OID{PolicyCNS}
	}
	return t
}

// SignDigest signs digest, hashed with h, with key as a card does:
// PKCS#1 v1.5 for RSA, r || s for ECDSA, each half as long as the curve's
// order.
func SignDigest(key crypto.Signer, h crypto.Hash, digest []byte) ([]byte, error) {
	k, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return key.Sign(rand.Reader, digest, h)
	}
	r, s, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, err
	}
	n := (k.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	return sig, nil
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
