package virtualcard_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// OpenSC's own PKCS#11 module (itacns driver) against a virtual CNS in
// vpcd: it lists the certificate, logs in, signs, and counts wrong PINs
// as the card does.
func TestOpenSC(t *testing.T) {
	testenv.NeedFile(t, testenv.OpenSC, "opensc")
	testenv.NeedCommand(t, "pkcs11-tool", "opensc")
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	dir := t.TempDir()
	tool := func(args ...string) (string, error) {
		cmd := exec.Command("pkcs11-tool", append([]string{"--module", testenv.OpenSC, "--slot-description", virtualcardtest.Reader0}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir) // no OpenSC cache from elsewhere
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := tool("-O")
	if err != nil || !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "RSSMRA80A01H501U") || !strings.Contains(out, "RSA 2048") {
		t.Fatalf("pkcs11-tool -O: %v\n%s", err, out)
	}

	sum := sha256.Sum256([]byte("web-eid challenge"))
	in, sig := filepath.Join(dir, "in"), filepath.Join(dir, "sig")
	digestInfo := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, sum[:]...)
	if err := os.WriteFile(in, digestInfo, 0o600); err != nil {
		t.Fatal(err)
	}
	sign := func(pin string) (string, error) {
		os.Remove(sig)
		return tool("--login", "--pin", pin, "--sign", "-m", "RSA-PKCS", "-i", in, "-o", sig)
	}
	if out, err := sign("12345678"); err != nil {
		t.Fatalf("pkcs11-tool --sign: %v\n%s", err, out)
	}
	s, err := os.ReadFile(sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(&vc.Identity().Key.PublicKey, crypto.SHA256, sum[:], s); err != nil {
		t.Fatalf("signature made through OpenSC does not verify: %v", err)
	}

	// Each wrong PIN costs exactly one try; the third blocks the PIN, and
	// then the right PIN no longer works.
	for want := 2; want >= 0; want-- {
		out, err := sign("87878787")
		if err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") && !strings.Contains(out, "CKR_PIN_LOCKED") {
			t.Fatalf("wrong PIN: %v\n%s", err, out)
		}
		if got := vc.TriesLeft(); got != want {
			t.Fatalf("tries left %d, want %d", got, want)
		}
	}
	if out, err := sign("12345678"); err == nil || !strings.Contains(out, "CKR_PIN_LOCKED") {
		t.Fatalf("right PIN on a blocked card: %v\n%s", err, out)
	}
	if vc.TriesLeft() != 0 {
		t.Fatalf("tries left %d on a blocked card", vc.TriesLeft())
	}
}
