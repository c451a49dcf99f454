package install

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var testDirs = dirs{
	home: "/h", configHome: "/h/.config", dataHome: "/h/.local/share", stateHome: "/h/.local/state",
	localAppData: `C:\Users\u\AppData\Local`, programData: `C:\ProgramData`,
}

// TestLocations pins where each OS and scope puts things: the browsers'
// documented locations.
func TestLocations(t *testing.T) {
	for _, c := range []struct {
		goos    string
		scope   Scope
		browser string
		want    string // a host manifest directory, or a registry key
	}{
		{"linux", User, "chrome", "/h/.config/google-chrome/NativeMessagingHosts"},
		{"linux", User, "chromium", "/h/.config/chromium/NativeMessagingHosts"},
		{"linux", User, "edge", "/h/.config/microsoft-edge/NativeMessagingHosts"},
		{"linux", User, "brave", "/h/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts"},
		{"linux", User, "firefox", "/h/.mozilla/native-messaging-hosts"},
		{"linux", System, "chrome", "/etc/opt/chrome/native-messaging-hosts"},
		{"linux", System, "chromium", "/etc/chromium/native-messaging-hosts"},
		{"linux", System, "edge", "/etc/opt/edge/native-messaging-hosts"},
		{"linux", System, "firefox", "/usr/lib/mozilla/native-messaging-hosts"},
		{"linux", System, "firefox", "/usr/lib64/mozilla/native-messaging-hosts"},
		{"darwin", User, "chrome", "/h/Library/Application Support/Google/Chrome/NativeMessagingHosts"},
		{"darwin", User, "chromium", "/h/Library/Application Support/Chromium/NativeMessagingHosts"},
		{"darwin", User, "edge", "/h/Library/Application Support/Microsoft Edge/NativeMessagingHosts"},
		{"darwin", User, "firefox", "/h/Library/Application Support/Mozilla/NativeMessagingHosts"},
		{"darwin", System, "chrome", "/Library/Google/Chrome/NativeMessagingHosts"},
		{"darwin", System, "edge", "/Library/Microsoft/Edge/NativeMessagingHosts"},
		{"darwin", System, "firefox", "/Library/Application Support/Mozilla/NativeMessagingHosts"},
		{"windows", User, "chrome", `HKCU\Software\Google\Chrome\NativeMessagingHosts`},
		{"windows", User, "firefox", `HKCU\Software\Mozilla\NativeMessagingHosts`},
		{"windows", System, "chrome", `HKLM\Software\Google\Chrome\NativeMessagingHosts`},
		{"windows", System, "edge", `HKLM\Software\Microsoft\Edge\NativeMessagingHosts`},
		{"windows", System, "firefox", `HKLM\Software\Mozilla\NativeMessagingHosts`},
	} {
		l := locate(c.goos, c.scope, testDirs)
		if !slices.Contains(l.hostDirs[c.browser], c.want) && !slices.Contains(l.hostKeys[c.browser], c.want) {
			t.Errorf("%s %s %s: %q not among %q %q", c.goos, c.scope, c.browser, c.want, l.hostDirs[c.browser], l.hostKeys[c.browser])
		}
	}
	lu, ls := locate("linux", User, testDirs), locate("linux", System, testDirs)
	if !slices.Equal(lu.nssDBs, []string{"/h/.pki/nssdb", "/h/.local/share/pki/nssdb"}) || ls.nssDBs != nil {
		t.Errorf("NSS databases: user %q, system %q", lu.nssDBs, ls.nssDBs)
	}
	// Firefox ESR 153 in a fresh home makes its profiles under ~/.config.
	if !slices.Equal(lu.firefoxProfiles, []string{"/h/.mozilla/firefox", "/h/.config/mozilla/firefox"}) || ls.firefoxProfiles != nil {
		t.Errorf("Firefox profiles: user %q, system %q", lu.firefoxProfiles, ls.firefoxProfiles)
	}
	if lu.pkcs11Dirs[0] != "/h/.mozilla/pkcs11-modules" || ls.pkcs11Dirs[0] != "/usr/lib/mozilla/pkcs11-modules" {
		t.Errorf("pkcs11 dirs %q %q", lu.pkcs11Dirs, ls.pkcs11Dirs)
	}
	if lu.policyFiles != nil || ls.policyFiles["chrome"] != "/etc/opt/chrome/policies/managed/eidlink.json" ||
		ls.policyFiles["chromium"] != "/etc/chromium/policies/managed/eidlink.json" ||
		ls.policyFiles["edge"] != "/etc/opt/edge/policies/managed/eidlink.json" ||
		ls.firefoxPolicies != "/etc/firefox/policies/policies.json" {
		t.Errorf("policy files %q %q", ls.policyFiles, ls.firefoxPolicies)
	}
	if lu.state != "/h/.local/state/eidlink/installed.json" || ls.state != "/var/lib/eidlink/installed.json" {
		t.Errorf("state %q %q", lu.state, ls.state)
	}
	if d := locate("darwin", System, testDirs); d.pkcs11Dirs[0] != "/Library/Application Support/Mozilla/PKCS11Modules" {
		t.Errorf("darwin pkcs11 %q", d.pkcs11Dirs)
	}
	wu, ws := locate("windows", User, testDirs), locate("windows", System, testDirs)
	if wu.fileDir != `C:\Users\u\AppData\Local\eidlink` || ws.fileDir != `C:\ProgramData\eidlink` || ws.state != `C:\ProgramData\eidlink\installed.json` {
		t.Errorf("windows files %q %q %q", wu.fileDir, ws.fileDir, ws.state)
	}
	if wu.pkcs11Keys[0] != `HKCU\Software\Mozilla\PKCS11Modules` || ws.policyKeys["edge"] != `HKLM\Software\Policies\Microsoft\Edge` || wu.policyKeys != nil {
		t.Errorf("windows keys %q %q", wu.pkcs11Keys, ws.policyKeys)
	}
	for _, l := range []layout{lu, ls, wu, ws, locate("darwin", User, testDirs)} {
		for b := range l.hostDirs {
			if !slices.Contains(Browsers, b) {
				t.Errorf("unknown browser %q in layout", b)
			}
		}
	}
}

// TestPlanWindows checks, as data, what a Windows system install does:
// manifest files named by registry keys, and numbered policy values.
func TestPlanWindows(t *testing.T) {
	lib := writeTemp(t, "eidlink-pkcs11.dll")
	o := Options{Scope: System, Browsers: Browsers, HostPath: `C:\Program Files\eidlink\eidlink-host.exe`,
		Parts: Parts{Hosts: true, PKCS11: true, NSS: true, Policies: true}, Module: lib}
	acts, _ := plan(o, locate("windows", System, testDirs), "windows")
	var lines []string
	for _, a := range acts {
		lines = append(lines, a.String())
		if a.op == opNSS || a.op == opJSON {
			t.Errorf("windows plan has %s", a)
		}
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		`write C:\ProgramData\eidlink\it.eidlink.host.chrome.json (chrome native-messaging host)`,
		`write C:\ProgramData\eidlink\it.eidlink.host.firefox.json (firefox native-messaging host)`,
		`set registry HKLM\Software\Google\Chrome\NativeMessagingHosts\it.eidlink.host (default) = C:\ProgramData\eidlink\it.eidlink.host.chrome.json`,
		`set registry HKLM\Software\Microsoft\Edge\NativeMessagingHosts\it.eidlink.host (default) = C:\ProgramData\eidlink\it.eidlink.host.chrome.json`,
		`set registry HKLM\Software\Mozilla\NativeMessagingHosts\it.eidlink.host (default) = C:\ProgramData\eidlink\it.eidlink.host.firefox.json`,
		`set registry HKLM\Software\Mozilla\PKCS11Modules\eidlink (default) = C:\ProgramData\eidlink\eidlink.json`,
		`add to registry list HKLM\Software\Policies\Google\Chrome\AutoSelectCertificateForUrls: {"pattern":"https://[*.]inps.it","filter":{}}`,
		`add to registry list HKLM\Software\Policies\Microsoft\Edge\AutoSelectCertificateForUrls: {"pattern":"https://idserver.servizicie.interno.gov.it","filter":{}}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("plan lacks %q; plan:\n%s", want, text)
		}
	}
	if strings.Count(text, `write C:\ProgramData\eidlink\it.eidlink.host.chrome.json`) != 1 {
		t.Errorf("the shared Chrome manifest is written more than once:\n%s", text)
	}
}

func writeTemp(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestModuleCandidates(t *testing.T) {
	for _, c := range []struct {
		goos, dir string
		want      []string
	}{
		{"linux", "/src/eidlink/bin", []string{"/src/eidlink/bin/libeidlink-pkcs11.so", "/usr/lib/eidlink/libeidlink-pkcs11.so"}},
		{"darwin", "/usr/local/bin", []string{"/usr/local/bin/libeidlink-pkcs11.dylib", "/usr/local/lib/eidlink/libeidlink-pkcs11.dylib"}},
		{"windows", `C:\Program Files\eidlink`, []string{`C:\Program Files\eidlink\eidlink-pkcs11.dll`}},
	} {
		if got := ModuleCandidates(c.goos, c.dir); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.goos, got, c.want)
		}
	}
	dir := t.TempDir()
	if got := FindModule("linux", dir); got != filepath.Join(dir, "libeidlink-pkcs11.so") {
		t.Errorf("FindModule without the module: %s", got)
	}
	lib := writeTemp(t, "libeidlink-pkcs11.so")
	if got := FindModule("linux", filepath.Dir(lib)); got != lib {
		t.Errorf("FindModule = %s, want %s", got, lib)
	}
}

// TestVendorRecords: the records an older eidlink made for the card
// software's modules, and only those, are replaced.
func TestVendorRecords(t *testing.T) {
	for _, c := range []struct {
		r    record
		want bool
	}{
		{record{Op: opNSS, Path: "/h/.pki/nssdb", Name: "eidlink_cie"}, true},
		{record{Op: opNSS, Path: "/h/.pki/nssdb", Name: "eidlink"}, false},
		{record{Op: opFile, Path: "/h/.mozilla/pkcs11-modules/eidlink_opensc.json"}, true},
		{record{Op: opFile, Path: `C:\ProgramData\eidlink\eidlink_cie.json`}, true},
		{record{Op: opFile, Path: "/h/.mozilla/pkcs11-modules/eidlink.json"}, false},
		{record{Op: opFile, Path: "/h/.mozilla/native-messaging-hosts/it.eidlink.host.json"}, false},
		{record{Op: opReg, Path: `HKCU\Software\Mozilla\PKCS11Modules\eidlink_cie`}, true},
		{record{Op: opRegKey, Path: `HKCU\Software\Mozilla\PKCS11Modules\eidlink_cie`}, true},
		{record{Op: opReg, Path: `HKCU\Software\Mozilla\PKCS11Modules\eidlink`}, false},
		{record{Op: opRegKey, Path: `HKCU\Software\Mozilla\PKCS11Modules`}, false},
		{record{Op: opJSON, Keys: []string{"policies", "SecurityDevices", "Add", "eidlink_cie"}}, true},
		{record{Op: opJSON, Keys: []string{"policies", "SecurityDevices", "Add", "eidlink"}}, false},
		{record{Op: opJSON, Keys: []string{"policies", "Preferences", "security.default_personal_cert"}}, true},
		{record{Op: opDir, Path: "/h/.mozilla/pkcs11-modules"}, false},
	} {
		if got := c.r.vendorModule(); got != c.want {
			t.Errorf("%+v: %v", c.r, got)
		}
	}
}
