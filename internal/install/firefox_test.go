package install

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// What Firefox ESR 153 itself wrote and reported (testdata): the test
// client certificate's dbKey, and the ClientAuthRememberList.bin of a
// profile where that certificate was chosen and remembered on
// https://localhost:PORT/.
const firefoxDBKey = "AAAAAAAAAAAAAAAUAAAAQBIgenEQZRSw8Ap5Hb9nFRAo5XbmMD4xGDAWBgNVBAMMD2VpZGxpbmsgdGVzdCBDQTEVMBMGA1UECgwMZWlkbGluayB0ZXN0MQswCQYDVQQGEwJJVA=="

func readPEMCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertDBKey(t *testing.T) {
	key, err := certDBKey(readPEMCert(t, "testdata/firefox-client.pem"))
	if err != nil || key != firefoxDBKey {
		t.Errorf("certDBKey = %s, %v; Firefox says %s", key, err, firefoxDBKey)
	}
	if _, err := certDBKey(&x509.Certificate{RawTBSCertificate: []byte{0x30, 0x00}}); err == nil {
		t.Error("a certificate without a serial number has a key")
	}
}

func TestRememberKeys(t *testing.T) {
	for host, want := range map[string][]string{
		"localhost": {"localhost,,", "localhost,,^partitionKey=%28https%2Clocalhost%29"}, // as Firefox wrote it
		"idserver.servizicie.interno.gov.it": {"idserver.servizicie.interno.gov.it,,",
			"idserver.servizicie.interno.gov.it,,^partitionKey=%28https%2Cinterno.gov.it%29"},
		"www.inps.it": {"www.inps.it,,", "www.inps.it,,^partitionKey=%28https%2Cinps.it%29"},
		"127.0.0.1":   {"127.0.0.1,,", "127.0.0.1,,^partitionKey=%28https%2C127.0.0.1%29"},
	} {
		if got := rememberKeys(host); !slices.Equal(got, want) {
			t.Errorf("rememberKeys(%s) = %q, want %q", host, got, want)
		}
	}
}

func TestRememberHosts(t *testing.T) {
	cie, err := eidcert.NewTestIdentity(eidcert.CIE, eidcert.TestHolder)
	if err != nil {
		t.Fatal(err)
	}
	cns, err := eidcert.NewTestIdentity(eidcert.CNS, eidcert.TestHolder)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cert *x509.Certificate
		dev  bool
		want []string
	}{
		{cie.Cert, false, []string{"idserver.servizicie.interno.gov.it"}},
		{cns.Cert, false, []string{"www.inps.it", "serviziweb2.inps.it"}},
		{cie.Cert, true, []string{"idserver.servizicie.interno.gov.it", "127.0.0.1", "localhost"}},
		{readPEMCert(t, "testdata/firefox-client.pem"), false, nil}, // neither CIE nor CNS
		{readPEMCert(t, "testdata/firefox-client.pem"), true, []string{"127.0.0.1", "localhost"}},
	} {
		if got := rememberHosts(c.cert, c.dev); !slices.Equal(got, c.want) {
			t.Errorf("%s dev %v: %q, want %q", eidcert.KindOf(c.cert), c.dev, got, c.want)
		}
	}
}

// TestRememberFirefoxFile reads the file Firefox wrote, and writes it
// back byte for byte.
func TestRememberFirefoxFile(t *testing.T) {
	data, err := os.ReadFile("testdata/firefox-ClientAuthRememberList.bin")
	if err != nil {
		t.Fatal(err)
	}
	slots, err := parseRemember(data)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := rememberGet(slots, "localhost,,^partitionKey=%28https%2Clocalhost%29"); !ok || v != firefoxDBKey || len(slots) != 1 {
		t.Errorf("slots %+v", slots)
	}
	if !bytes.Equal(encodeRemember(slots), data) {
		t.Error("encodeRemember does not give back Firefox's file")
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	slots, err = rememberPut(slots, "a,,", "x", now)
	if err != nil || len(slots) != 2 || slots[1].day != uint16(now.Unix()/86400) || slots[1].score != 1 {
		t.Fatalf("put: %+v %v", slots, err)
	}
	rememberDelete(slots, "localhost,,^partitionKey=%28https%2Clocalhost%29")
	back, err := parseRemember(encodeRemember(slots))
	if err != nil || len(back) != 2 || back[0].score != 0 || back[1].key != "a,," || back[1].value != "x" {
		t.Errorf("after delete: %+v %v", back, err)
	}
	if slots, _ = rememberPut(back, "b,,", "y", now); slots[0].key != "b,," {
		t.Errorf("an empty slot is not reused: %+v", slots)
	}
	if _, err := rememberPut(nil, string(make([]byte, rememberKeyLen+1)), "v", now); err == nil {
		t.Error("a key longer than a slot's accepted")
	}
	if _, err := parseRemember(data[:len(data)-1]); err == nil {
		t.Error("a cut file accepted")
	}
}

func FuzzParseRemember(f *testing.F) {
	data, _ := os.ReadFile("testdata/firefox-ClientAuthRememberList.bin")
	f.Add(data)
	f.Add(make([]byte, rememberSlotLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		slots, err := parseRemember(b)
		if err != nil {
			return
		}
		again, err := parseRemember(encodeRemember(slots))
		if err != nil || !slices.Equal(again, slots) {
			t.Fatalf("round trip: %+v -> %+v %v", slots, again, err)
		}
	})
}
