package eidcert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
)

func TestValidCodiceFiscale(t *testing.T) {
	for _, c := range []struct {
		cf   string
		want bool
	}{
		{"RSSMRA80A01H501U", true}, // eidlink's default test identity: U is its check character
		{"MSRNTN77H15C351X", true}, // from a CNS certificate CN
		{"RSSMRA85T10A562S", true},
		{"BNCNNA85M41F205Q", true},
		{"RSSMRA80A01H5LMX", true}, // omocodia: 01 -> LM, check recomputed
		{"RSSMRA80A01H501A", false},
		{"BNCNNA85M41F205X", false},
		{"RSSMRA80A01H501", false},
		{"RSSMRA80A01H501UX", false},
		{"rssmra80a01h501u", false}, // lower case
		{"RSSMRA80Z01H501U", false}, // Z is no month
		{"RSSMRA8XA01H501U", false}, // X is no omocodia letter
		{"RSS1RA80A01H501U", false}, // digit where a letter goes
		{"RSSMRALMNPQRSTUV", false}, // N is no month
		{"", false},
	} {
		if got := eidcert.ValidCodiceFiscale(c.cf); got != c.want {
			t.Errorf("ValidCodiceFiscale(%q) = %v, want %v", c.cf, got, c.want)
		}
	}
}

// subject is a subject with CN, serialNumber and then pairs of "GN" or
// "SN" and a value.
func subject(cn, serial string, names ...string) pkix.Name {
	n := pkix.Name{CommonName: cn, SerialNumber: serial}
	for i := 0; i+1 < len(names); i += 2 {
		oid := eidcert.OIDGivenName
		if names[i] == "SN" {
			oid = eidcert.OIDSurname
		}
		n.Names = append(n.Names, pkix.AttributeTypeAndValue{Type: oid, Value: names[i+1]})
	}
	return n
}

func TestHolderOf(t *testing.T) {
	for _, c := range []struct {
		subject  pkix.Name
		name, cf string
	}{
		{subject("RSSMRA80A01H501U", "TINIT-RSSMRA80A01H501U", "GN", "MARIO", "SN", "ROSSI"), "MARIO ROSSI", "RSSMRA80A01H501U"},
		{subject("MARIO ROSSI", "IT:RSSMRA80A01H501U", "SN", "ROSSI"), "ROSSI", "RSSMRA80A01H501U"},
		{subject("", "tinit-rssmra80a01h501u", "GN", "MARIO", "GN", "LUIGI"), "MARIO", "RSSMRA80A01H501U"},
		{subject("RSSMRA80A01H501U", "CA00000AA"), "", "RSSMRA80A01H501U"},
		{subject(" rssmra80a01h501u ", ""), "", "RSSMRA80A01H501U"},
		{subject("MSRNTN77H15C351X/6120016461039008.Kx5f3Q==", "", "GN", "ANTONIO", "SN", "MASARI"), "ANTONIO MASARI", "MSRNTN77H15C351X"},
		{subject("RSSMRA80A01H5LMX", ""), "", "RSSMRA80A01H5LMX"},                               // omocodia
		{subject("RSSMRA80A01H501A/6120016461039008.Kx5f3Q==", "", "SN", "ROSSI"), "ROSSI", ""}, // bad check character
		{subject("MARIO ROSSI", "TINIT-RSSMRA80A01H501A"), "", ""},
		{subject("eidlink Test CA", "TINIT-nonsense"), "", ""},
		{pkix.Name{}, "", ""},
	} {
		h := eidcert.HolderOf(&x509.Certificate{Subject: c.subject})
		if h.Name() != c.name || h.CodiceFiscale != c.cf {
			t.Errorf("HolderOf(%v) = %+v, want %q %q", c.subject, h, c.name, c.cf)
		}
	}
}

func FuzzHolderOf(f *testing.F) {
	f.Add("MSRNTN77H15C351X/6120016461039008.x", "TINIT-RSSMRA80A01H501U", "MARIO")
	f.Fuzz(func(t *testing.T, cn, serial, given string) {
		h := eidcert.HolderOf(&x509.Certificate{Subject: subject(cn, serial, "GN", given)})
		if h.CodiceFiscale != "" && !eidcert.ValidCodiceFiscale(h.CodiceFiscale) || h.GivenName != given || h.Surname != "" {
			t.Errorf("HolderOf(%q, %q, %q) = %+v", cn, serial, given, h)
		}
	})
}

func TestKind(t *testing.T) {
	for _, c := range []struct {
		policies string
		want     eidcert.Kind
	}{
		{"1.3.76.47.4", eidcert.CIE},
		{"1.3.76.47.4.1", eidcert.CIE},
		{"1.3.76.16.6 1.3.76.16.2.1", eidcert.CNS},
		{"1.3.76.47.40", ""},
		{"2.5.29.32.0", ""},
		{"", ""},
	} {
		cert := &x509.Certificate{}
		for _, s := range strings.Fields(c.policies) {
			oid, err := x509.ParseOID(s)
			if err != nil {
				t.Fatal(err)
			}
			cert.Policies = append(cert.Policies, oid)
		}
		if got := eidcert.KindOf(cert); got != c.want {
			t.Errorf("KindOf(%s) = %q, want %q", c.policies, got, c.want)
		}
	}
}

// TestTemplate issues both kinds from a test CA and reads them back as the
// rest of eidlink does.
func TestTemplate(t *testing.T) {
	ca, caKey, err := eidcert.NewTestCA("eidlink test CA")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.Subject.CommonName != "eidlink test CA" || ca.CheckSignatureFrom(ca) != nil {
		t.Fatalf("NewTestCA = %s, CA %v", ca.Subject, ca.IsCA)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	h := eidcert.Holder{GivenName: "ANNA", Surname: "BIANCHI", CodiceFiscale: "BNCNNA85M41F205Q"}
	for _, kind := range []eidcert.Kind{eidcert.CIE, eidcert.CNS} {
		serial := eidcert.TestCardSerial(kind, h.CodiceFiscale)
		if serial != eidcert.TestCardSerial(kind, h.CodiceFiscale) || serial == eidcert.TestCardSerial(kind, eidcert.TestHolder.CodiceFiscale) {
			t.Errorf("%s: TestCardSerial is not a function of the codice fiscale", kind)
		}
		der, err := x509.CreateCertificate(rand.Reader, eidcert.Template(kind, h, serial), ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if got := eidcert.HolderOf(cert); got != h || eidcert.KindOf(cert) != kind || cert.KeyUsage != x509.KeyUsageDigitalSignature {
			t.Errorf("%s: HolderOf = %+v, Kind = %q, key usage %v", kind, got, eidcert.KindOf(cert), cert.KeyUsage)
		}
		if kind == eidcert.CNS && !strings.HasPrefix(cert.Subject.CommonName, h.CodiceFiscale+"/"+serial+".") {
			t.Errorf("CNS CN = %q, want CF/serial.hash", cert.Subject.CommonName)
		}
	}
}
