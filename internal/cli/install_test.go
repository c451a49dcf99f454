package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// installWorld gives install an empty HOME and an eidlink-host to
// register.
func installWorld(t *testing.T) (home, host string) {
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	host = filepath.Join(t.TempDir(), "eidlink-host")
	os.WriteFile(host, []byte("#!/bin/sh\n"), 0o755)
	return home, host
}

// firefoxProfile makes a Firefox profile in home, as install finds them.
func firefoxProfile(t *testing.T, home string) string {
	profile := filepath.Join(home, ".mozilla/firefox/test.default")
	if err := os.MkdirAll(profile, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(profile, "cert9.db"), nil, 0o600)
	return profile
}

func TestInstallCommands(t *testing.T) {
	home, host := installWorld(t)

	code, out, errOut := run(t, "", "install", "--user", "--parts", "hosts", "--host-path", host, "--dry-run")
	if code != 0 || !strings.Contains(out, "write "+home+"/.config/chromium/NativeMessagingHosts/it.eidlink.host.json") || !strings.Contains(errOut, "dry run") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Fatalf("dry run wrote %v", entries)
	}
	if code, out, errOut = run(t, "", "install", "--parts", "hosts", "--browsers", "chromium", "--host-path", host); code != 0 {
		t.Fatalf("install: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(home, ".config/chromium/NativeMessagingHosts/it.eidlink.host.json")); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = run(t, "", "uninstall", "--user"); code != 0 || !strings.Contains(out, "remove "+home+"/.config/chromium") {
		t.Fatalf("uninstall: %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("uninstall left %v", entries)
	}

	module := filepath.Join(t.TempDir(), "libeidlink-pkcs11.so")
	code, out, errOut = run(t, "", "install", "--parts", "pkcs11", "--browsers", "firefox", "--host-path", host, "--pkcs11-module", module, "--dry-run")
	if code != 0 || !strings.Contains(errOut, "eidlink's PKCS#11 module is not at "+module) || strings.Contains(out, "pkcs11-modules") {
		t.Fatalf("install without the module: %d\n%s\n%s", code, out, errOut)
	}
	os.WriteFile(module, nil, 0o644)
	code, _, errOut = run(t, "", "install", "--parts", "hosts", "--browsers", "firefox", "--host-path", host, "--firefox-cert", module, "--dry-run")
	if code != 2 || !strings.Contains(errOut, "--firefox-cert "+module) {
		t.Fatalf("install --firefox-cert with a bad file: %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, "", "install", "--parts", "hosts", "--browsers", "firefox", "--host-path", host, "--firefox-cert", "../install/testdata/firefox-client.pem", "--dry-run")
	if code != 0 || !strings.Contains(errOut, "no Firefox profile in "+home+"/.mozilla/firefox") || !strings.Contains(errOut, `"RSSMRA80A01H501U" is not a CIE's or a CNS's`) {
		t.Fatalf("install --firefox-cert: %d\n%s", code, errOut)
	}
	code, out, errOut = run(t, "", "install", "--system", "--parts", "policies", "--browsers", "chromium", "--host-path", host, "--pkcs11-module", module, "--test-ca", "--dry-run")
	if code != 0 || !strings.Contains(out, "write /etc/chromium/policies/managed/eidlink.json (chromium certificate auto-selection)") {
		t.Fatalf("install --test-ca: %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = run(t, "", "install", "--parts", "pkcs11", "--browsers", "firefox", "--host-path", host, "--pkcs11-module", module, "--dry-run")
	if code != 0 || !strings.Contains(out, "write "+home+"/.mozilla/pkcs11-modules/eidlink.json (Firefox PKCS#11 module eidlink)") {
		t.Fatalf("install with --pkcs11-module: %d\n%s\n%s", code, out, errOut)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"install", "--user", "--system"}, 2, "not both"},
		{[]string{"install", "--parts", "hosts,wallpaper"}, 2, "unknown part"},
		{[]string{"install", "--policies", "--host-path", host}, 1, "hint: add --system"},
		{[]string{"uninstall", "--browsers", "lynx"}, 1, "unknown browser"},
	} {
		if code, _, errOut := run(t, "", c.args...); code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: %d %s, want %d %q", c.args, code, errOut, c.code, c.want)
		}
	}
}

// --firefox-cards writes, with no PIN and no file, the remembered choice
// of the inserted card's certificate for its kind's hosts: the same entry
// as --firefox-cert with that certificate's file; and uninstall takes it
// away. Without a card it says to insert one.
func TestInstallFirefoxCards(t *testing.T) {
	t.Setenv(EnvCIEDriver, "ipzs") // only the SoftHSM card, not a CIE in a vpcd reader
	home, host := installWorld(t)
	bin := filepath.Join(firefoxProfile(t, home), "ClientAuthRememberList.bin")
	install := []string{"install", "--user", "--parts", "hosts", "--browsers", "firefox", "--host-path", host}

	initCard(t, "--type", "cns", "--given-name", "ANNA", "--surname", "BIANCHI", "--cf", "BNCNNA85M41F205Q")
	code, out, errOut := run(t, "", append(install, "--firefox-cards")...)
	if code != 0 || !strings.Contains(out, "Firefox sends the CNS certificate of ANNA BIANCHI BNCNNA85M41F205Q to www.inps.it, serviziweb2.inps.it without asking") {
		t.Fatalf("install --firefox-cards: %d\n%s\n%s", code, out, errOut)
	}
	fromCard, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if code, out, errOut = run(t, "", "uninstall", "--user"); code != 0 {
		t.Fatalf("uninstall: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(bin); !os.IsNotExist(err) {
		t.Fatalf("uninstall left %s: %v", bin, err)
	}
	// The card's certificate as a web page gets it, after the PIN.
	code, token, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	var tok struct{ UnverifiedCertificate []byte }
	if err := json.Unmarshal([]byte(token), &tok); code != 0 || err != nil {
		t.Fatalf("authenticate: %d %v\n%s", code, err, errOut)
	}
	certFile := filepath.Join(t.TempDir(), "card.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tok.UnverifiedCertificate}), 0o600)
	if code, out, errOut = run(t, "", append(install, "--firefox-cert", certFile)...); code != 0 {
		t.Fatalf("install --firefox-cert: %d\n%s\n%s", code, out, errOut)
	}
	if fromFile, _ := os.ReadFile(bin); !bytes.Equal(fromFile, fromCard) {
		t.Errorf("--firefox-cards wrote %q, the card's certificate file %q", fromCard, fromFile)
	}
	if code, _, errOut = run(t, "", "uninstall", "--user"); code != 0 {
		t.Fatalf("uninstall: %d %s", code, errOut)
	}

	t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
	os.WriteFile(os.Getenv("SOFTHSM2_CONF"), []byte("directories.tokendir = /nonexistent\n"), 0o644)
	code, out, errOut = run(t, "", append(install, "--firefox-cards")...)
	if code != 1 || !strings.Contains(errOut, "no card with an authentication certificate is inserted") || !strings.Contains(errOut, "hint: insert the CNS") {
		t.Fatalf("install --firefox-cards without a card: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(home, ".config")); !os.IsNotExist(err) {
		t.Errorf("install without a card wrote: %v", err)
	}
}

// The vpcd CNS through OpenSC, which gives it a slot per PIN: the
// certificate comes from the authentication slot, and the signature slot
// is no card "without a certificate before the PIN".
func TestInstallFirefoxCardsCNS(t *testing.T) {
	pc := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	t.Setenv("EIDLINK_PKCS11_MODULE", testenv.OpenSC)
	t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none"))
	home, host := installWorld(t)
	firefoxProfile(t, home)

	h := eidcert.HolderOf(virtualcardtest.Identity(t, eidcert.CNS).Cert)
	code, out, errOut := run(t, "", "install", "--user", "--parts", "hosts", "--browsers", "firefox", "--host-path", host, "--firefox-cards", "--dry-run")
	if code != 0 || strings.Count(out, "Firefox sends the CNS certificate of "+h.Name()+" "+h.CodiceFiscale+" to www.inps.it, serviziweb2.inps.it") != 1 || strings.Contains(errOut, "left out") {
		t.Fatalf("install --firefox-cards: %d\n%s\n%s", code, out, errOut)
	}
}

// A CIE that shows its certificate only after the PIN is left out with a
// note; with no other card, nothing is written.
func TestInstallFirefoxCardsCertificateAfterPIN(t *testing.T) {
	nativeCIE(t, "cie-gemalto", virtualcard.Options{CIE: virtualcard.CIEBehaviour{ProtectedFiles: true}})
	home, host := installWorld(t)
	code, out, errOut := run(t, "", "install", "--user", "--parts", "hosts", "--browsers", "firefox", "--host-path", host, "--firefox-cards")
	if code != 1 || !strings.Contains(errOut, "note: the CIE in "+virtualcardtest.Reader0+" shows no authentication certificate without its PIN: left out") || !strings.Contains(errOut, "no card with an authentication certificate") {
		t.Fatalf("install --firefox-cards: %d\n%s\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("install wrote %v", entries)
	}
}
