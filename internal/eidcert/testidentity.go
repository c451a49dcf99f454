package eidcert

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// TestIdentity is a card's key pair, certificate and the test CA that issued
// the certificate.
type TestIdentity struct {
	Kind   Kind // CIE or CNS: the shape of the certificate
	Holder Holder
	Serial string // card serial: 16 digits on a CNS, a document number on a CIE
	Key    *rsa.PrivateKey
	Cert   *x509.Certificate
	CA     *x509.Certificate
}

// NewTestIdentity generates an RSA-2048 key and a certificate shaped like a
// real card's (Template), issued by a new test CA. The card serial
// is TestCardSerial. A codice fiscale that fails
// ValidCodiceFiscale is refused.
func NewTestIdentity(kind Kind, h Holder) (*TestIdentity, error) {
	if !ValidCodiceFiscale(h.CodiceFiscale) {
		return nil, fmt.Errorf("eidcert: %q is not a valid codice fiscale", h.CodiceFiscale)
	}
	ca, caKey, err := NewTestCA("eidlink test CA (NOT FOR PRODUCTION)")
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	id := &TestIdentity{Kind: kind, Holder: h, Serial: TestCardSerial(kind, h.CodiceFiscale), Key: key, CA: ca}
	der, err := x509.CreateCertificate(rand.Reader, Template(kind, h, id.Serial), ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	id.Cert, err = x509.ParseCertificate(der)
	return id, err
}

// Files of a test identity directory.
const (
	KeyFile  = "key.pem"  // PKCS#8 RSA private key
	CertFile = "cert.pem" // the card's certificate
	CAFile   = "ca.pem"   // the test CA's certificate
)

// LoadTestIdentity reads an identity from dir (KeyFile, CertFile, CAFile) and
// takes the holder from the certificate (HolderOf).
func LoadTestIdentity(dir string, kind Kind) (*TestIdentity, error) {
	var blocks [3]*pem.Block
	for i, name := range []string{KeyFile, CertFile, CAFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if blocks[i], _ = pem.Decode(b); blocks[i] == nil {
			return nil, fmt.Errorf("eidcert: %s: no PEM block", name)
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("eidcert: %s: %w", KeyFile, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("eidcert: %s: not an RSA key", KeyFile)
	}
	id := &TestIdentity{Kind: kind, Key: key}
	if id.Cert, err = x509.ParseCertificate(blocks[1].Bytes); err != nil {
		return nil, fmt.Errorf("eidcert: %s: %w", CertFile, err)
	}
	if id.CA, err = x509.ParseCertificate(blocks[2].Bytes); err != nil {
		return nil, fmt.Errorf("eidcert: %s: %w", CAFile, err)
	}
	if !key.PublicKey.Equal(id.Cert.PublicKey) {
		return nil, errors.New("eidcert: the key does not match the certificate")
	}
	id.Holder = HolderOf(id.Cert)
	id.Serial = TestCardSerial(kind, id.Holder.CodiceFiscale)
	return id, nil
}

// Save writes the identity to dir (KeyFile, CertFile, CAFile).
func (id *TestIdentity) Save(dir string) error {
	key, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
	}{{KeyFile, "PRIVATE KEY", key}, {CertFile, "CERTIFICATE", id.Cert.Raw}, {CAFile, "CERTIFICATE", id.CA.Raw}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
	}
	return nil
}
