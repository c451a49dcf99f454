//go:build linux

package install

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// setupHome points HOME at a fresh directory with the XDG variables
// unset, and gives SoftHSM2 (loaded by modutil) a private config.
func setupHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"} {
		t.Setenv(v, "")
	}
	hsm := t.TempDir()
	conf := filepath.Join(hsm, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+hsm+"\n"), 0o644)
	t.Setenv("SOFTHSM2_CONF", conf)
	testenv.NeedSoftHSM(t) // modutil loads it
	testenv.NeedCommand(t, "certutil", "libnss3-tools")
	return home
}

// buildModule compiles eidlink's PKCS#11 module (pkcs11/) as "make
// pkcs11" does and returns its path.
func buildModule(t *testing.T) string {
	t.Helper()
	testenv.NeedCommand(t, "gcc", "gcc")
	lib := filepath.Join(t.TempDir(), ModuleFile("linux"))
	args := []string{"-std=c11", "-fvisibility=hidden", "-fPIC", "-shared", "-o", lib}
	for _, f := range []string{"module.c", "wire.c", "ws.c", "platform_unix.c"} {
		args = append(args, filepath.Join("..", "..", "pkcs11", f))
	}
	if out, err := exec.Command("gcc", append(args, "-lpthread")...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return lib
}

func newNSSDB(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("certutil", "-N", "-d", "sql:"+dir, "--empty-password").CombinedOutput(); err != nil {
		t.Fatalf("certutil -N (apt-get install libnss3-tools): %v %s", err, out)
	}
}

// snapshot describes every file and directory under root: kind, mode,
// owner and a hash of the contents. skip leaves paths out by prefix.
func snapshot(t *testing.T, root string, skip ...string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, s := range skip {
			if strings.HasPrefix(p, s) {
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		snap[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for p, d := range want {
		if got[p] != d {
			t.Errorf("%s: %s was %q, now %q", what, p, d, got[p])
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s was added", what, p)
		}
	}
}

func TestUserInstall(t *testing.T) {
	home := setupHome(t)
	os.MkdirAll(filepath.Join(home, ".config"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "mine"), []byte("x"), 0o600)
	db := filepath.Join(home, ".pki", "nssdb")
	newNSSDB(t, db)
	nssBefore, _ := nssModules(db)
	host := writeTemp(t, "eidlink-host")
	own := buildModule(t)
	o := Options{Scope: User, HostPath: host, Parts: DefaultParts(User),
		Module: own, Vendor: []Module{{Name: "IPZS CIE", Path: "/nonexistent/libcie-pkcs11.so"}, {Name: "SoftHSM", Path: cryptoki.SoftHSMModule}}}
	before := snapshot(t, home, db)

	var out bytes.Buffer
	notes, err := Install(o, &out)
	if err != nil || len(notes) > 0 {
		t.Fatalf("Install: %v, notes %q\n%s", err, notes, &out)
	}
	for _, c := range []struct{ browser, dir string }{
		{"chrome", ".config/google-chrome/NativeMessagingHosts"},
		{"chromium", ".config/chromium/NativeMessagingHosts"},
		{"edge", ".config/microsoft-edge/NativeMessagingHosts"},
		{"brave", ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts"},
		{"firefox", ".mozilla/native-messaging-hosts"},
	} {
		f := filepath.Join(home, c.dir, "it.eidlink.host.json")
		if data, err := os.ReadFile(f); err != nil || !bytes.Equal(data, HostManifest(c.browser, host).JSON()) {
			t.Errorf("%s: %s %v", c.browser, data, err)
		}
		if !strings.Contains(out.String(), "write "+f) {
			t.Errorf("output does not mention %s:\n%s", f, &out)
		}
	}
	pk := filepath.Join(home, ".mozilla/pkcs11-modules/eidlink.json")
	if data, err := os.ReadFile(pk); err != nil || !bytes.Equal(data, PKCS11Manifest(OwnModuleName, own).JSON()) {
		t.Errorf("pkcs11 manifest: %s %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(home, ".mozilla/pkcs11-modules/eidlink_cie.json")); err == nil {
		t.Error("manifest written for an absent module")
	}
	if mods, err := nssModules(db); err != nil || mods[OwnModuleName] != own || len(mods) != len(nssBefore)+1 {
		t.Errorf("NSS modules %v %v", mods, err)
	}
	var checked []string
	for _, f := range Check(User, o.Module, o.Vendor) {
		checked = append(checked, f.What)
		if !f.OK && !f.Optional {
			t.Errorf("after install, doctor finds: %s", f.What)
		}
	}
	for _, want := range []string{ // chromium and firefox-esr are installed here
		"chromium finds eidlink-host (" + home + "/.config/chromium/NativeMessagingHosts/it.eidlink.host.json)",
		"Firefox can load eidlink's PKCS#11 module as eidlink (" + pk + ")",
		"Chrome and Chromium can use eidlink's PKCS#11 module (NSS database " + db + ")",
	} {
		if !slices.Contains(checked, want) {
			t.Errorf("doctor lacks %q: %q", want, checked)
		}
	}
	os.Remove(pk)
	os.WriteFile(filepath.Join(home, ".config/chromium/NativeMessagingHosts/it.eidlink.host.json"), HostManifest("firefox", host).JSON(), 0o644)
	failed := map[string]bool{}
	for _, f := range Check(User, o.Module, o.Vendor) {
		failed[strings.SplitN(f.What, " ", 2)[0]] = failed[strings.SplitN(f.What, " ", 2)[0]] || !f.OK && !f.Optional
	}
	if !failed["chromium"] || !failed["Firefox"] || failed["chrome"] {
		t.Errorf("doctor failures after breaking chromium and firefox's pkcs11: %v", failed)
	}
	if _, err := Install(o, &out); err != nil {
		t.Fatal(err)
	}

	installed := snapshot(t, home)
	if _, err := Install(o, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "second install", snapshot(t, home), installed)

	out.Reset()
	if err := Uninstall(Options{Scope: User, DryRun: true}, &out); err != nil || !strings.Contains(out.String(), "unregister eidlink from") {
		t.Fatalf("dry-run uninstall: %v\n%s", err, &out)
	}
	sameTree(t, "dry-run uninstall", snapshot(t, home), installed)
	if err := Uninstall(Options{Scope: User}, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "uninstall", snapshot(t, home, db), before)
	if mods, _ := nssModules(db); !maps.Equal(mods, nssBefore) {
		t.Errorf("NSS modules after uninstall %v, before %v", mods, nssBefore)
	}
	out.Reset()
	if err := Uninstall(Options{Scope: User}, &out); err != nil || !strings.Contains(out.String(), "nothing to remove") {
		t.Errorf("second uninstall: %v %s", err, &out)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	home := setupHome(t)
	newNSSDB(t, filepath.Join(home, ".local/share/pki/nssdb"))
	before := snapshot(t, home)
	var out bytes.Buffer
	o := Options{Scope: User, HostPath: writeTemp(t, "eidlink-host"), Parts: DefaultParts(User), Module: cryptoki.SoftHSMModule, DryRun: true}
	if _, err := Install(o, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "dry run", snapshot(t, home), before)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[6], "register eidlink ("+cryptoki.SoftHSMModule+") in NSS database "+home+"/.local/share/pki/nssdb") {
		t.Errorf("dry run printed:\n%s", &out)
	}
}

func TestUninstallOneBrowser(t *testing.T) {
	home := setupHome(t)
	before := snapshot(t, home)
	o := Options{Scope: User, HostPath: writeTemp(t, "eidlink-host"), Parts: Parts{Hosts: true}}
	var out bytes.Buffer
	if _, err := Install(o, &out); err != nil {
		t.Fatal(err)
	}
	if err := Uninstall(Options{Scope: User, Browsers: []string{"chromium", "edge"}}, &out); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{"chromium": false, "microsoft-edge": false, "google-chrome": true} {
		_, err := os.Stat(filepath.Join(home, ".config", dir))
		if (err == nil) != want {
			t.Errorf("~/.config/%s present = %v after uninstalling chromium and edge", dir, err == nil)
		}
	}
	if err := Uninstall(Options{Scope: User}, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "uninstall", snapshot(t, home), before)
}

func TestUserDataDir(t *testing.T) {
	home := setupHome(t)
	profile := filepath.Join(t.TempDir(), "profile")
	host := writeTemp(t, "eidlink-host")
	o := Options{Scope: User, Browsers: []string{"chromium", "firefox"}, HostPath: host, Parts: Parts{Hosts: true}, UserDataDir: profile}
	if _, err := Install(o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(profile, "NativeMessagingHosts", HostName+".json"))
	if err != nil || !bytes.Equal(data, HostManifest("chromium", host).JSON()) {
		t.Errorf("profile manifest %s %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(home, ".config/chromium")); err == nil {
		t.Error("the default chromium profile was written")
	}
	if _, err := os.Stat(filepath.Join(home, ".mozilla/native-messaging-hosts", HostName+".json")); err != nil {
		t.Error(err)
	}
	if err := Uninstall(Options{Scope: User}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(profile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("profile directory left behind: %v", err)
	}
}

// TestNSSInUse: a process holding the database open (as a running
// browser does) blocks the change; once it is gone the install proceeds.
func TestNSSInUse(t *testing.T) {
	home := setupHome(t)
	db := filepath.Join(home, ".pki/nssdb")
	newNSSDB(t, db)
	f, err := os.Open(filepath.Join(db, "cert9.db"))
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "600")
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	o := Options{Scope: User, Browsers: []string{"chromium"}, HostPath: writeTemp(t, "eidlink-host"), Parts: Parts{NSS: true}, Module: cryptoki.SoftHSMModule}
	_, err = Install(o, &bytes.Buffer{})
	var ie *Error
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, fmt.Sprintf("sleep (pid %d)", holder.Process.Pid)) || !strings.Contains(ie.Fix, "close the browser") {
		t.Fatalf("install with the database open: %v", err)
	}
	if mods, _ := nssModules(db); mods["eidlink"] != "" {
		t.Error("module added while the database was open")
	}
	holder.Process.Kill()
	holder.Wait()
	if _, err := Install(o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if mods, _ := nssModules(db); mods["eidlink"] != cryptoki.SoftHSMModule {
		t.Errorf("module not added: %v", mods)
	}
}

// TestNSSModuleAlreadyThere: a module the user registered under another
// name is neither duplicated nor removed.
func TestNSSModuleAlreadyThere(t *testing.T) {
	home := setupHome(t)
	db := filepath.Join(home, ".pki/nssdb")
	newNSSDB(t, db)
	if err := nssAdd(db, "My HSM", cryptoki.SoftHSMModule); err != nil {
		t.Fatal(err)
	}
	o := Options{Scope: User, Browsers: []string{"chrome"}, HostPath: writeTemp(t, "eidlink-host"), Parts: Parts{NSS: true}, Module: cryptoki.SoftHSMModule}
	notes, err := Install(o, &bytes.Buffer{})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], `as "My HSM"`) {
		t.Fatalf("notes %q, %v", notes, err)
	}
	if err := Uninstall(Options{Scope: User}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if mods, _ := nssModules(db); len(mods) != 1 || mods["My HSM"] != cryptoki.SoftHSMModule {
		t.Errorf("modules after uninstall: %v", mods)
	}
}

func TestNoNSSDatabase(t *testing.T) {
	home := setupHome(t)
	o := Options{Scope: User, HostPath: writeTemp(t, "eidlink-host"), Parts: DefaultParts(User), Module: cryptoki.SoftHSMModule}
	notes, err := Install(o, &bytes.Buffer{})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "start Chrome or Chromium once") {
		t.Fatalf("notes %q, %v", notes, err)
	}
	if _, err := os.Stat(filepath.Join(home, ".pki")); err == nil {
		t.Error("an NSS database was created")
	}
}

// reroot moves a system layout under root, so a test can apply it.
func reroot(l layout, root string) layout {
	in := func(p string) string { return filepath.Join(root, p) }
	for b, ds := range l.hostDirs {
		l.hostDirs[b] = nil
		for _, d := range ds {
			l.hostDirs[b] = append(l.hostDirs[b], in(d))
		}
	}
	for i, d := range l.pkcs11Dirs {
		l.pkcs11Dirs[i] = in(d)
	}
	for b, f := range l.policyFiles {
		l.policyFiles[b] = in(f)
	}
	l.state, l.firefoxPolicies = in(l.state), in(l.firefoxPolicies)
	return l
}

func TestSystemPolicies(t *testing.T) {
	testenv.NeedSoftHSM(t) // the module registered
	root := t.TempDir()
	l := reroot(locate("linux", System, testDirs), root)
	admin := `{"policies": {"DisableTelemetry": true, "Preferences": {"browser.tabs.warnOnClose": {"Value": false}, "security.default_personal_cert": {"Value": "Ask Every Time", "Status": "locked"}}}}`
	os.MkdirAll(filepath.Dir(l.firefoxPolicies), 0o755)
	os.WriteFile(l.firefoxPolicies, []byte(admin), 0o644)
	before := snapshot(t, root, l.firefoxPolicies)
	host := writeTemp(t, "eidlink-host")
	o := Options{Scope: System, Browsers: Browsers, HostPath: host, Parts: Parts{Hosts: true, PKCS11: true, Policies: true},
		Module: cryptoki.SoftHSMModule, AutoSelect: AutoSelect{IssuerCNs: []string{"CA A"}}}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := install(o, l, owner{}, &out); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"chrome", "chromium", "edge"} {
		var pol struct{ AutoSelectCertificateForUrls []string }
		data, _ := os.ReadFile(l.policyFiles[b])
		if err := json.Unmarshal(data, &pol); err != nil || len(pol.AutoSelectCertificateForUrls) != 2 {
			t.Fatalf("%s policy %s %v", b, data, err)
		}
		var e struct {
			Pattern string
			Filter  struct{ ISSUER struct{ CN string } }
		}
		if err := json.Unmarshal([]byte(pol.AutoSelectCertificateForUrls[0]), &e); err != nil || e.Pattern != "https://[*.]inps.it" || e.Filter.ISSUER.CN != "CA A" {
			t.Errorf("%s entry %+v %v", b, e, err)
		}
	}
	doc, err := readDoc(l.firefoxPolicies)
	if err != nil {
		t.Fatal(err)
	}
	p := doc["policies"].(map[string]any)
	prefs := p["Preferences"].(map[string]any)
	if p["DisableTelemetry"] != true || prefs["browser.tabs.warnOnClose"] == nil ||
		prefs["security.default_personal_cert"].(map[string]any)["Value"] != "Ask Every Time" ||
		p["SecurityDevices"].(map[string]any)["Add"].(map[string]any)[OwnModuleName] != cryptoki.SoftHSMModule {
		t.Errorf("firefox policies %v", doc)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/chromium/native-messaging-hosts", HostName+".json")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/lib64/mozilla/pkcs11-modules/eidlink.json")); err != nil {
		t.Error(err)
	}
	if err := uninstall(Options{Scope: System}, l, owner{}, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "system uninstall", snapshot(t, root, l.firefoxPolicies), before)
	var got, want any
	data, _ := os.ReadFile(l.firefoxPolicies)
	json.Unmarshal(data, &got)
	json.Unmarshal([]byte(admin), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("policies.json after uninstall:\n%s\nwant %s", data, admin)
	}

	// Without an admin policies.json, eidlink's is removed whole.
	os.Remove(l.firefoxPolicies)
	before = snapshot(t, root)
	if _, err := install(o, l, owner{}, &out); err != nil {
		t.Fatal(err)
	}
	if err := uninstall(Options{Scope: System}, l, owner{}, &out); err != nil {
		t.Fatal(err)
	}
	sameTree(t, "system uninstall without admin policies", snapshot(t, root), before)
}

func TestStageRoot(t *testing.T) {
	root := t.TempDir()
	o := Options{Scope: System, HostPath: "/usr/bin/eidlink-host", Parts: Parts{Hosts: true}, Root: root}
	if _, err := Install(o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, root))
		}
		return err
	})
	want := []string{
		"/etc/chromium/native-messaging-hosts/it.eidlink.host.json",
		"/etc/opt/chrome/native-messaging-hosts/it.eidlink.host.json",
		"/etc/opt/edge/native-messaging-hosts/it.eidlink.host.json",
		"/usr/lib/mozilla/native-messaging-hosts/it.eidlink.host.json",
		"/usr/lib64/mozilla/native-messaging-hosts/it.eidlink.host.json",
	}
	if !slices.Equal(files, want) {
		t.Errorf("staged %q, want %q", files, want)
	}
}

func TestOptionsErrors(t *testing.T) {
	setupHome(t)
	host := writeTemp(t, "eidlink-host")
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Scope: User, HostPath: host, Parts: Parts{Policies: true}}, "every user"},
		{Options{Scope: User, HostPath: "eidlink-host"}, "not absolute"},
		{Options{Scope: User, HostPath: "/nonexistent/eidlink-host"}, "eidlink-host is not at"},
		{Options{Scope: User, HostPath: host, Browsers: []string{"safari"}}, "unknown browser"},
		{Options{Scope: User, HostPath: host, Root: "/tmp/x"}, "staging root"},
		{Options{Scope: System, HostPath: host, UserDataDir: "/tmp/p"}, "profile directory"},
	} {
		var ie *Error
		if _, err := Install(c.o, &bytes.Buffer{}); !errors.As(err, &ie) || !strings.Contains(ie.Message, c.want) || ie.Fix == "" {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// TestOwnership: root installing into another user's home leaves every
// file it writes, NSS database included, owned by that user.
func TestOwnership(t *testing.T) {
	testenv.NeedRoot(t, "ownership is only changed by root")
	home := setupHome(t)
	db := filepath.Join(home, ".pki/nssdb")
	newNSSDB(t, db)
	const uid, gid = 4242, 4343
	filepath.WalkDir(home, func(p string, _ fs.DirEntry, _ error) error { return os.Lchown(p, uid, gid) })
	o := Options{Scope: User, HostPath: writeTemp(t, "eidlink-host"), Parts: DefaultParts(User), Module: cryptoki.SoftHSMModule}
	if _, err := Install(o, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(home, func(p string, _ fs.DirEntry, _ error) error {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		n++
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d", p, st.Uid, st.Gid)
		}
		return nil
	})
	if n < 20 {
		t.Errorf("only %d paths under home", n)
	}
	if err := Uninstall(Options{Scope: User}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

// TestReplacesVendorModules: what an older eidlink registered for the
// card software is replaced by eidlink's own module; what the person
// registered stays, and both Install and Check say the card would be
// offered twice.
func TestReplacesVendorModules(t *testing.T) {
	home := setupHome(t)
	db := filepath.Join(home, ".pki/nssdb")
	newNSSDB(t, db)
	profile := filepath.Join(home, ".mozilla/firefox/x.default-esr")
	newNSSDB(t, profile)
	mine := filepath.Join(t.TempDir(), filepath.Base(cryptoki.SoftHSMModule)) // the person's copy of the card software
	data, err := os.ReadFile(cryptoki.SoftHSMModule)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(mine, data, 0o755)
	for _, dir := range []string{db, profile} {
		if err := nssAdd(dir, "My card", mine); err != nil {
			t.Fatal(err)
		}
	}
	testenv.NeedFile(t, testenv.OpenSC, "opensc")
	// NSS loads OpenSC, which probes the cards in the readers: wait for
	// the tests of other packages that use vpcd's virtual cards.
	if err := virtualcardtest.Lock(); err != nil {
		t.Fatal(err)
	}
	if err := nssAdd(profile, "eidlink_opensc", testenv.OpenSC); err != nil { // loaded by the extension from an older manifest
		t.Fatal(err)
	}
	// An older eidlink's install: other card software (OpenSC) in the NSS
	// database and in a Firefox manifest, recorded in the state file.
	if err := nssAdd(db, "eidlink_opensc", testenv.OpenSC); err != nil {
		t.Fatal(err)
	}
	oldManifest := filepath.Join(home, ".mozilla/pkcs11-modules/eidlink_opensc.json")
	os.MkdirAll(filepath.Dir(oldManifest), 0o755)
	os.WriteFile(oldManifest, PKCS11Manifest("eidlink_opensc", testenv.OpenSC).JSON(), 0o644)
	st := filepath.Join(home, ".local/state/eidlink/installed.json")
	os.MkdirAll(filepath.Dir(st), 0o755)
	os.WriteFile(st, []byte(`{"records": [
		{"op": "dir", "browser": "firefox", "path": "`+filepath.Dir(oldManifest)+`"},
		{"op": "file", "browser": "firefox", "path": "`+oldManifest+`"},
		{"op": "nss", "path": "`+db+`", "name": "eidlink_opensc"}]}`), 0o644)

	own := buildModule(t)
	o := Options{Scope: User, Browsers: []string{"chromium", "firefox"}, HostPath: writeTemp(t, "eidlink-host"), Parts: DefaultParts(User),
		Module: own, Vendor: []Module{{Name: "SoftHSM", Path: cryptoki.SoftHSMModule}, {Name: "OpenSC", Path: testenv.OpenSC}}}
	var out bytes.Buffer
	notes, err := Install(o, &out)
	if err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	for _, want := range []string{
		"unregister eidlink_opensc from NSS database " + db + " (eidlink's own module replaces it)",
		"remove " + oldManifest + " (eidlink's own module replaces it)",
		"unload eidlink_opensc (" + testenv.OpenSC + ") from Firefox profile " + profile + " (eidlink's own module replaces it)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], `"My card"`) || !strings.Contains(notes[0], "offered twice") {
		t.Errorf("notes %q", notes)
	}
	if mods, _ := nssModules(db); len(mods) != 2 || mods[OwnModuleName] != own || mods["My card"] != mine {
		t.Errorf("NSS modules after install: %v", mods)
	}
	if _, err := os.Stat(oldManifest); err == nil {
		t.Error("the older eidlink's manifest for the card software is still there")
	}
	if _, err := os.Stat(filepath.Join(home, ".mozilla/pkcs11-modules/eidlink.json")); err != nil {
		t.Error(err)
	}
	var doubled []string
	for _, f := range Check(User, own, o.Vendor) {
		if strings.Contains(f.What, "offers the card once") || strings.Contains(f.What, "offer the card once") {
			if f.OK || !strings.Contains(f.Fix, "offered twice") {
				t.Errorf("finding %+v", f)
			}
			doubled = append(doubled, f.What)
		}
	}
	if want := []string{
		`Firefox profile ` + profile + ` offers the card once: it also loads "My card" (` + mine + `)`,
		`Chrome and Chromium offer the card once: NSS database ` + db + ` also has "My card" (` + mine + `)`,
	}; !slices.Equal(doubled, want) {
		t.Errorf("doctor on doubles:\n%q\nwant\n%q", doubled, want)
	}
	if err := Uninstall(Options{Scope: User}, &out); err != nil {
		t.Fatal(err)
	}
	if mods, _ := nssModules(db); len(mods) != 1 || mods["My card"] != mine {
		t.Errorf("NSS modules after uninstall: %v", mods)
	}
	if mods, _ := nssModules(profile); len(mods) != 1 || mods["My card"] != mine {
		t.Errorf("Firefox profile modules after uninstall: %v", mods) // eidlink_opensc stays unloaded
	}
}

// TestNoOwnModule: without eidlink's module nothing is registered for
// it, and both Install and Check say where it was expected.
func TestNoOwnModule(t *testing.T) {
	home := setupHome(t)
	db := filepath.Join(home, ".pki/nssdb")
	newNSSDB(t, db)
	missing := filepath.Join(t.TempDir(), ModuleFile("linux"))
	o := Options{Scope: User, HostPath: writeTemp(t, "eidlink-host"), Parts: DefaultParts(User), Module: missing}
	notes, err := Install(o, &bytes.Buffer{})
	if err != nil || len(notes) != 1 || !strings.Contains(notes[0], "not at "+missing) || !strings.Contains(notes[0], "--pkcs11-module") {
		t.Fatalf("notes %q, %v", notes, err)
	}
	if mods, _ := nssModules(db); len(mods) != 0 {
		t.Errorf("NSS modules %v", mods)
	}
	if _, err := os.Stat(filepath.Join(home, ".mozilla/pkcs11-modules")); err == nil {
		t.Error("a PKCS#11 manifest directory was made")
	}
	var found bool
	for _, f := range Check(User, missing, nil) {
		if strings.HasPrefix(f.What, "eidlink's PKCS#11 module") {
			found = true
			if f.OK || !strings.HasSuffix(f.What, "is at "+missing) || !strings.Contains(f.Fix, "make pkcs11") {
				t.Errorf("finding %+v", f)
			}
		}
		if strings.Contains(f.What, "can use eidlink's PKCS#11 module") || strings.Contains(f.What, "can load eidlink's") {
			t.Errorf("finding about registrations of an absent module: %+v", f)
		}
	}
	if !found {
		t.Error("doctor does not say the module is missing")
	}
	if err := Uninstall(Options{Scope: User}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
}

// firefoxProfile makes a Firefox profile under home, where Firefox ESR
// 153 makes it in a home with no ~/.mozilla/firefox, with id's key and
// certificate (as eidlink's module would present them) and trust in the
// CAs.
func firefoxProfile(t *testing.T, home string, id *eidcert.TestIdentity, cas ...*x509.Certificate) string {
	t.Helper()
	testenv.NeedCommand(t, "openssl", "openssl")
	testenv.NeedCommand(t, "pk12util", "libnss3-tools")
	profile := filepath.Join(home, ".config/mozilla/firefox/eidlink.default-esr")
	newNSSDB(t, profile)
	dir := t.TempDir()
	if err := id.Save(dir); err != nil {
		t.Fatal(err)
	}
	p12 := filepath.Join(dir, "id.p12")
	for _, cmd := range [][]string{
		{"openssl", "pkcs12", "-export", "-in", filepath.Join(dir, eidcert.CertFile), "-inkey", filepath.Join(dir, eidcert.KeyFile), "-out", p12, "-passout", "pass:"},
		{"pk12util", "-i", p12, "-d", "sql:" + profile, "-W", ""},
	} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	for i, ca := range cas {
		f := filepath.Join(dir, fmt.Sprintf("ca%d.pem", i))
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o644)
		if out, err := exec.Command("certutil", "-A", "-d", "sql:"+profile, "-n", fmt.Sprintf("ca%d", i), "-t", "CT,,", "-i", f).CombinedOutput(); err != nil {
			t.Fatalf("certutil -A: %v\n%s", err, out)
		}
	}
	return profile
}

// TestFirefoxSendsCertWithoutAsking: after install, headless Firefox ESR
// logs in to a local server that requires a client certificate with no
// certificate chooser (which would hang it until the bound), and the
// server gets the card's certificate.
func TestFirefoxSendsCertWithoutAsking(t *testing.T) {
	home := setupHome(t)
	testenv.NeedCommand(t, "firefox-esr", "firefox-esr")
	id, err := eidcert.NewTestIdentity(eidcert.CIE, eidcert.TestHolder)
	if err != nil {
		t.Fatal(err)
	}
	serverCA, serverCAKey, err := eidcert.NewTestCA("eidlink test server CA")
	if err != nil {
		t.Fatal(err)
	}
	profile := firefoxProfile(t, home, id, serverCA)
	os.WriteFile(filepath.Join(profile, "user.js"), []byte(`user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("browser.aboutwelcome.enabled", false);
user_pref("app.update.enabled", false);
`), 0o644)

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, serverCA, key.Public(), serverCAKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(id.CA)
	got := make(chan string, 8)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.TLS.PeerCertificates[0].Subject.CommonName
		fmt.Fprint(w, "<title>welcome</title>welcome")
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
	}
	srv.StartTLS()
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	o := Options{Scope: User, Browsers: []string{"firefox"}, HostPath: writeTemp(t, "eidlink-host"),
		FirefoxCerts: []*x509.Certificate{id.Cert}, AutoSelect: AutoSelect{Dev: true}}
	var out bytes.Buffer
	if notes, err := Install(o, &out); err != nil || len(notes) > 0 {
		t.Fatalf("install: %v %q\n%s", err, notes, &out)
	}
	if !strings.Contains(out.String(), "remember in "+filepath.Join(profile, rememberFile)) {
		t.Errorf("install output:\n%s", &out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ff := exec.CommandContext(ctx, "firefox-esr", "--headless", "--no-remote", "--profile", profile,
		"--screenshot", filepath.Join(t.TempDir(), "page.png"), url+"/")
	ff.Env = append(os.Environ(), "HOME="+home)
	ff.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a stuck Firefox goes with its children
	ff.Cancel = func() error { return syscall.Kill(-ff.Process.Pid, syscall.SIGKILL) }
	ffOut, err := ff.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("Firefox did not finish loading %s (a certificate chooser?):\n%s", url, ffOut)
	}
	if err != nil {
		t.Fatalf("firefox-esr: %v\n%s", err, ffOut)
	}
	select {
	case cn := <-got:
		if cn != id.Cert.Subject.CommonName {
			t.Errorf("the server got %q, want %q", cn, id.Cert.Subject.CommonName)
		}
	default:
		t.Fatalf("the page was not served with a client certificate:\n%s", ffOut)
	}

	if err := Uninstall(Options{Scope: User}, &out); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(profile, rememberFile))
	slots, _ := parseRemember(data)
	for _, s := range slots {
		if s.score != 0 {
			t.Errorf("after uninstall Firefox still remembers %q", s.key)
		}
	}
}

// TestFirefoxRememberRoundTrip: a choice the person remembered is
// replaced for the site's keys only and put back by uninstall, byte for
// byte; a running Firefox blocks the change.
func TestFirefoxRememberRoundTrip(t *testing.T) {
	home := setupHome(t)
	id, err := eidcert.NewTestIdentity(eidcert.CNS, eidcert.TestHolder)
	if err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(home, ".mozilla/firefox/x.default")
	newNSSDB(t, profile)
	bin := filepath.Join(profile, rememberFile)
	now := time.Now()
	slots, _ := rememberPut(nil, "www.inps.it,,^partitionKey=%28https%2Cinps.it%29", "THEIRS", now)
	slots, _ = rememberPut(slots, "example.org,,", "OTHER", now)
	before := encodeRemember(slots)
	os.WriteFile(bin, before, 0o644)

	f, err := os.Open(filepath.Join(profile, "cert9.db"))
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "600") // Firefox holds its profile's databases open
	holder.ExtraFiles = []*os.File{f}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	o := Options{Scope: User, Browsers: []string{"firefox"}, HostPath: writeTemp(t, "eidlink-host"), FirefoxCerts: []*x509.Certificate{id.Cert}}
	var ie *Error
	if _, err := Install(o, &bytes.Buffer{}); !errors.As(err, &ie) || !strings.Contains(ie.Fix, "close Firefox") {
		t.Fatalf("install with Firefox running: %v", err)
	}
	holder.Process.Kill()
	holder.Wait()

	for range 2 {
		if _, err := Install(o, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(bin)
	slots, err = parseRemember(data)
	if err != nil {
		t.Fatal(err)
	}
	var finding *Finding
	for _, f := range Check(User, writeTemp(t, "libeidlink-pkcs11.so"), nil) {
		if strings.HasPrefix(f.What, "Firefox profile "+profile+" sends") {
			finding = &f
		}
	}
	if finding == nil || !finding.OK || !finding.Optional || !strings.HasSuffix(finding.What, "without asking on www.inps.it, serviziweb2.inps.it") {
		t.Errorf("doctor on Firefox's remembered choice: %+v", finding)
	}
	mine, _ := certDBKey(id.Cert)
	for _, k := range append(rememberKeys("www.inps.it"), rememberKeys("serviziweb2.inps.it")...) {
		if v, _ := rememberGet(slots, k); v != mine {
			t.Errorf("%s = %q after install", k, v)
		}
	}
	if v, _ := rememberGet(slots, "example.org,,"); v != "OTHER" {
		t.Errorf("another site's choice changed: %q", v)
	}
	if err := Uninstall(Options{Scope: User}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(bin); !bytes.Equal(after, before) {
		t.Error("uninstall did not put back the remembered choices as they were")
	}
}
