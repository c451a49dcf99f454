package cli

import (
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/protocol"

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
	t.Setenv("EIDLINK_PKCS11_MODULE", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cie-stm", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Identity().CA.Raw}), 0o644)

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
