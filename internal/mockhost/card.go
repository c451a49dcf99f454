package mockhost

import (
	"crypto"
	"crypto/rsa"
	"encoding/json"
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
	Kind          eidcert.Kind `json:"kind"`          // "cie" or "cns"; "cie"
	PIN           string       `json:"pin"`           // "12345678"
	GivenName     string       `json:"givenName"`     // "MARIO"
	Surname       string       `json:"surname"`       // "ROSSI"
	CodiceFiscale string       `json:"codiceFiscale"` // "RSSMRA80A01H501U"
}

// Card is a mock card: a software RSA key and its CIE- or CNS-shaped
// authentication certificate, issued by a test CA whose key is discarded.
// On disk, in one directory: card.json (CardOptions, PIN included: it is
// test material) and the eidcert test identity files (give ca.pem to the
// relying party's verifier).
type Card struct {
	CardOptions
	Identity *eidcert.TestIdentity
	Dir      string
	CAFile   string
}

// Holder is the holder's name as cards show it.
func (c *Card) Holder() string { return c.GivenName + " " + c.Surname }

func (o *CardOptions) defaults() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if o.Kind == "" {
		o.Kind = eidcert.CIE
	}
	def(&o.PIN, "12345678")
	def(&o.GivenName, eidcert.TestHolder.GivenName)
	def(&o.Surname, eidcert.TestHolder.Surname)
	def(&o.CodiceFiscale, eidcert.TestHolder.CodiceFiscale)
	switch {
	case o.Kind != eidcert.CIE && o.Kind != eidcert.CNS:
		return fmt.Errorf("mockhost: card kind %q is not cie or cns", o.Kind)
	case len(o.PIN) < 5 || len(o.PIN) > 8 || strings.Trim(o.PIN, "0123456789") != "" || o.Kind == eidcert.CIE && len(o.PIN) != 8:
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
	id, err := eidcert.NewTestIdentity(o.Kind, eidcert.Holder{GivenName: o.GivenName, Surname: o.Surname, CodiceFiscale: o.CodiceFiscale})
	if err != nil {
		return nil, err
	}
	if err := id.Save(dir); err != nil {
		return nil, err
	}
	js, _ := json.MarshalIndent(o, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "card.json"), append(js, '\n'), 0o600); err != nil {
		return nil, err
	}
	return LoadCard(dir)
}

// LoadCard reads the card CreateCard wrote in dir.
func LoadCard(dir string) (*Card, error) {
	c := &Card{Dir: dir, CAFile: filepath.Join(dir, eidcert.CAFile)}
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
	if c.Identity, err = eidcert.LoadTestIdentity(dir, c.Kind); err != nil {
		return nil, fmt.Errorf("mockhost: %s: %w", dir, err)
	}
	return c, nil
}

// sign makes a PKCS#1 v1.5 signature of digest, as a card's CKM_RSA_PKCS
// does over the DigestInfo.
func (c *Card) sign(h crypto.Hash, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, c.Identity.Key, h, digest)
}
