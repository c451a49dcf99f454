package verify

import (
	"crypto/x509/pkix"
	"testing"
)

func TestValidCodiceFiscale(t *testing.T) {
	for _, c := range []struct {
		cf   string
		want bool
	}{
		{"RSSMRA80A01H501U", true}, // eidlink's default test identity: U is its check character
		{"MSRNTN77H15C351X", true}, // from a CNS certificate CN
		{"RSSMRA85T10A562S", true},
		{"RSSMRA80A01H5LMX", true}, // omocodia: 01 -> LM, check recomputed
		{"RSSMRA80A01H501A", false},
		{"RSSMRA80A01H501", false},
		{"RSSMRA80A01H501UX", false},
		{"rssmra80a01h501u", false}, // lower case
		{"RSSMRA80Z01H501U", false}, // Z is no month
		{"RSSMRA8XA01H501U", false}, // X is no omocodia letter
		{"RSS1RA80A01H501U", false}, // digit where a letter goes
		{"RSSMRA80A01H501" + "0", false},
		{"", false},
	} {
		if got := ValidCodiceFiscale(c.cf); got != c.want {
			t.Errorf("ValidCodiceFiscale(%q) = %v, want %v", c.cf, got, c.want)
		}
	}
}

func TestCodiceFiscaleOf(t *testing.T) {
	for _, c := range []struct {
		name pkix.Name
		want string
	}{
		{pkix.Name{SerialNumber: "TINIT-RSSMRA80A01H501U", CommonName: "MARIO ROSSI"}, "RSSMRA80A01H501U"},
		{pkix.Name{SerialNumber: "IT:RSSMRA80A01H501U"}, "RSSMRA80A01H501U"},
		{pkix.Name{SerialNumber: "tinit-rssmra80a01h501u"}, "RSSMRA80A01H501U"},
		{pkix.Name{SerialNumber: "CA00000AA", CommonName: "RSSMRA80A01H501U"}, "RSSMRA80A01H501U"},
		{pkix.Name{CommonName: "MSRNTN77H15C351X/6120016461039008.Kx5f3Q=="}, "MSRNTN77H15C351X"},
		{pkix.Name{CommonName: "RSSMRA80A01H501A/6120016461039008.Kx5f3Q=="}, ""}, // bad check character
		{pkix.Name{SerialNumber: "TINIT-RSSMRA80A01H501A", CommonName: "MARIO ROSSI"}, ""},
		{pkix.Name{CommonName: "MARIO ROSSI"}, ""},
	} {
		if got := codiceFiscaleOf(c.name); got != c.want {
			t.Errorf("codiceFiscaleOf(%v) = %q, want %q", c.name, got, c.want)
		}
	}
}
