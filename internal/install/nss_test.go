package install

import (
	"strings"
	"testing"
)

func TestParseNSSModules(t *testing.T) {
	txt := "library=\nname=NSS Internal PKCS #11 Module\nparameters=configdir='sql:/h/.pki/nssdb'\n\n" +
		"library=/usr/lib/opensc-pkcs11.so\nname=\"OpenSC smartcard\"\n\nlibrary=/l/cie.so\nname=eidlink_cie\n"
	mods, err := parseNSSModules(strings.NewReader(txt))
	if err != nil || len(mods) != 2 || mods["OpenSC smartcard"] != "/usr/lib/opensc-pkcs11.so" || mods["eidlink_cie"] != "/l/cie.so" {
		t.Errorf("parseNSSModules = %q, %v", mods, err)
	}
}

func FuzzParseNSSModules(f *testing.F) {
	f.Add("library=/l.so\nname=x\n\nlibrary=\nname=y\n")
	f.Fuzz(func(t *testing.T, s string) {
		mods, err := parseNSSModules(strings.NewReader(s))
		if err != nil {
			return // a line longer than 64 KiB
		}
		for name, lib := range mods {
			if lib == "" || strings.Contains(name+lib, "\n") {
				t.Fatalf("%q -> %q %v", s, mods, err)
			}
		}
	})
}
