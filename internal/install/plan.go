package install

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// Operations, in actions and records.
const (
	opDir    = "dir"
	opFile   = "file"
	opJSON   = "json"    // a key set in a JSON document we share with others
	opRegKey = "reg-key" // a registry key we created
	opReg    = "reg"     // a registry string value
	opRegSeq = "reg-seq" // a value appended to a numbered registry list
	opNSS    = "nss"
	// opRemember is a certificate choice remembered in a Firefox profile
	// (firefox.go): name is the certificate's database key, keys the
	// entry keys.
	opRemember = "firefox-remember"
	// opUnload removes from a Firefox profile a card software's module
	// that the extension loaded from an older eidlink's manifest. It is
	// not recorded: eidlink's own module replaces it for good.
	opUnload = "firefox-unload"
)

// action is one change Install makes.
type action struct {
	op      string
	browser string // "" when the change serves every browser
	path    string // file, registry key, NSS database directory
	name    string // registry value ("" is the default value), NSS module
	value   string // registry value data, NSS module library
	data    []byte // file contents
	keys    []string
	jsonVal any
	what    string
}

func (a action) String() string {
	switch a.op {
	case opJSON:
		return fmt.Sprintf("set %s in %s (%s)", strings.Join(a.keys, "."), a.path, a.what)
	case opReg:
		return fmt.Sprintf("set registry %s = %s (%s)", regName(a.path, a.name), a.value, a.what)
	case opRegSeq:
		return fmt.Sprintf("add to registry list %s: %s (%s)", a.path, a.value, a.what)
	case opNSS:
		return fmt.Sprintf("register %s (%s) in NSS database %s", a.name, a.value, a.path)
	case opRemember:
		return fmt.Sprintf("remember in %s (%s)", a.path, a.what)
	case opUnload:
		return fmt.Sprintf("unload %s (%s) from Firefox profile %s (eidlink's own module replaces it)", a.name, a.value, a.path)
	}
	return fmt.Sprintf("write %s (%s)", a.path, a.what)
}

func regName(key, name string) string {
	if name == "" {
		return key + ` (default)`
	}
	return key + `\` + name
}

// plan lists the changes o asks for on goos with layout l, and notes on
// what it leaves out.
func plan(o Options, l layout, goos string) ([]action, []string) {
	var acts []action
	var notes []string
	file := func(browser, dir, name string, data []byte, what string) {
		p := filepath.Join(dir, name)
		if goos == "windows" {
			p = winJoin(dir, name)
		}
		acts = append(acts, action{op: opFile, browser: browser, path: p, data: data, what: what})
	}
	chromium := slices.ContainsFunc(o.Browsers, func(b string) bool { return b != "firefox" })
	firefox := slices.Contains(o.Browsers, "firefox")

	for _, b := range o.Browsers {
		if !o.Parts.Hosts {
			break
		}
		m := HostManifest(b, o.HostPath).JSON()
		what := b + " native-messaging host"
		hostDirs := l.hostDirs[b]
		if o.UserDataDir != "" && b != "firefox" {
			hostDirs = []string{filepath.Join(o.UserDataDir, "NativeMessagingHosts")}
		}
		for _, dir := range hostDirs {
			file(b, dir, HostName+".json", m, what)
		}
		for _, key := range l.hostKeys[b] {
			name := HostName + "." + family(b) + ".json"
			file("", l.fileDir, name, m, family(b)+" native-messaging host")
			acts = append(acts, action{op: opReg, browser: b, path: key + `\` + HostName, value: winJoin(l.fileDir, name), what: what})
		}
	}
	own := o.Module != "" && filepath.IsAbs(o.Module) && (o.Root != "" || isFile(o.Module))
	if o.Parts.PKCS11 && firefox && own {
		data := PKCS11Manifest(OwnModuleName, o.Module).JSON()
		what := "Firefox PKCS#11 module " + OwnModuleName
		for _, dir := range l.pkcs11Dirs {
			file("firefox", dir, OwnModuleName+".json", data, what)
		}
		for _, key := range l.pkcs11Keys {
			file("firefox", l.fileDir, OwnModuleName+".json", data, what)
			acts = append(acts, action{op: opReg, browser: "firefox", path: key + `\` + OwnModuleName, value: winJoin(l.fileDir, OwnModuleName+".json"), what: what})
		}
	}
	if o.Parts.NSS && chromium && len(l.nssDBs) > 0 && o.Root == "" && own {
		found := false
		for _, db := range l.nssDBs {
			if isNSSDB(db) {
				found = true
				acts = append(acts, action{op: opNSS, path: db, name: OwnModuleName, value: o.Module})
			}
		}
		if !found {
			notes = append(notes, fmt.Sprintf("no NSS database (%s): start Chrome or Chromium once, close it, then install again so they can use the card for client certificates", strings.Join(l.nssDBs, " or ")))
		}
	}
	if o.Parts.PKCS11 && firefox && own && o.Scope == User {
		for _, p := range firefoxProfiles(l) {
			mods, _ := nssModules(p)
			for _, name := range slices.Sorted(maps.Keys(mods)) {
				if strings.HasPrefix(name, "eidlink_") {
					acts = append(acts, action{op: opUnload, browser: "firefox", path: p, name: name, value: mods[name]})
				}
			}
		}
	}
	if !own && (o.Parts.PKCS11 || o.Parts.NSS || o.Parts.Policies) {
		notes = append(notes, fmt.Sprintf("eidlink's PKCS#11 module is not at %s: nothing registered for logins with a client certificate (MyINPS, CIE ID); build it with \"make pkcs11\", reinstall eidlink, or give its path with --pkcs11-module", o.Module))
	}
	if firefox && len(o.FirefoxCerts) > 0 && o.Scope == User {
		profiles := firefoxProfiles(l)
		if len(profiles) == 0 {
			notes = append(notes, fmt.Sprintf("no Firefox profile in %s: start Firefox once, close it, then install again so that it sends the card's certificate without asking", strings.Join(l.firefoxProfiles, " or ")))
		}
		for _, cert := range o.FirefoxCerts {
			hosts := rememberHosts(cert, o.AutoSelect.Dev)
			key, err := certDBKey(cert)
			if len(hosts) == 0 || err != nil {
				notes = append(notes, fmt.Sprintf("the certificate of %q is not a CIE's or a CNS's authentication certificate: Firefox is not told to send it anywhere", cert.Subject.CommonName))
				continue
			}
			var keys []string
			for _, h := range hosts {
				keys = append(keys, rememberKeys(h)...)
			}
			h := eidcert.HolderOf(cert)
			what := fmt.Sprintf("Firefox sends the %s certificate of %s to %s without asking", strings.ToUpper(string(eidcert.KindOf(cert))), strings.TrimSpace(h.Name()+" "+h.CodiceFiscale), strings.Join(hosts, ", "))
			for _, p := range profiles {
				acts = append(acts, action{op: opRemember, browser: "firefox", path: filepath.Join(p, rememberFile), name: key, keys: keys, what: what})
			}
		}
	}
	if o.Parts.Policies {
		entries := o.AutoSelect.entries()
		for _, b := range o.Browsers {
			what := b + " certificate auto-selection"
			if f := l.policyFiles[b]; f != "" {
				file(b, filepath.Dir(f), filepath.Base(f), autoSelectFile(entries), what)
			}
			if k := l.policyKeys[b]; k != "" {
				for _, e := range entries {
					acts = append(acts, action{op: opRegSeq, browser: b, path: k + `\AutoSelectCertificateForUrls`, value: e, what: what})
				}
			}
		}
		if firefox && l.firefoxPolicies != "" {
			set := func(v any, what string, keys ...string) {
				acts = append(acts, action{op: opJSON, browser: "firefox", path: l.firefoxPolicies, keys: append([]string{"policies"}, keys...), jsonVal: v, what: what})
			}
			if own {
				set(o.Module, "Firefox security device "+OwnModuleName, "SecurityDevices", "Add", OwnModuleName)
			}
		}
	}
	return dedup(acts), notes
}

// family is the manifest flavour a browser reads.
func family(browser string) string {
	if browser == "firefox" {
		return "firefox"
	}
	return "chrome"
}

func dedup(acts []action) []action {
	var out []action
	for _, a := range acts {
		if !slices.ContainsFunc(out, func(b action) bool {
			return a.op == b.op && a.path == b.path && a.name == b.name && a.value == b.value && slices.Equal(a.keys, b.keys)
		}) {
			out = append(out, a)
		}
	}
	return out
}

// isNSSDB reports whether dir holds an NSS database in SQL format.
func isNSSDB(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "cert9.db"))
	return err == nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}
