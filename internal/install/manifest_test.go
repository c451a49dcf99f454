package install

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	if len(def) != 2 || def[0] != `{"pattern":"https://[*.]inps.it","filter":{}}` || def[1] != `{"pattern":"https://idserver.servizicie.interno.gov.it","filter":{}}` {
		t.Errorf("default entries %q", def)
	}
	dev := AutoSelect{Dev: true}.entries()
	if len(dev) != 4 || dev[2] != `{"pattern":"https://127.0.0.1:*","filter":{"ISSUER":{"O":"eidlink test"}}}` || dev[3] != `{"pattern":"https://localhost:*","filter":{"ISSUER":{"O":"eidlink test"}}}` {
		t.Errorf("dev entries %q", dev)
	}
	for hosts, want := range map[string]string{
		"www.inps.it *.inps.it inps.it": "https://[*.]inps.it",
		"a.example.it b.example.it":     "https://a.example.it https://b.example.it",
		"x.it *.y.it z.y.it":            "https://x.it https://[*.]y.it",
	} {
		if got := strings.Join(autoSelectPatterns(strings.Fields(hosts), ""), " "); got != want {
			t.Errorf("patterns of %s: %s, want %s", hosts, got, want)
		}
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

// TestSiteHosts keeps sites.go equal to the hosts of the site profiles
// (go test -update rewrites it): the extension's file is the one list of
// the sites eidlink knows.
func TestSiteHosts(t *testing.T) {
	data, err := os.ReadFile("../../extension/src/profiles/site-profiles.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		DemoOrigins []string `json:"demoOrigins"`
		Profiles    []struct {
			ID    string   `json:"id"`
			Hosts []string `json:"hosts"`
		} `json:"profiles"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var hosts, demo []string
	profiles := map[string][]string{}
	for _, p := range doc.Profiles {
		profiles[p.ID] = p.Hosts
		for _, h := range p.Hosts {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	for _, o := range doc.DemoOrigins {
		u, err := url.Parse(strings.Replace(o, "/*", "/", 1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(demo, u.Hostname()) {
			demo = append(demo, u.Hostname())
		}
	}
	want := fmt.Sprintf(`// Code generated by "go test ./internal/install -run TestSiteHosts -update"; DO NOT EDIT.

package install

// siteHosts are the hosts of the site profiles in
// extension/src/profiles/site-profiles.json.
var siteHosts = %#v

// siteProfileHosts are the hosts of each site profile, by its id.
var siteProfileHosts = %#v

// demoHosts are the hosts of the site profiles' demoOrigins.
var demoHosts = %#v
`, hosts, profiles, demo)
	src, err := format.Source([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("sites.go", src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := os.ReadFile("sites.go"); !bytes.Equal(got, src) {
		t.Errorf("sites.go differs from the site profiles (go test ./internal/install -run TestSiteHosts -update):\n%s", src)
	}
	if len(hosts) == 0 || len(demo) == 0 {
		t.Errorf("no hosts in the site profiles: %q %q", hosts, demo)
	}
	for kind, id := range rememberProfiles {
		if len(profiles[id]) == 0 {
			t.Errorf("the %s certificate is remembered for site profile %q, which has no hosts", kind, id)
		}
	}
}

// TestMSIAutoSelect: the MSI's AutoSelectCertificateForUrls values are the
// default patterns, in order, for Chrome and Edge.
func TestMSIAutoSelect(t *testing.T) {
	wxs, err := os.ReadFile("../../installers/windows/eidlink.wxs")
	if err != nil {
		t.Fatal(err)
	}
	msiText := strings.NewReplacer("[", `[\[]`, "]", `[\]]`, "{", `[\{]`, "}", `[\}]`)
	for _, browser := range []string{`Google\Chrome`, `Microsoft\Edge`} {
		for i, p := range DefaultAutoSelectPatterns {
			want := fmt.Sprintf(`Key="Software\Policies\%s\AutoSelectCertificateForUrls" Name="[AUTOSELECT_INDEX%d]" Type="string"`, browser, i+1)
			at := strings.Index(string(wxs), want)
			value := msiText.Replace(`{"pattern":"`+p+`","filter":`) + `[AUTOSELECT_FILTER]` + msiText.Replace(`}`)
			if at < 0 || !strings.Contains(string(wxs[at:min(at+400, len(wxs))]), `Value='`+value+`'`) {
				t.Errorf("eidlink.wxs lacks %s entry %d: %s", browser, i+1, value)
			}
		}
	}
	if n := strings.Count(string(wxs), "AutoSelectCertificateForUrls\" Name="); n != 2*len(DefaultAutoSelectPatterns) {
		t.Errorf("eidlink.wxs has %d auto-selection values, want %d", n, 2*len(DefaultAutoSelectPatterns))
	}
}
