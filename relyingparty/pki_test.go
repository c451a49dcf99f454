package relyingparty

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// A test PKI: a CA as the trust anchor, an unknown CA, and card keys.
// Keys are made once per test binary; certificates are cheap to make.
type testPKI struct {
	ca, unknownCA       *x509.Certificate
	caKey, unknownCAKey crypto.Signer
	rsaKey              *rsa.PrivateKey   // RSA-2048 card key
	ecKey, ecKey2       *ecdsa.PrivateKey // P-384, P-256 card keys
	cie, cns            *x509.Certificate // RSA CIE-shaped, P-384 CNS-shaped
}

const (
	testOrigin     = "https://servizi.example.it"
	testAppVersion = "https://eidlink.it/eidlink-host/0.0.0-test"
)

var testNow = time.Now().UTC().Truncate(time.Second)

var getPKI = sync.OnceValue(func() *testPKI {
	p := &testPKI{}
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var err error
	p.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	p.caKey = caKey
	p.unknownCAKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	p.ecKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	p.ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	p.ca, err = issue(caTemplate("Test CA Cittadini"), caKey.Public(), nil, caKey)
	must(err)
	p.unknownCA, err = issue(caTemplate("Unknown CA"), p.unknownCAKey.Public(), nil, p.unknownCAKey)
	must(err)
	p.cie, err = issue(cieTemplate(), p.rsaKey.Public(), p.ca, p.caKey)
	must(err)
	p.cns, err = issue(cnsTemplate(), p.ecKey.Public(), p.ca, p.caKey)
	must(err)
	return p
})

func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{Country: []string{"IT"}, Organization: []string{"eidlink test"}, CommonName: cn},
		NotBefore:             testNow.AddDate(-5, 0, 0),
		NotAfter:              testNow.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// cieTemplate is a CIE-shaped authentication certificate: codice fiscale in
// serialNumber, given name and surname attributes, CIE policy.
func cieTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{
			Country: []string{"IT"}, Organization: []string{"Ministero dell'Interno"},
			CommonName: "MARIO ROSSI", SerialNumber: "TINIT-RSSMRA80A01H501U",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: eidcert.OIDGivenName, Value: "MARIO"}, {Type: eidcert.OIDSurname, Value: "ROSSI"}},
		},
		NotBefore:   testNow.AddDate(-1, 0, 0),
		NotAfter:    testNow.AddDate(9, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:    []x509.OID{PolicyCIE},
	}
}

// cnsTemplate is a CNS-shaped authentication certificate: CN is
// "CF/serial.hash", CNS policy, no extended key usage.
func cnsTemplate() *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{
			Country: []string{"IT"}, Organization: []string{"Regione Test"},
			CommonName: "MSRNTN77H15C351X/6120016461039008.Kx5f3Q==",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: eidcert.OIDGivenName, Value: "ANTONIO"}, {Type: eidcert.OIDSurname, Value: "MASARI"}},
		},
		NotBefore: testNow.AddDate(-1, 0, 0),
		NotAfter:  testNow.AddDate(5, 0, 0),
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		Policies:  []x509.OID{mustOID(1, 3, 76, 16, 6), PolicyCNS},
	}
}

func mustOID(arcs ...uint64) x509.OID {
	o, err := x509.OIDFromInts(arcs)
	if err != nil {
		panic(err)
	}
	return o
}

// issue signs tmpl for pub with parent's key (self-signed when parent is nil).
func issue(tmpl *x509.Certificate, pub crypto.PublicKey, parent *x509.Certificate, key crypto.Signer) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// leaf issues a CIE-shaped certificate for pub from the test CA, after edit.
func (p *testPKI) leaf(t testing.TB, pub crypto.PublicKey, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := cieTemplate()
	if edit != nil {
		edit(tmpl)
	}
	c, err := issue(tmpl, pub, p.ca, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *testPKI) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

func (p *testPKI) verifier(t testing.TB, edit func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Roots: p.roots(), Now: func() time.Time { return testNow }}
	if edit != nil {
		edit(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func signDigest(key crypto.Signer, h crypto.Hash, pss bool, digest []byte) ([]byte, error) {
	if pss {
		return rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	return eidcert.SignDigest(key, h, digest)
}

// tokenFields signs origin and nonce with key under any algorithm name
// (matching the key or not) and returns the token's fields for editing.
func tokenFields(t testing.TB, cert *x509.Certificate, key crypto.Signer, alg, origin, nonce string) map[string]any {
	t.Helper()
	a := Algorithm(alg)
	if a.Hash() == 0 {
		t.Fatalf("unknown algorithm %s", alg)
	}
	sig, err := signDigest(key, a.Hash(), alg[0] == 'P', a.Digest(origin, nonce))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{
		"unverifiedCertificate": base64.StdEncoding.EncodeToString(cert.Raw),
		"algorithm":             alg,
		"signature":             base64.StdEncoding.EncodeToString(sig),
		"format":                "web-eid:1.0",
		"appVersion":            testAppVersion,
	}
}

func encode(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// createToken makes the token eidlink makes for cert and its key.
// (internal/authtoken, which the host makes tokens with, is tested against
// the verifier in its own package.)
func createToken(t testing.TB, cert *x509.Certificate, key crypto.Signer, origin, nonce string) []byte {
	t.Helper()
	b, err := makeToken(cert, key, origin, nonce)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func makeToken(cert *x509.Certificate, key crypto.Signer, origin, nonce string) ([]byte, error) {
	alg, err := AlgorithmFor(cert.PublicKey)
	if err != nil {
		return nil, err
	}
	sig, err := signDigest(key, alg.Hash(), false, alg.Digest(origin, nonce))
	if err != nil {
		return nil, err
	}
	return json.Marshal(Token{
		UnverifiedCertificate: base64.StdEncoding.EncodeToString(cert.Raw),
		Algorithm:             alg,
		Signature:             base64.StdEncoding.EncodeToString(sig),
		Format:                TokenFormat,
		AppVersion:            testAppVersion,
	})
}

func randomNonce() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
