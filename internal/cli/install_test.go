package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	host := filepath.Join(t.TempDir(), "eidlink-host")
	os.WriteFile(host, []byte("#!/bin/sh\n"), 0o755)

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
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(t.TempDir(), "no-pcscd")) // only the SoftHSM card
	host := filepath.Join(t.TempDir(), "eidlink-host")
	os.WriteFile(host, []byte("#!/bin/sh\n"), 0o755)
	profile := filepath.Join(home, ".mozilla/firefox/test.default")
	os.MkdirAll(profile, 0o700)
	os.WriteFile(filepath.Join(profile, "cert9.db"), nil, 0o600)
	bin := filepath.Join(profile, "ClientAuthRememberList.bin")
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
