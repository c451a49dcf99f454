package cryptoki

import (
	"path/filepath"
	"testing"
)

func TestBuiltinModulesLinux(t *testing.T) {
	mods := builtinModules()
	if mods[0] != (Module{Name: "IPZS CIE", Path: "/usr/local/lib/libcie-pkcs11.so"}) {
		t.Errorf("first module = %+v, want the IPZS CIE module", mods[0])
	}
	names := map[string]bool{}
	for _, m := range mods {
		names[m.Name] = true
		if !filepath.IsAbs(m.Path) {
			t.Errorf("%s: path %q is not absolute", m.Name, m.Path)
		}
	}
	for _, n := range []string{"IPZS CIE", "Bit4id", "Athena", "CardOS", "Incard", "OpenSC"} {
		if !names[n] {
			t.Errorf("no %s module", n)
		}
	}
	for _, p := range []string{"/usr/local/lib/libciepki.so", "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so"} {
		found := false
		for _, m := range mods {
			found = found || m.Path == p
		}
		if !found {
			t.Errorf("%s is not in the table", p)
		}
	}
}
