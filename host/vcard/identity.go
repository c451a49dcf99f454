package vcard

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Holder is the person a virtual card belongs to.
type Holder struct {
	GivenName, Surname, CodiceFiscale string
}

// DefaultHolder is the holder of cards made without one.
var DefaultHolder = Holder{"MARIO", "ROSSI", "RSSMRA80A01H501U"}

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

var (
	oidGivenName = asn1.ObjectIdentifier{2, 5, 4, 42}
	oidSurname   = asn1.ObjectIdentifier{2, 5, 4, 4}
	policyCNS    = asn1.ObjectIdentifier{1, 3, 76, 16, 2, 1}
	policyCIE    = asn1.ObjectIdentifier{1, 3, 76, 47, 4}
)

// serialFor derives a stable card serial from the codice fiscale.
func serialFor(kind, cf string) string {
	h := sha256.Sum256([]byte(cf))
	n := new(big.Int).SetBytes(h[:8])
	if kind == "cie" {
		return fmt.Sprintf("CA%05d%c%c", n.Uint64()%100000, 'A'+h[8]%26, 'A'+h[9]%26)
	}
	return fmt.Sprintf("61200%011d", n.Uint64()%100000000000)
}

// NewIdentity generates an RSA-2048 key and a certificate shaped like a
// real card's, issued by a new test CA (ECDSA P-256):
//   - cns: CN "<CF>/<card serial>.<hash>", givenName, surname, policy
//     1.3.76.16.2.1;
//   - cie: CN and serialNumber "TINIT-<CF>", givenName, surname, policy
//     1.3.76.47.4 (the exact CIE subject layout is unconfirmed).
func NewIdentity(kind string, h Holder) (*Identity, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"IT"}, Organization: []string{"eidlink test"}, CommonName: "eidlink test CA for virtual cards"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	id := &Identity{Kind: kind, Holder: h, Serial: serialFor(kind, h.CodiceFiscale), Key: key, CA: ca}
	subject := pkix.Name{
		Country:    []string{"IT"},
		CommonName: h.CodiceFiscale,
		ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidGivenName, Value: h.GivenName}, {Type: oidSurname, Value: h.Surname}},
	}
	policy := policyCIE
	if kind == "cie" {
		subject.SerialNumber = "TINIT-" + h.CodiceFiscale
	} else {
		sum := sha256.Sum256([]byte(h.CodiceFiscale + id.Serial))
		subject.CommonName = h.CodiceFiscale + "/" + id.Serial + "." + base64.StdEncoding.EncodeToString(sum[:16])
		policy = policyCNS
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:     []x509.OID{mustOID(policy)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	id.Cert, err = x509.ParseCertificate(der)
	return id, err
}

func mustOID(o asn1.ObjectIdentifier) x509.OID {
	ints := make([]uint64, len(o))
	for i, v := range o {
		ints[i] = uint64(v)
	}
	oid, err := x509.OIDFromInts(ints)
	if err != nil {
		panic(err)
	}
	return oid
}

// Files of an identity directory.
const (
	KeyFile  = "key.pem"  // PKCS#8 RSA private key
	CertFile = "cert.pem" // the card's certificate
	CAFile   = "ca.pem"   // the test CA's certificate
)

// LoadIdentity reads an identity from dir (KeyFile, CertFile, CAFile) and
// takes the holder from the certificate's subject.
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
	for _, n := range id.Cert.Subject.Names {
		s, _ := n.Value.(string)
		switch {
		case n.Type.Equal(oidGivenName):
			id.Holder.GivenName = s
		case n.Type.Equal(oidSurname):
			id.Holder.Surname = s
		}
	}
	id.Holder.CodiceFiscale, _, _ = strings.Cut(id.Cert.Subject.CommonName, "/")
	id.Serial = serialFor(kind, id.Holder.CodiceFiscale)
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
