package install

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the examples in manifest/")

func TestIDsMatchExtension(t *testing.T) {
	data, err := os.ReadFile("../../extension/ids.json")
	if err != nil {
		t.Fatal(err)
	}
	var ids struct{ Chrome, Firefox, NativeHost string }
	if err := json.Unmarshal(data, &ids); err != nil {
		t.Fatal(err)
	}
	if ids.Chrome != ChromeExtensionID || ids.Firefox != FirefoxExtensionID || ids.NativeHost != HostName {
		t.Errorf("extension/ids.json = %+v, package constants = %s %s %s", ids, ChromeExtensionID, FirefoxExtensionID, HostName)
	}
}

// TestExamples keeps the files in manifest/ equal to what the Go structs
// render (go test -update rewrites them).
func TestExamples(t *testing.T) {
	const debModule = "/usr/lib/eidlink/" + "libeidlink-pkcs11.so"
	firefoxPolicies := map[string]any{}
	setKey(firefoxPolicies, []string{"policies", "SecurityDevices", "Add", OwnModuleName}, debModule)
	examples := map[string][]byte{
		"it.eidlink.host.chrome.json":    HostManifest("chrome", "/usr/bin/eidlink-host").JSON(),
		"it.eidlink.host.firefox.json":   HostManifest("firefox", "/usr/bin/eidlink-host").JSON(),
		"eidlink.pkcs11.json":            PKCS11Manifest(OwnModuleName, debModule).JSON(),
		"policies/chrome-eidlink.json":   autoSelectFile(AutoSelect{}.entries()),
		"policies/firefox-policies.json": docJSON(firefoxPolicies),
		// The MSI's manifests: the host and the module relative to the
		// manifest, which Chrome and Firefox allow on Windows.
		"windows/it.eidlink.host.chrome.json":  HostManifest("chrome", "eidlink-host.exe").JSON(),
		"windows/it.eidlink.host.firefox.json": HostManifest("firefox", "eidlink-host.exe").JSON(),
		"windows/eidlink.json":                 PKCS11Manifest(OwnModuleName, ModuleFile("windows")).JSON(),
	}
	if ModuleCandidates("linux", "/usr/bin")[1] != debModule {
		t.Errorf("the packages put the module at %s, the examples say %s", ModuleCandidates("linux", "/usr/bin")[1], debModule)
	}
	var stale []string
	filepath.WalkDir("../../manifest", func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel("../../manifest", p)
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") && examples[filepath.ToSlash(rel)] == nil {
			stale = append(stale, rel)
		}
		return err
	})
	if len(stale) > 0 {
		t.Errorf("manifest/ has files eidlink no longer writes: %q", stale)
	}
	for name, want := range examples {
		file := filepath.Join("../../manifest", name)
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (go test ./internal/install -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the Go rendering:\n%s\nwant:\n%s", file, got, want)
		}
	}
}

func TestManifests(t *testing.T) {
	c := HostManifest("chromium", "/opt/e/eidlink-host")
	if c.Name != "it.eidlink.host" || c.Type != "stdio" || c.Path != "/opt/e/eidlink-host" || c.AllowedExtensions != nil ||
		len(c.AllowedOrigins) != 1 || c.AllowedOrigins[0] != "chrome-extension://fcpomoebdkdilohgapefdlkccodebdef/" {
		t.Errorf("chromium manifest %+v", c)
	}
	f := HostManifest("firefox", "/opt/e/eidlink-host")
	if f.AllowedOrigins != nil || len(f.AllowedExtensions) != 1 || f.AllowedExtensions[0] != "eidlink@eidlink.it" {
		t.Errorf("firefox manifest %+v", f)
	}
	var back map[string]any
	if err := json.Unmarshal(PKCS11Manifest("eidlink_cie", "/l.so").JSON(), &back); err != nil {
		t.Fatal(err)
	}
	if back["type"] != "pkcs11" || back["name"] != "eidlink_cie" || back["path"] != "/l.so" || back["allowed_origins"] != nil {
		t.Errorf("pkcs11 manifest %v", back)
	}
}

func TestModuleName(t *testing.T) {
	valid := regexp.MustCompile(`^\w+(\.\w+)*$`) // the browsers' rule for manifest names
	for in, want := range map[string]string{
		"IPZS CIE":         "eidlink_cie",
		"OpenSC":           "eidlink_opensc",
		"Bit4id":           "eidlink_bit4id",
		"libsofthsm2.so":   "eidlink_libsofthsm2",
		"Vendor X (v2.0)":  "eidlink_vendor_x_v2_0",
		"/opt/x/libp11.so": "eidlink_libp11",
		"":                 "eidlink",
	} {
		if got := ModuleName(in); got != want || !valid.MatchString(got) {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAutoSelectEntries(t *testing.T) {
	def := AutoSelect{}.entries()
	if len(def) != 2 || def[0] != `{"pattern":"https://idserver.servizicie.interno.gov.it","filter":{}}` || def[1] != `{"pattern":"https://[*.]inps.it","filter":{}}` {
		t.Errorf("default entries %q", def)
	}
	got := AutoSelect{Patterns: []string{"https://[*.]inps.it"}, IssuerCNs: []string{"CA A", `CA "B"`}}.entries()
	if len(got) != 2 || got[1] != `{"pattern":"https://[*.]inps.it","filter":{"ISSUER":{"CN":"CA \"B\""}}}` {
		t.Errorf("filtered entries %q", got)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfg, []byte(`{"pkcs11Modules": [], "autoSelectIssuerCNs": ["CA A"]}`), 0o644)
	a, err := LoadAutoSelect(cfg)
	if err != nil || len(a.IssuerCNs) != 1 || a.IssuerCNs[0] != "CA A" || a.Patterns != nil {
		t.Errorf("LoadAutoSelect = %+v, %v", a, err)
	}
	if a, err := LoadAutoSelect(filepath.Join(t.TempDir(), "none.json")); err != nil || a.IssuerCNs != nil {
		t.Errorf("missing config: %+v, %v", a, err)
	}
	os.WriteFile(cfg, []byte(`{`), 0o644)
	if _, err := LoadAutoSelect(cfg); err == nil {
		t.Error("malformed config accepted")
	}
}
