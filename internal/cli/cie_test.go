package cli

import (
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/tlsauth"

	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// `eidlink cie check` reports each step of the native driver on a virtual
// CIE, spending no PIN try; with no CIE it fails with a hint.
func TestCIECheck(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	if code, _, errOut := run(t, "", "cie", "check", "--reader", virtualcardtest.Reader1); code != 1 || !strings.Contains(errOut, "hint: lay the CIE") {
		t.Fatalf("no CIE: %d %s", code, errOut)
	}
	vc := virtualcardtest.NewCard(t, "cie-bit4id", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	code, out, errOut := run(t, "", "cie", "check")
	var reports []cie.Report
	if err := json.Unmarshal([]byte(out), &reports); err != nil || code != 0 {
		t.Fatalf("cie check: %d %v\n%s\n%s", code, err, out, errOut)
	}
	if len(reports) != 1 || !reports[0].OK() || reports[0].Reader != virtualcardtest.Reader0 || *reports[0].TriesLeft != 3 || vc.TriesLeft() != 3 {
		t.Fatalf("cie check: %s", out)
	}
	if code, _, _ := run(t, "", "cie", "bogus"); code != 2 {
		t.Fatalf("cie bogus: exit %d, want 2", code)
	}
}

// With only a virtual CIE in a reader and no IPZS module anywhere,
// authenticate logs in through the native driver with all 8 digits and
// the token verifies; EIDLINK_CIE_DRIVER=ipzs sends the CIE to the
// (missing) PKCS#11 module instead.
func TestAuthenticateNativeCIE(t *testing.T) {
	vc, ca := nativeCIE(t, "cie-stm", virtualcard.Options{})
	code, token, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 0 || !strings.Contains(errOut, "3 tries left") || !strings.Contains(errOut, "8-digit") {
		t.Fatalf("authenticate with the native driver: %d %s", code, errOut)
	}
	code, out, errOut := run(t, token, "verify", "--origin", origin, "--nonce", nonce, "--ca", ca, "-")
	if code != 0 || !strings.Contains(out, `"cardKind": "cie"`) {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("tries left %d", vc.TriesLeft())
	}
	code, out, _ = run(t, "", "status", "--json")
	if code != 0 || !strings.Contains(out, protocol.ModuleNativeCIE) {
		t.Fatalf("status does not name the native driver: %s", out)
	}

	t.Setenv(EnvCIEDriver, "ipzs")
	if code, _, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce); code != 1 || !strings.Contains(errOut, "hint:") {
		t.Fatalf("EIDLINK_CIE_DRIVER=ipzs without the module: %d %s", code, errOut)
	}
	t.Setenv(EnvCIEDriver, "")
	config := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "eidlink", "config.json")
	os.MkdirAll(filepath.Dir(config), 0o700)
	os.WriteFile(config, []byte(`{"cieDriver": "ipzs"}`), 0o600)
	if code, _, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce); code != 1 || !strings.Contains(errOut, "hint:") {
		t.Fatalf(`config {"cieDriver": "ipzs"} without the module: %d %s`, code, errOut)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("tries left %d", vc.TriesLeft())
	}
}

// nativeCIE inserts a virtual CIE in vpcd's first reader, with no
// PKCS#11 card anywhere, and returns it with its CA's file.
func nativeCIE(t *testing.T, typ string, o virtualcard.Options) (*virtualcard.Card, string) {
	t.Setenv("EIDLINK_PKCS11_MODULE", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
	vc := virtualcardtest.NewCard(t, typ, o)
	virtualcardtest.Insert(t, virtualcardtest.Context(t), vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Identity().CA.Raw}), 0o644)
	return vc, ca
}

// A CIE that shows its certificate only after the PIN logs in too: the
// token carries the certificate read after the PIN, and verifies.
func TestAuthenticateNativeCIECertificateAfterPIN(t *testing.T) {
	_, ca := nativeCIE(t, "cie-gemalto", virtualcard.Options{CIE: virtualcard.CIEBehaviour{ProtectedFiles: true}})
	code, token, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 0 {
		t.Fatalf("authenticate: %d %s", code, errOut)
	}
	if code, out, errOut := run(t, token, "verify", "--origin", origin, "--nonce", nonce, "--ca", ca, "-"); code != 0 || !strings.Contains(out, `"codiceFiscale": "RSSMRA80A01H501U"`) {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
}

// eidlink's PKCS#11 module serves a CIE on the native driver, with no
// IPZS module anywhere: pkcs11-tool lists its certificate and key without
// login; "eidlink unlock" takes all 8 digits, after which a CKM_RSA_PKCS
// signature verifies with openssl against the card's certificate, and
// PSS is refused (the card pads PKCS#1 v1.5: TLS 1.2 only, as status
// says). OpenSC, loaded by the service, probes the CIE it does not know
// at each listing: the service leaves it alone while the CIE is
// unlocked, or its secure session would end, and the service's
// connection keeps another process's OpenSC out. The card taken out leaves
// its slot empty and ends the unlock; put back, it is in the same slot.
func TestUnlockNativeCIE(t *testing.T) {
	pc := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	w := newTLSWorld(t, tlsauth.Config{Signatures: 3, Fresh: time.Nanosecond}, func(t *testing.T) {
		t.Setenv("EIDLINK_PKCS11_MODULE", testenv.OpenSC)
		t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
		t.Setenv(EnvCIEDriver, "")
	})
	w.card = vc.Identity().Cert
	out, err := w.tool("-O")
	if err != nil || !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "Private Key Object") || !strings.Contains(out, "CIE di MARIO ROSSI") {
		t.Fatalf("pkcs11-tool -O: %v\n%s", err, out)
	}
	slots, _ := w.tool("-L")
	hash := sha256.Sum256([]byte("TLS 1.2 handshake"))
	di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)
	pkcs1 := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	if _, err := w.p11SignWith(pkcs1, di); !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		t.Fatalf("a signature before unlock: %v, want CKR_FUNCTION_CANCELED", err)
	}

	code, stdout, stderr := run(t, "12345678\n", "unlock")
	if code != 0 || !strings.Contains(stderr, "8-digit") || !strings.HasPrefix(stdout, "unlocked the cie card of MARIO ROSSI") {
		t.Fatalf("unlock: %d\n%s%s", code, stdout, stderr)
	}
	// While unlocked, the module lists the slots and an extension asks the
	// service's status: neither reaches the CIE.
	w.tool("-L")
	ext := w.host()
	if err := ext.c.Send([]byte(`{"command":"status"}`)); err != nil {
		t.Fatal(err)
	}
	if st := ext.next("readers"); !strings.Contains(string(st), `"holder":"MARIO ROSSI"`) {
		t.Errorf("the service's status while unlocked: %s", st)
	}
	ext.c.Close() // no extension left to ask a PIN
	w.tool("-L")
	// Another application's OpenSC lists the readers: the unlocked CIE
	// is kept from it, so its probe cannot end the secure session.
	if out, err := exec.Command("pkcs11-tool", "--module", testenv.OpenSC, "-L").CombinedOutput(); err != nil {
		t.Fatalf("OpenSC's pkcs11-tool -L: %v\n%s", err, out)
	}
	if out, err := w.sign("first"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("pkcs11-tool's signature after unlock: %v\n%s", err, out)
	}
	if _, err := w.p11Sign(hash[:]); !errors.Is(err, pkcs11.Error(pkcs11.CKR_MECHANISM_INVALID)) {
		t.Fatalf("a PSS signature: %v, want CKR_MECHANISM_INVALID", err)
	}
	if _, out, _ := run(t, "", "status", "--json"); !strings.Contains(out, `"tls12Only": [`) || !strings.Contains(out, "CIE di MARIO ROSSI") {
		t.Errorf("status does not say that TLS 1.3 cannot use the CIE:\n%s", out)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("tries left %d", vc.TriesLeft())
	}

	slot.Remove()
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, nil)
	for deadline := time.Now().Add(virtualcardtest.Timeout); ; { // the service learns it by PC/SC's event
		if _, out, _ := run(t, "", "status"); strings.Contains(out, "nothing unlocked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the unlock outlived the card")
		}
	}
	if out, _ := w.tool("-O"); strings.Contains(out, "Certificate Object") {
		t.Fatalf("pkcs11-tool -O with the card out:\n%s", out)
	}
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, vc.ATR())
	if again, _ := w.tool("-L"); again != slots {
		t.Fatalf("pkcs11-tool -L, before the card left:\n%s\nafter it came back:\n%s", slots, again)
	}
	if _, err := w.p11SignWith(pkcs1, di); !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		t.Fatalf("a signature after the card came back: %v, want CKR_FUNCTION_CANCELED", err)
	}
}

// A CIE pulled while it signs for a site: the module answers
// CKR_DEVICE_REMOVED at once, the unlock ends and no PIN try is spent.
// Put back, the card is locked again (the exclusive connection of the
// pulled card left nothing behind), and a new unlock signs.
func TestUnlockNativeCIEPulledMidSign(t *testing.T) {
	pc := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cie-stm", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	w := newTLSWorld(t, tlsauth.Config{Signatures: 3}, func(t *testing.T) {
		t.Setenv("EIDLINK_PKCS11_MODULE", "")
		t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
		t.Setenv(EnvCIEDriver, "")
	})
	w.card = vc.Identity().Cert
	unlock := func() {
		t.Helper()
		if code, _, stderr := run(t, "12345678\n", "unlock"); code != 0 {
			t.Fatalf("unlock: %d %s", code, stderr)
		}
	}
	unlock()
	var pulled atomic.Bool
	slot.SetPullOn(func(apdu []byte) bool { // the signature itself: INTERNAL AUTHENTICATE or PSO, under SM
		return len(apdu) > 1 && (apdu[1] == 0x88 || apdu[1] == 0x2A) && pulled.CompareAndSwap(false, true)
	})
	hash := sha256.Sum256([]byte("TLS 1.2 handshake"))
	di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)
	pkcs1 := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	if _, err := w.p11SignWith(pkcs1, di); !pulled.Load() || !errors.Is(err, pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)) {
		t.Fatalf("the card pulled mid-signature (pulled %v): %v, want CKR_DEVICE_REMOVED", pulled.Load(), err)
	}
	if _, out, _ := run(t, "", "status"); !strings.Contains(out, "nothing unlocked") {
		t.Errorf("the unlock outlived the card pulled mid-signature:\n%s", out)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("tries left %d", vc.TriesLeft())
	}

	slot.SetPullOn(nil)
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, nil)
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, vc.ATR())
	w.shows("CIE di MARIO ROSSI")
	if _, err := w.p11SignWith(pkcs1, di); !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		t.Fatalf("a signature after the card came back: %v, want CKR_FUNCTION_CANCELED", err)
	}
	unlock()
	if out, err := w.sign("after the card came back"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("pkcs11-tool's signature after a new unlock: %v\n%s", err, out)
	}
}
