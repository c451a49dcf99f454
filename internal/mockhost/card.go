package mockhost

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// CardOptions describes the card CreateCard makes. Empty fields take the
// defaults shown, the same as the SoftHSM2 test card's.
type CardOptions struct {
	Kind          string `json:"kind"`          // "cie" or "cns"; "cie"
	PIN           string `json:"pin"`           // "12345678"
	GivenName     string `json:"givenName"`     // "MARIO"
	Surname       string `json:"surname"`       // "ROSSI"
	CodiceFiscale string `json:"codiceFiscale"` // "RSSMRA80A01H501U"
}

// Card is a mock card: a software RSA key and its CIE- or CNS-shaped
// authentication certificate, issued by a test CA whose key is discarded.
// On disk, in one directory: card.json (CardOptions, PIN included: it is
// test material), key.pem, cert.pem and ca.pem (give ca.pem to the
// relying party's verifier).
type Card struct {
	CardOptions
	Dir    string
	Key    *rsa.PrivateKey
	Cert   *x509.Certificate
	CAFile string
}

// Holder is the holder's name as cards show it.
func (c *Card) Holder() string { return c.GivenName + " " + c.Surname }

func (o *CardOptions) defaults() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Kind, "cie")
	def(&o.PIN, "12345678")
	def(&o.GivenName, eidcert.TestHolder.GivenName)
	def(&o.Surname, eidcert.TestHolder.Surname)
	def(&o.CodiceFiscale, eidcert.TestHolder.CodiceFiscale)
	switch {
	case o.Kind != "cie" && o.Kind != "cns":
		return fmt.Errorf("mockhost: card kind %q is not cie or cns", o.Kind)
	case len(o.PIN) < 5 || len(o.PIN) > 8 || strings.Trim(o.PIN, "0123456789") != "" || o.Kind == "cie" && len(o.PIN) != 8:
		return errors.New("mockhost: the PIN must be 8 digits (CIE) or 5 to 8 digits (CNS)")
	case !eidcert.ValidCodiceFiscale(o.CodiceFiscale):
		return fmt.Errorf("mockhost: %q is not a valid codice fiscale", o.CodiceFiscale)
	}
	return nil
}

// CreateCard makes a new mock card in dir (created; existing card files
// are replaced).
func CreateCard(dir string, o CardOptions) (*Card, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, caKey, err := eidcert.NewTestCA("eidlink mock CA (NOT FOR PRODUCTION)")
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	h := eidcert.Holder{GivenName: o.GivenName, Surname: o.Surname, CodiceFiscale: o.CodiceFiscale}
	tmpl := eidcert.Template(o.Kind, h, eidcert.TestCardSerial(o.Kind, o.CodiceFiscale))
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caDER := ca.Raw
	js, _ := json.MarshalIndent(o, "", "  ")
	for name, data := range map[string][]byte{
		"ca.pem":    pemBlock("CERTIFICATE", caDER),
		"cert.pem":  pemBlock("CERTIFICATE", certDER),
		"key.pem":   pemBlock("PRIVATE KEY", mustPKCS8(key)),
		"card.json": append(js, '\n'),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	return LoadCard(dir)
}

// LoadCard reads the card CreateCard wrote in dir.
func LoadCard(dir string) (*Card, error) {
	c := &Card{Dir: dir, CAFile: filepath.Join(dir, "ca.pem")}
	js, err := os.ReadFile(filepath.Join(dir, "card.json"))
	if err != nil {
		return nil, fmt.Errorf("mockhost: no mock card in %s: %w", dir, err)
	}
	if err := json.Unmarshal(js, &c.CardOptions); err != nil {
		return nil, fmt.Errorf("mockhost: %s/card.json: %w", dir, err)
	}
	if err := c.CardOptions.defaults(); err != nil {
		return nil, err
	}
	certDER, err := readPEM(filepath.Join(dir, "cert.pem"), "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	if c.Cert, err = x509.ParseCertificate(certDER); err != nil {
		return nil, fmt.Errorf("mockhost: %s/cert.pem: %w", dir, err)
	}
	keyDER, err := readPEM(filepath.Join(dir, "key.pem"), "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("mockhost: %s/key.pem: %w", dir, err)
	}
	var ok bool
	if c.Key, ok = k.(*rsa.PrivateKey); !ok || !c.Key.PublicKey.Equal(c.Cert.PublicKey) {
		return nil, fmt.Errorf("mockhost: %s/key.pem is not the RSA key of cert.pem", dir)
	}
	return c, nil
}

// sign makes a PKCS#1 v1.5 signature of digest, as a card's CKM_RSA_PKCS
// does over the DigestInfo.
func (c *Card) sign(h crypto.Hash, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, c.Key, h, digest)
}

func readPEM(file, typ string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("mockhost: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("mockhost: %s holds no %s", file, typ)
	}
	return blk.Bytes, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func mustPKCS8(k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	return der
}
