// The SoftHSM2 test cards: the virtual-card tooling of this boundary.

package cryptoki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/miekg/pkcs11"
)

// SoftHSMModule is where Debian's softhsm2 package installs the library.
const SoftHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// TestCardOptions describes the card to create. Empty fields take the defaults
// shown.
type TestCardOptions struct {
	Dir           string       // required
	Type          eidcert.Kind // eidcert.CIE or eidcert.CNS; eidcert.CIE
	PIN           string       // "12345678"
	SOPIN         string       // security officer PIN (the PUK); "87654321"
	GivenName     string       // "MARIO"
	Surname       string       // "ROSSI"
	CodiceFiscale string       // "RSSMRA80A01H501U"
	KeyType       string       // "rsa2048", "p256" or "p384"; "rsa2048"
	Module        string       // SoftHSM2 library; SoftHSMModule
}

// TestCard is the card's non-secret facts, as written to card.json.
type TestCard struct {
	Type          eidcert.Kind `json:"type"`
	TokenLabel    string       `json:"tokenLabel"`
	Holder        string       `json:"holder"`
	GivenName     string       `json:"givenName"`
	Surname       string       `json:"surname"`
	CodiceFiscale string       `json:"codiceFiscale"`
	KeyType       string       `json:"keyType"`
	Module        string       `json:"module"`
	SoftHSM2Conf  string       `json:"softhsm2Conf"`
	CAFile        string       `json:"caFile"`
}

// EnvVar is an environment variable to export to use the card.
type EnvVar struct{ Name, Value string }

// TestCardResult is the card Init created.
type TestCardResult struct {
	TestCard
	Dir      string
	CA       *x509.Certificate
	AuthCert *x509.Certificate
	SignCert *x509.Certificate // CNS only
	// Env makes eidlink and other PKCS#11 applications find the card:
	// SOFTHSM2_CONF and EIDLINK_PKCS11_MODULE.
	Env []EnvVar
}

// Exports renders Env as shell lines "export NAME='value'".
func (r *TestCardResult) Exports() string {
	var b strings.Builder
	for _, e := range r.Env {
		fmt.Fprintf(&b, "export %s='%s'\n", e.Name, strings.ReplaceAll(e.Value, "'", `'\''`))
	}
	return b.String()
}

var curveOIDs = map[string]asn1.ObjectIdentifier{
	"p256": {1, 2, 840, 10045, 3, 1, 7},
	"p384": {1, 3, 132, 0, 34},
}

// ours are the entries Init creates; a directory holding only these may
// be recreated.
var ours = []string{"softhsm2.conf", "tokens", "ca.pem", "card.json"}

func (o *TestCardOptions) defaults() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	if o.Type == "" {
		o.Type = eidcert.CIE
	}
	def(&o.PIN, "12345678")
	def(&o.SOPIN, "87654321")
	def(&o.GivenName, eidcert.TestHolder.GivenName)
	def(&o.Surname, eidcert.TestHolder.Surname)
	def(&o.CodiceFiscale, eidcert.TestHolder.CodiceFiscale)
	def(&o.KeyType, "rsa2048")
	def(&o.Module, SoftHSMModule)
	switch {
	case o.Dir == "":
		return errors.New("testcard: no directory given")
	case o.Type != eidcert.CIE && o.Type != eidcert.CNS:
		return fmt.Errorf("testcard: card type %q is not cie or cns", o.Type)
	case o.KeyType != "rsa2048" && curveOIDs[o.KeyType] == nil:
		return fmt.Errorf("testcard: key type %q is not rsa2048, p256 or p384", o.KeyType)
	case len(o.PIN) < 4 || len(o.PIN) > 64 || len(o.SOPIN) < 4 || len(o.SOPIN) > 64:
		return errors.New("testcard: PIN and SO PIN must be 4 to 64 characters")
	case !eidcert.ValidCodiceFiscale(o.CodiceFiscale):
		return fmt.Errorf("testcard: %q is not a valid codice fiscale (16 upper-case characters, check character last)", o.CodiceFiscale)
	}
	return nil
}

// InitTestCard creates a virtual Italian eID card for development and
// tests: a SoftHSM2 token whose key pair is generated on the token, with a
// CIE- or CNS-shaped authentication certificate (eidcert.Template; a CNS
// also gets a signature key and certificate) issued by a throwaway test
// CA.
//
// It writes into one directory:
//
//	softhsm2.conf  SoftHSM2 configuration (point SOFTHSM2_CONF at it)
//	tokens/        SoftHSM2 token store
//	ca.pem         the test CA certificate (its key is discarded)
//	card.json      the card's non-secret facts (TestCard)
//
// InitTestCard on a directory it filled before recreates the card from scratch
// (new CA, new keys); it refuses a directory holding anything else.
// Certificates are marked as test material in their issuer and never
// chain to a real Italian CA.
//
// It sets SOFTHSM2_CONF while it works (SoftHSM2 reads it at
// initialisation) and restores it before returning, so it must not run
// while this process uses SoftHSM2 elsewhere.
func InitTestCard(o TestCardOptions) (*TestCardResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	r := &TestCardResult{Dir: dir, TestCard: TestCard{
		Type: o.Type, TokenLabel: strings.ToUpper(string(o.Type)),
		Holder: o.GivenName + " " + o.Surname, GivenName: o.GivenName, Surname: o.Surname,
		CodiceFiscale: o.CodiceFiscale, KeyType: o.KeyType, Module: o.Module,
		SoftHSM2Conf: filepath.Join(dir, "softhsm2.conf"), CAFile: filepath.Join(dir, "ca.pem"),
	}}
	r.Env = []EnvVar{{"SOFTHSM2_CONF", r.SoftHSM2Conf}, {"EIDLINK_PKCS11_MODULE", r.Module}}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", filepath.Join(dir, "tokens"))
	if err := os.WriteFile(r.SoftHSM2Conf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	var caKey crypto.Signer
	if r.CA, caKey, err = eidcert.NewTestCA("eidlink Test CA (NOT FOR PRODUCTION)"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(r.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.CA.Raw}), 0o644); err != nil {
		return nil, err
	}
	if err := r.makeToken(o, caKey); err != nil {
		return nil, fmt.Errorf("testcard: %w", err)
	}
	js, err := json.MarshalIndent(r.TestCard, "", "  ")
	if err != nil {
		return nil, err
	}
	return r, os.WriteFile(filepath.Join(dir, "card.json"), append(js, '\n'), 0o644)
}

// prepareDir creates dir or empties one that only holds what Init makes.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(filepath.Join(dir, "tokens"), 0o700)
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !slices.Contains(ours, e.Name()) {
			return fmt.Errorf("testcard: %s holds %s, which testcard did not make: use an empty or new directory", dir, e.Name())
		}
	}
	for _, name := range ours {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
}

// makeToken initialises a SoftHSM2 token and fills it.
func (r *TestCardResult) makeToken(o TestCardOptions, caKey crypto.Signer) error {
	old, had := os.LookupEnv("SOFTHSM2_CONF")
	os.Setenv("SOFTHSM2_CONF", r.SoftHSM2Conf)
	defer func() {
		if had {
			os.Setenv("SOFTHSM2_CONF", old)
		} else {
			os.Unsetenv("SOFTHSM2_CONF")
		}
	}()
	m := pkcs11.New(o.Module)
	if m == nil {
		return fmt.Errorf("cannot load %s: install softhsm2", o.Module)
	}
	defer m.Destroy()
	if err := m.Initialize(); errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return errors.New("SoftHSM2 is already in use in this process: close it before Init")
	} else if err != nil {
		return fmt.Errorf("initialising %s: %w", o.Module, err)
	}
	defer m.Finalize()

	slot, err := initToken(m, r.TokenLabel, o.SOPIN)
	if err != nil {
		return err
	}
	sh, err := m.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return err
	}
	defer m.CloseSession(sh)
	if err := m.Login(sh, pkcs11.CKU_SO, o.SOPIN); err != nil {
		return fmt.Errorf("SO login: %w", err)
	}
	if err := m.InitPIN(sh, o.PIN); err != nil {
		return fmt.Errorf("setting the PIN: %w", err)
	}
	if err := m.Logout(sh); err != nil {
		return err
	}
	if err := m.Login(sh, pkcs11.CKU_USER, o.PIN); err != nil {
		return err
	}
	defer m.Logout(sh)

	h := eidcert.Holder{GivenName: o.GivenName, Surname: o.Surname, CodiceFiscale: o.CodiceFiscale}
	serial := eidcert.TestCardSerial(o.Type, o.CodiceFiscale)
	label := "CIE0"
	if o.Type == eidcert.CNS {
		label = "CNS0"
	}
	if r.AuthCert, err = issue(m, sh, o.KeyType, []byte{1}, label, eidcert.Template(o.Type, h, serial), r.CA, caKey); err != nil {
		return err
	}
	if o.Type == eidcert.CNS {
		sign := eidcert.Template(o.Type, h, serial)
		sign.KeyUsage, sign.ExtKeyUsage, sign.Policies = x509.KeyUsageContentCommitment, nil, nil
		if r.SignCert, err = issue(m, sh, o.KeyType, []byte{2}, "CNS1", sign, r.CA, caKey); err != nil {
			return err
		}
	}
	return nil
}

// initToken initialises the token in SoftHSM2's free slot and returns its
// slot, which SoftHSM2 renumbers on initialisation.
func initToken(m *pkcs11.Ctx, label, soPIN string) (uint, error) {
	slots, err := m.GetSlotList(true)
	if err != nil {
		return 0, err
	}
	free := slices.IndexFunc(slots, func(s uint) bool {
		ti, err := m.GetTokenInfo(s)
		return err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0
	})
	if free < 0 {
		return 0, errors.New("SoftHSM2 has no free slot")
	}
	if err := m.InitToken(slots[free], soPIN, label); err != nil {
		return 0, fmt.Errorf("initialising the token: %w", err)
	}
	if slots, err = m.GetSlotList(true); err != nil {
		return 0, err
	}
	for _, s := range slots {
		if ti, err := m.GetTokenInfo(s); err == nil && ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED != 0 && ti.Label == label {
			return s, nil
		}
	}
	return 0, errors.New("the new token is not in the slot list")
}

// issue generates a key pair on the token with the given CKA_ID and
// label, certifies it with tmpl, and stores the certificate next to it.
func issue(m *pkcs11.Ctx, sh pkcs11.SessionHandle, keyType string, id []byte, label string, tmpl, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, error) {
	pub, err := generateKeyPair(m, sh, keyType, id, label)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, err
	}
	_, err = m.CreateObject(sh, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
		pkcs11.NewAttribute(pkcs11.CKA_ISSUER, cert.RawIssuer),
		pkcs11.NewAttribute(pkcs11.CKA_SERIAL_NUMBER, serial),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
	})
	if err != nil {
		return nil, fmt.Errorf("storing the certificate: %w", err)
	}
	return cert, nil
}

// generateKeyPair makes a key pair on the token; the private key is
// private, sensitive and not extractable, as on a real card.
func generateKeyPair(m *pkcs11.Ctx, sh pkcs11.SessionHandle, keyType string, id []byte, label string) (crypto.PublicKey, error) {
	common := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	priv := slices.Concat(common, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	})
	pub := slices.Concat(common, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)})
	mech := uint(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN)
	if keyType == "rsa2048" {
		pub = append(pub, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	} else {
		params, err := asn1.Marshal(curveOIDs[keyType])
		if err != nil {
			return nil, err
		}
		mech, pub = pkcs11.CKM_EC_KEY_PAIR_GEN, append(pub, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
	}
	pubH, _, err := m.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("generating the %s key: %w", keyType, err)
	}
	return publicKey(m, sh, pubH, keyType)
}

// publicKey reads a public key object back.
func publicKey(m *pkcs11.Ctx, sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, keyType string) (crypto.PublicKey, error) {
	if keyType == "rsa2048" {
		a, err := m.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, err
		}
		e := new(big.Int).SetBytes(a[1].Value)
		return &rsa.PublicKey{N: new(big.Int).SetBytes(a[0].Value), E: int(e.Int64())}, nil
	}
	a, err := m.GetAttributeValue(sh, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, err
	}
	var point []byte
	if _, err := asn1.Unmarshal(a[0].Value, &point); err != nil {
		return nil, fmt.Errorf("CKA_EC_POINT: %w", err)
	}
	curve := elliptic.P256()
	if keyType == "p384" {
		curve = elliptic.P384()
	}
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}
