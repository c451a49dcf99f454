package install

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Finding is one thing Check looked at.
type Finding struct {
	What     string // what was checked, and where
	OK       bool
	Fix      string // what to do when not OK
	Optional bool   // a recommendation (policies), not a requirement
}

// Check reports what the browsers installed here can use: for each one, a
// valid host manifest; eidlink's PKCS#11 module own (FindModule) on disk,
// in a Firefox PKCS#11 manifest and, on Linux, in the NSS databases of
// Chrome and Chromium (user scope); the card software of vendor registered
// beside it, where the card would be offered twice; and, as optional
// findings, the certificate auto-selection policies. The user scope
// accepts system-wide manifests too.
func Check(s Scope, own string, vendor []Module) []Finding {
	d, err := envDirs()
	if err != nil {
		return []Finding{{What: "the home directory: " + err.Error(), Fix: "set HOME"}}
	}
	goos := runtime.GOOS
	sys := locate(goos, System, d)
	layouts := []layout{sys}
	fix := "run \"eidlink install --system\" as administrator"
	if s == User {
		layouts = []layout{locate(goos, User, d), sys}
		fix = "run \"eidlink install --user\""
	}
	var out []Finding
	add := func(ok bool, what, fix string) { out = append(out, Finding{What: what, OK: ok, Fix: fix}) }
	var chromium, firefox bool
	for _, b := range Browsers {
		where, problems := findHost(b, layouts)
		if where == "" && !browserPresent(goos, b, layouts[0]) {
			continue
		}
		chromium = chromium || b != "firefox"
		firefox = firefox || b == "firefox"
		if where != "" {
			add(true, fmt.Sprintf("%s finds eidlink-host (%s)", b, where), "")
		} else {
			add(false, fmt.Sprintf("%s finds eidlink-host%s", b, problems), fix)
		}
	}
	haveOwn := filepath.IsAbs(own) && isFile(own)
	add(haveOwn, "eidlink's PKCS#11 module, for logins with a client certificate (MyINPS, CIE ID), is at "+own,
		"build it with \"make pkcs11\" or reinstall eidlink, then "+fix)
	if !haveOwn {
		return append(out, policyFindings(sys, out, firefox)...)
	}
	if firefox {
		where := findPKCS11(OwnModuleName, layouts)
		add(where != "", fmt.Sprintf("Firefox can load eidlink's PKCS#11 module as %s %s", OwnModuleName, where), fix)
		if s == User {
			for _, p := range firefoxProfiles(layouts[0]) {
				on := strings.Join(remembered(p), ", ")
				if on == "" {
					on = "the sites eidlink knows"
				}
				out = append(out, Finding{What: "Firefox profile " + p + " sends the card's certificate without asking on " + on,
					OK: on != "the sites eidlink knows", Optional: true,
					Fix: "the first time, tick \"Remember this decision\" in Firefox's certificate chooser on the site; or, with Firefox closed and the card inserted: eidlink install --user --firefox-cards"})
				for _, m := range doubles(p, own, vendor) {
					add(false, fmt.Sprintf("Firefox profile %s offers the card once: it also loads %q (%s)", p, m.Name, m.Path),
						fmt.Sprintf("the card would be offered twice: in Firefox, Settings, Privacy & Security, Security Devices, select %q and Unload it", m.Name))
				}
			}
		}
	}
	if dbs := layouts[0].nssDBs; s == User && chromium && len(dbs) > 0 {
		found := false
		for _, db := range dbs {
			if !isNSSDB(db) {
				continue
			}
			found = true
			have, err := nssModules(db)
			ok := err == nil && slices.ContainsFunc(slices.Collect(maps.Values(have)), func(lib string) bool { return filepath.Clean(lib) == filepath.Clean(own) })
			add(ok, fmt.Sprintf("Chrome and Chromium can use eidlink's PKCS#11 module (NSS database %s)", db), "close the browser and "+fix)
			for _, m := range doubles(db, own, vendor) {
				add(false, fmt.Sprintf("Chrome and Chromium offer the card once: NSS database %s also has %q (%s)", db, m.Name, m.Path), doubleFix(db, m.Name))
			}
		}
		if !found {
			add(false, "Chrome and Chromium have an NSS database ("+strings.Join(dbs, " or ")+")", "start Chrome or Chromium once, close it, then "+fix)
		}
	}
	return append(out, policyFindings(sys, out, firefox)...)
}

// doubles lists the modules of the NSS database in dir, other than own,
// that present the same cards: the card software in vendor (same file or
// file name) and what older eidlink versions registered ("eidlink_...").
func doubles(dir, own string, vendor []Module) []Module {
	if !isNSSDB(dir) || !filepath.IsAbs(own) || !isFile(own) {
		return nil
	}
	mods, err := nssModules(dir)
	if err != nil {
		return nil
	}
	var out []Module
	for _, name := range slices.Sorted(maps.Keys(mods)) {
		lib := mods[name]
		if filepath.Clean(lib) == filepath.Clean(own) {
			continue
		}
		if strings.HasPrefix(name, "eidlink_") || slices.ContainsFunc(vendor, func(m Module) bool {
			return filepath.Clean(m.Path) == filepath.Clean(lib) || filepath.Base(m.Path) == filepath.Base(lib)
		}) {
			out = append(out, Module{Name: name, Path: lib})
		}
	}
	return out
}

// doubleFix says how to remove the module name from the NSS database dir.
func doubleFix(dir, name string) string {
	return fmt.Sprintf("the card would be offered twice: close the browser and remove it with modutil -dbdir sql:%s -delete %q", dir, name)
}

// firefoxProfiles lists the user's Firefox profile directories.
func firefoxProfiles(l layout) []string {
	var out []string
	for _, dir := range l.firefoxProfiles {
		dbs, _ := filepath.Glob(filepath.Join(dir, "*", "cert9.db"))
		for _, db := range dbs {
			out = append(out, filepath.Dir(db))
		}
	}
	return out
}

// policyFindings are the optional findings on the system policies, for
// the browsers out found.
func policyFindings(sys layout, out []Finding, firefox bool) []Finding {
	var pol []Finding
	policyFix := "run \"eidlink install --system --policies\" as administrator"
	for _, b := range Browsers {
		if !slices.ContainsFunc(out, func(f Finding) bool { return strings.HasPrefix(f.What, b+" finds") }) {
			continue
		}
		var ok bool
		if f := sys.policyFiles[b]; f != "" {
			ok = isFile(f)
		} else if k := sys.policyKeys[b]; k != "" {
			_, err := regGetString(k+`\AutoSelectCertificateForUrls`, "1")
			ok = err == nil
		} else {
			continue
		}
		pol = append(pol, Finding{What: b + " picks the card's certificate without asking on the sites eidlink knows (AutoSelectCertificateForUrls)", OK: ok, Fix: policyFix, Optional: true})
	}
	if firefox && sys.firefoxPolicies != "" {
		doc, _ := readDoc(sys.firefoxPolicies)
		_, ok := getKey(doc, []string{"policies", "SecurityDevices", "Add", OwnModuleName})
		pol = append(pol, Finding{What: "every Firefox profile loads eidlink's PKCS#11 module (" + sys.firefoxPolicies + ")", OK: ok, Fix: policyFix, Optional: true})
	}
	return pol
}

// findHost returns where browser b finds a valid host manifest, or
// what is wrong with the ones it finds.
func findHost(b string, layouts []layout) (where, problems string) {
	for _, l := range layouts {
		for _, dir := range l.hostDirs[b] {
			f := filepath.Join(dir, HostName+".json")
			if p := checkHost(b, f); p == "" {
				return f, ""
			} else if isFile(f) {
				problems += "; " + f + ": " + p
			}
		}
		for _, key := range l.hostKeys[b] {
			f, err := regGetString(key+`\`+HostName, "")
			if err != nil {
				continue
			}
			if p := checkHost(b, f); p == "" {
				return key + " -> " + f, ""
			} else {
				problems += "; " + f + ": " + p
			}
		}
	}
	return "", problems
}

// checkHost says what is wrong with the host manifest file for b.
func checkHost(b, file string) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return "missing"
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return "not JSON: " + err.Error()
	}
	want := HostManifest(b, m.Path)
	switch {
	case m.Name != HostName || m.Type != "stdio":
		return "not an eidlink host manifest"
	case !slices.Equal(m.AllowedOrigins, want.AllowedOrigins) || !slices.Equal(m.AllowedExtensions, want.AllowedExtensions):
		return "allows another extension"
	case !filepath.IsAbs(m.Path) || !isFile(m.Path):
		return "eidlink-host is not at " + m.Path
	}
	return ""
}

func findPKCS11(name string, layouts []layout) string {
	for _, l := range layouts {
		for _, dir := range l.pkcs11Dirs {
			if f := filepath.Join(dir, name+".json"); isFile(f) {
				return "(" + f + ")"
			}
		}
		for _, key := range l.pkcs11Keys {
			if f, err := regGetString(key+`\`+name, ""); err == nil && isFile(f) {
				return "(" + key + ")"
			}
		}
	}
	return ""
}

// browserPresent guesses whether browser b is installed: its program is
// there, or its profile directory (the parent of the user manifest
// directory) exists.
func browserPresent(goos, b string, user layout) bool {
	for _, dir := range user.hostDirs[b] {
		if _, err := os.Stat(filepath.Dir(dir)); err == nil {
			return true
		}
	}
	for _, p := range browserPrograms[goos][b] {
		switch goos {
		case "windows":
			if _, err := regGetString(`HKLM\Software\Microsoft\Windows\CurrentVersion\App Paths\`+p, ""); err == nil {
				return true
			}
		case "darwin":
			if _, err := os.Stat(p); err == nil {
				return true
			}
		default:
			if _, err := exec.LookPath(p); err == nil {
				return true
			}
		}
	}
	return false
}

// browserPrograms are what each browser installs: commands in $PATH
// (Linux), applications (macOS), App Paths entries (Windows).
var browserPrograms = map[string]map[string][]string{
	"linux": {
		"chrome":   {"google-chrome", "google-chrome-stable"},
		"chromium": {"chromium", "chromium-browser"},
		"edge":     {"microsoft-edge", "microsoft-edge-stable"},
		"brave":    {"brave-browser", "brave"},
		"firefox":  {"firefox", "firefox-esr"},
	},
	"darwin": {
		"chrome":   {"/Applications/Google Chrome.app"},
		"chromium": {"/Applications/Chromium.app"},
		"edge":     {"/Applications/Microsoft Edge.app"},
		"brave":    {"/Applications/Brave Browser.app"},
		"firefox":  {"/Applications/Firefox.app"},
	},
	"windows": {
		"chrome":  {"chrome.exe"},
		"edge":    {"msedge.exe"},
		"brave":   {"brave.exe"},
		"firefox": {"firefox.exe"},
	},
}

// remembered lists the site hosts for which the Firefox profile p has a
// certificate choice remembered.
func remembered(p string) []string {
	data, _ := os.ReadFile(filepath.Join(p, rememberFile))
	slots, _ := parseRemember(data)
	var hosts []string
	for _, h := range siteHosts {
		if slices.ContainsFunc(rememberKeys(h), func(k string) bool { v, _ := rememberGet(slots, k); return v != "" }) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}
