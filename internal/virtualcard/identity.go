package virtualcard

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// Holder is the person a virtual card belongs to.
type Holder = eidcert.Holder

// DefaultHolder is the holder of cards made without one.
var DefaultHolder = eidcert.TestHolder

// Identity is a card's key pair, certificate and the test CA that issued
// the certificate.
type Identity struct {
	Kind   string // "cie" or "cns": the shape of the certificate
	Holder Holder
	Serial string // card serial: 16 digits on a CNS, a document number on a CIE
	Key    *rsa.PrivateKey
	Cert   *x509.Certificate
	CA     *x509.Certificate
}

// NewIdentity generates an RSA-2048 key and a certificate shaped like a
// real card's (eidcert.Template), issued by a new test CA. The card serial
// is eidcert.TestCardSerial. A codice fiscale that fails
// eidcert.ValidCodiceFiscale is refused.
func NewIdentity(kind string, h Holder) (*Identity, error) {
	if !eidcert.ValidCodiceFiscale(h.CodiceFiscale) {
		return nil, fmt.Errorf("vcard: %q is not a valid codice fiscale", h.CodiceFiscale)
	}
	ca, caKey, err := eidcert.NewTestCA("eidlink test CA for virtual cards")
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	id := &Identity{Kind: kind, Holder: h, Serial: eidcert.TestCardSerial(kind, h.CodiceFiscale), Key: key, CA: ca}
	der, err := x509.CreateCertificate(rand.Reader, eidcert.Template(kind, h, id.Serial), ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	id.Cert, err = x509.ParseCertificate(der)
	return id, err
}

// Files of an identity directory.
const (
	KeyFile  = "key.pem"  // PKCS#8 RSA private key
	CertFile = "cert.pem" // the card's certificate
	CAFile   = "ca.pem"   // the test CA's certificate
)

// LoadIdentity reads an identity from dir (KeyFile, CertFile, CAFile) and
// takes the holder from the certificate (eidcert.HolderOf).
func LoadIdentity(dir, kind string) (*Identity, error) {
	var blocks [3]*pem.Block
	for i, name := range []string{KeyFile, CertFile, CAFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if blocks[i], _ = pem.Decode(b); blocks[i] == nil {
			return nil, fmt.Errorf("vcard: %s: no PEM block", name)
		}
	}
	k, err := x509.ParsePKCS8PrivateKey(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("vcard: %s: %w", KeyFile, err)
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("vcard: %s: not an RSA key", KeyFile)
	}
	id := &Identity{Kind: kind, Key: key}
	if id.Cert, err = x509.ParseCertificate(blocks[1].Bytes); err != nil {
		return nil, fmt.Errorf("vcard: %s: %w", CertFile, err)
	}
	if id.CA, err = x509.ParseCertificate(blocks[2].Bytes); err != nil {
		return nil, fmt.Errorf("vcard: %s: %w", CAFile, err)
	}
	if !key.PublicKey.Equal(id.Cert.PublicKey) {
		return nil, errors.New("vcard: the key does not match the certificate")
	}
	id.Holder = eidcert.HolderOf(id.Cert)
	id.Serial = eidcert.TestCardSerial(kind, id.Holder.CodiceFiscale)
	return id, nil
}

// Save writes the identity to dir (KeyFile, CertFile, CAFile).
func (id *Identity) Save(dir string) error {
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
