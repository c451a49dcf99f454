package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

// initCard creates a virtual card through the CLI and exports its
// environment for the rest of the test.
func initCard(t *testing.T, args ...string) string {
	testenv.NeedSoftHSM(t)
	dir := filepath.Join(t.TempDir(), "card")
	code, out, errOut := run(t, "", append([]string{"testcard", "init", "--dir", dir}, args...)...)
	if code != 0 {
		t.Fatalf("testcard init: %d %s", code, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, value, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			t.Fatalf("bad export line %q", line)
		}
		t.Setenv(name, strings.Trim(value, "'"))
	}
	return dir
}

const (
	origin = "https://www.inps.it"
	nonce  = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

func TestAuthenticateAndVerify(t *testing.T) {
	dir := initCard(t, "--type", "cns", "--pin", "55556666", "--given-name", "ANNA", "--surname", "BIANCHI", "--cf", "BNCNNA85M41F205Q")
	code, token, errOut := run(t, "55556666\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 0 {
		t.Fatalf("authenticate: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "ANNA BIANCHI") || !strings.Contains(errOut, "3 tries left") {
		t.Errorf("the PIN prompt does not name the holder and tries: %s", errOut)
	}
	ca := filepath.Join(dir, "ca.pem")
	code, out, errOut := run(t, token, "verify", "--origin", origin, "--nonce", nonce, "--ca", ca, "-")
	var id map[string]string
	json.Unmarshal([]byte(out), &id)
	if code != 0 || id["codiceFiscale"] != "BNCNNA85M41F205Q" || id["givenName"] != "ANNA" || id["cardKind"] != "cns" {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	for _, bad := range [][]string{{"--origin", "https://www.inps.it:444", "--nonce", nonce}, {"--origin", origin, "--nonce", strings.Repeat("B", 44)}} {
		code, _, errOut = run(t, token, append(append([]string{"verify"}, bad...), "--ca", ca)...)
		if code != 1 || !strings.Contains(errOut, "not valid") {
			t.Errorf("verify %v: %d %s", bad, code, errOut)
		}
	}
}

func TestWrongPINIsNotRetried(t *testing.T) {
	initCard(t)
	// Two lines: the second must never be tried by the CLI on its own.
	code, out, errOut := run(t, "00000000\n12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 1 || out != "" || !strings.Contains(errOut, "hint: check the PIN") {
		t.Fatalf("wrong PIN: %d %q %s", code, out, errOut)
	}
	_, out, _ = run(t, "", "status", "--json")
	var st protocol.Status
	json.Unmarshal([]byte(out), &st)
	if len(st.Tokens) == 0 || st.Tokens[0].TriesLeft != 2 {
		t.Fatalf("status after one wrong PIN: %s", out)
	}
}

func TestShortPINUsesNoTry(t *testing.T) {
	initCard(t)
	code, _, errOut := run(t, "1234\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 1 || !strings.Contains(errOut, "8 to 8") {
		t.Fatalf("short PIN: %d %s", code, errOut)
	}
	_, out, _ := run(t, "", "status", "--json")
	if !strings.Contains(out, `"triesLeft": 3`) {
		t.Fatalf("a malformed PIN used a try: %s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"authenticate"}, {"authenticate", "--origin", origin}, {"verify", "--origin", origin}, {"frobnicate"},
		{"testcard"}, {"testcard", "init"}, {"status", "--bogus"},
	} {
		if code, _, errOut := run(t, "", args...); code != 2 || !strings.HasPrefix(errOut, "eidlink") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if code, out, _ := run(t, "", "version"); code != 0 || strings.TrimSpace(out) != protocol.Version {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestNoModule(t *testing.T) {
	t.Setenv("EIDLINK_PKCS11_MODULE", "/nonexistent/libnothing.so")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	code, _, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 1 || !strings.Contains(errOut, "hint:") {
		t.Fatalf("no module: %d %s", code, errOut)
	}
}

func TestDoctor(t *testing.T) {
	initCard(t)
	code, out, _ := run(t, "", "doctor")
	if !strings.Contains(out, "[ok  ] a card with an authentication certificate is present") {
		t.Fatalf("doctor: %d %s", code, out)
	}
	t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none.conf"))
	os.WriteFile(os.Getenv("SOFTHSM2_CONF"), []byte("directories.tokendir = /nonexistent\n"), 0o644)
	code, out, _ = run(t, "", "doctor")
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "fix:") {
		t.Fatalf("doctor without a card: %d %s", code, out)
	}
}

// With pcscd and the vpcd reader: status names the family of every virtual
// card type as soon as pcscd sees the card, and no card once it is pulled.
func TestStatusNamesEveryFamily(t *testing.T) {
	t.Setenv("EIDLINK_PKCS11_MODULE", "/nonexistent/none.so")
	ctx := virtualcardtest.Context(t)
	for _, typ := range virtualcard.TypeNames() {
		vc := virtualcardtest.NewCard(t, typ, virtualcard.Options{})
		slot := virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
		st := statusJSON(t)
		r := readerNamed(t, st, virtualcardtest.Reader0)
		if !r.CardPresent || r.Family != typ || r.CardKind != strings.SplitN(typ, "-", 2)[0] {
			t.Errorf("%s: reader %+v", typ, r)
		}
		slot.Remove()
		virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
		if r := readerNamed(t, statusJSON(t), virtualcardtest.Reader0); r.CardPresent {
			t.Errorf("%s: card still reported after removal", typ)
		}
	}
}

func statusJSON(t *testing.T) *protocol.Status {
	code, out, errOut := run(t, "", "status", "--json")
	var st protocol.Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil {
		t.Fatalf("status --json: %d %v %s", code, err, errOut)
	}
	return &st
}

func readerNamed(t *testing.T, st *protocol.Status, name string) protocol.ReaderStatus {
	for _, r := range st.Readers {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no reader %q in %+v (pcsc: %q)", name, st.Readers, st.PCSC)
	return protocol.ReaderStatus{}
}

// The product path with no SoftHSM: virtual CNS in the vpcd reader ->
// pcscd -> OpenSC's own PKCS#11 module -> eidlink authenticate -> verify.
// Wrong PINs cost exactly one try each and the tries come from the card.
func TestAuthenticateThroughOpenSC(t *testing.T) {
	testenv.NeedFile(t, testenv.OpenSC, "opensc")
	t.Setenv("EIDLINK_PKCS11_MODULE", testenv.OpenSC)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx := virtualcardtest.Context(t)
	id := virtualcardtest.Identity(t, "cns")
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{PIN: []byte("13572468")})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.CA.Raw}), 0o644)

	code, _, errOut := run(t, "00000000\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 1 || !strings.Contains(errOut, "wrong PIN: 2 tries left") || vc.TriesLeft() != 2 {
		t.Fatalf("wrong PIN: %d %s (card tries %d)", code, errOut, vc.TriesLeft())
	}
	code, token, errOut := run(t, "13572468\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 0 || !strings.Contains(errOut, "2 tries left") {
		t.Fatalf("authenticate through OpenSC: %d %s", code, errOut)
	}
	code, out, errOut := run(t, token, "verify", "--origin", origin, "--nonce", nonce, "--ca", ca)
	if code != 0 || !strings.Contains(out, `"cardKind": "cns"`) || vc.TriesLeft() != 3 {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
}

// The holder pulls the CNS after the PIN was accepted and before the card
// signs: a clean "card removed" error, no PIN try used, nothing left
// locked, and the next login works.
func TestCardPulledMidSign(t *testing.T) {
	testenv.NeedFile(t, testenv.OpenSC, "opensc")
	t.Setenv("EIDLINK_PKCS11_MODULE", testenv.OpenSC)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	var pulled atomic.Bool
	slot.SetPullOn(func(apdu []byte) bool {
		// PSO (2A) or INTERNAL AUTHENTICATE (88): the signature itself.
		return len(apdu) > 1 && (apdu[1] == 0x2A || apdu[1] == 0x88) && pulled.CompareAndSwap(false, true)
	})
	code, out, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce)
	if code != 1 || out != "" || !pulled.Load() || !strings.Contains(errOut, "hint: keep the card in the reader") {
		t.Fatalf("card pulled mid-sign: exit %d, pulled %v, %s", code, pulled.Load(), errOut)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("tries left %d after a pulled card, want 3", vc.TriesLeft())
	}
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, vc.ATR())
	if code, _, errOut := run(t, "12345678\n", "authenticate", "--origin", origin, "--nonce", nonce); code != 0 {
		t.Fatalf("login after reinsertion: %d %s", code, errOut)
	}
}
