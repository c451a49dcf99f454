package cryptoki_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/testenv"
)

func TestInit(t *testing.T) {
	testenv.NeedSoftHSM(t)
	for _, tc := range []struct {
		opts   cryptoki.TestCardOptions
		policy string
	}{
		{cryptoki.TestCardOptions{}, "1.3.76.47.4"},
		{cryptoki.TestCardOptions{Type: eidcert.CNS, KeyType: "p256", PIN: "54321", GivenName: "ANNA", Surname: "BIANCHI", CodiceFiscale: "BNCNNA85M41F205Q"}, "1.3.76.16.2.1"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			tc.opts.Dir = t.TempDir()
			r, err := cryptoki.InitTestCard(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			o := tc.opts
			if o.Type == "" {
				o = cryptoki.TestCardOptions{Type: eidcert.CIE, PIN: "12345678", GivenName: "MARIO", Surname: "ROSSI", CodiceFiscale: "RSSMRA80A01H501U"}
			}
			checkFiles(t, r)
			checkCertificates(t, r, o, tc.policy)
			checkToken(t, r, o)
		})
	}
}

func checkFiles(t *testing.T, r *cryptoki.TestCardResult) {
	js, err := os.ReadFile(filepath.Join(r.Dir, "card.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c cryptoki.TestCard
	if err := json.Unmarshal(js, &c); err != nil || c != r.TestCard {
		t.Errorf("card.json = %s (%v), want %+v", js, err, r.TestCard)
	}
	conf, err := os.ReadFile(r.SoftHSM2Conf)
	if err != nil || !strings.Contains(string(conf), filepath.Join(r.Dir, "tokens")) {
		t.Errorf("softhsm2.conf = %q, %v", conf, err)
	}
	want := "export SOFTHSM2_CONF='" + r.SoftHSM2Conf + "'\nexport EIDLINK_PKCS11_MODULE='" + cryptoki.SoftHSMModule + "'\n"
	if got := r.Exports(); got != want {
		t.Errorf("Exports() = %q, want %q", got, want)
	}
}

func checkCertificates(t *testing.T, r *cryptoki.TestCardResult, o cryptoki.TestCardOptions, policy string) {
	pemCA, err := os.ReadFile(r.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemCA)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.Equal(r.CA) || !strings.Contains(ca.Subject.CommonName, "NOT FOR PRODUCTION") {
		t.Fatalf("ca.pem: %v, subject %s", err, ca.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := r.AuthCert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("auth certificate does not chain to ca.pem: %v", err)
	}
	s := r.AuthCert.Subject
	if o.Type == eidcert.CIE && s.SerialNumber != "TINIT-"+o.CodiceFiscale || !slices.Equal(s.Country, []string{"IT"}) ||
		!strings.HasPrefix(s.CommonName, o.CodiceFiscale) || attr(s, 42) != o.GivenName || attr(s, 4) != o.Surname {
		t.Errorf("auth subject = %s", s)
	}
	if o.Type == eidcert.CNS && !strings.HasPrefix(s.CommonName, o.CodiceFiscale+"/") {
		t.Errorf("CNS CN = %q, want CF/serial.hash", s.CommonName)
	}
	if len(r.AuthCert.Policies) != 1 || r.AuthCert.Policies[0].String() != policy {
		t.Errorf("policies = %v, want %s", r.AuthCert.Policies, policy)
	}
	if r.AuthCert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("auth key usage = %v", r.AuthCert.KeyUsage)
	}
	if (r.SignCert != nil) != (o.Type == eidcert.CNS) {
		t.Fatalf("signature certificate present = %v for %s", r.SignCert != nil, o.Type)
	}
	if r.SignCert != nil {
		if _, err := r.SignCert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("signature certificate does not chain: %v", err)
		}
		if r.SignCert.KeyUsage != x509.KeyUsageContentCommitment {
			t.Errorf("signature key usage = %v", r.SignCert.KeyUsage)
		}
	}
}

// attr returns the subject attribute 2.5.4.n.
func attr(s pkix.Name, n int) string {
	for _, a := range s.Names {
		if a.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, n}) {
			v, _ := a.Value.(string)
			return v
		}
	}
	return ""
}

func checkToken(t *testing.T, r *cryptoki.TestCardResult, o cryptoki.TestCardOptions) {
	t.Setenv("SOFTHSM2_CONF", r.SoftHSM2Conf)
	p := cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{{Name: "SoftHSM2", Path: r.Module}}})
	defer p.Close()
	ctx := context.Background()
	c, err := p.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info := c.Info()
	if info.Label != r.TokenLabel || info.CardKind != string(o.Type) || info.Holder != o.GivenName+" "+o.Surname ||
		info.CodiceFiscale != o.CodiceFiscale || !info.HasAuthKey || info.HasSignKey != (o.Type == eidcert.CNS) {
		t.Errorf("Info() = %+v", info)
	}
	if !c.AuthCertificate().Equal(r.AuthCert) {
		t.Error("the token's authentication certificate is not the one Init made")
	}
	if err := c.Login(ctx, []byte(o.PIN)); err != nil {
		t.Fatal(err)
	}
	certs := []*x509.Certificate{r.AuthCert}
	if r.SignCert != nil {
		certs = append(certs, r.SignCert)
		if !c.SigningCertificate().Equal(r.SignCert) {
			t.Error("SigningCertificate is not the CNS signature certificate")
		}
	}
	digest := sha256.Sum256([]byte("eidlink"))
	for _, cert := range certs {
		sig, err := c.Sign(ctx, cert, crypto.SHA256, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		switch pub := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
		case *ecdsa.PublicKey:
			n := len(sig) / 2
			if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
				err = os.ErrInvalid
			}
		}
		if err != nil {
			t.Errorf("signature by %s does not verify: %v", cert.Subject.CommonName, err)
		}
	}
}

func TestInitRecreatesOwnDirOnly(t *testing.T) {
	testenv.NeedSoftHSM(t)
	dir := t.TempDir()
	first, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: dir, KeyType: "p256"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: dir, KeyType: "p256"})
	if err != nil {
		t.Fatalf("Init on its own directory: %v", err)
	}
	if first.CA.Equal(second.CA) {
		t.Error("Init on an existing card directory kept the old CA")
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "notes.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: foreign}); err == nil || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("Init on a foreign directory: err = %v, want a refusal naming notes.txt", err)
	}
	for _, o := range []cryptoki.TestCardOptions{{Dir: dir, Type: "cnx"}, {Dir: dir, KeyType: "rsa1024"}, {Dir: dir, PIN: "12"}, {Dir: dir, CodiceFiscale: "rssmra80a01h501u"}, {Dir: dir, CodiceFiscale: "RSSMRA80A01H501A"}, {}} {
		if _, err := cryptoki.InitTestCard(o); err == nil {
			t.Errorf("Init(%+v) succeeded", o)
		}
	}
}
