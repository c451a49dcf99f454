package cie_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

const pin = "12345678"

// open inserts a virtual CIE in vpcd's first reader and returns the driver
// on it with the slot (to pull the card).
func open(t testing.TB, typ string, o virtualcard.Options) (*cie.Card, *virtualcard.Card, *virtualcard.Slot, pcsc.Card) {
	t.Helper()
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, typ, o)
	slot := virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	h, err := ctx.Connect(context.Background(), virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Disconnect() })
	c, err := cie.New(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, vc, slot, h
}

func digestInfo(msg string) []byte {
	h := sha256.Sum256([]byte(msg))
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	return append(prefix, h[:]...)
}

// signAndVerify signs msg and checks the signature with the certificate.
func signAndVerify(t *testing.T, c *cie.Card, cert *x509.Certificate, msg string) {
	t.Helper()
	sig, err := c.Sign(digestInfo(msg))
	if err != nil {
		t.Fatalf("Sign: %v (hint: %s)", err, cie.Hint(err))
	}
	h := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("the signature does not verify with the card's certificate: %v", err)
	}
}

func cieTypes() []string {
	var names []string
	for _, ty := range virtualcard.Types {
		if ty.Kind == eidcert.CIE {
			names = append(names, ty.Name)
		}
	}
	return names
}

// Every variant, with each behaviour the fact sheet leaves open: log in
// with the full PIN, read the certificate, sign, verify the signature,
// and sign again in the same session with 3 APDUs.
func TestLoginSign(t *testing.T) {
	behaviours := map[string]virtualcard.CIEBehaviour{
		"lenient":           {},
		"protected-files":   {ProtectedFiles: true},
		"status-outside-sm": {StatusOutsideSM: true},
		"dh-in-cie":         {KeyAgreementInCIE: true},
	}
	for _, typ := range cieTypes() {
		for bname, b := range behaviours {
			t.Run(typ+"/"+bname, func(t *testing.T) {
				c, vc, _, _ := open(t, typ, virtualcard.Options{CIE: b})
				if c.Family.Name != typ {
					t.Fatalf("identified as %q", c.Family.Name)
				}
				if err := c.Login([]byte(pin)); err != nil {
					t.Fatalf("Login: %v (hint: %s)", err, cie.Hint(err))
				}
				der, err := c.Certificate()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(der, vc.Identity().Cert.Raw) {
					t.Fatal("the certificate read differs from the card's")
				}
				cert, _ := x509.ParseCertificate(der)
				signAndVerify(t, c, cert, "first")
				before := c.APDUs()
				signAndVerify(t, c, cert, "second")
				if n := c.APDUs() - before; n > 3 {
					t.Errorf("a further signature took %d APDUs, want at most 3 (session rebuilt?)", n)
				}
				if vc.TriesLeft() != 3 {
					t.Errorf("tries left %d after a good login", vc.TriesLeft())
				}
			})
		}
	}
}

// With the domain and chip key cached, a login after the certificate was
// read (as the provider does) costs at most 15 APDUs: the CIE application
// is still selected. Another application that selects elsewhere in
// between costs a retry, not the login, also on a card that agrees keys
// only in the CIE application.
func TestLoginAPDUs(t *testing.T) {
	for bname, b := range map[string]virtualcard.CIEBehaviour{"lenient": {}, "dh-in-cie": {KeyAgreementInCIE: true}} {
		t.Run(bname, func(t *testing.T) {
			first, vc, _, h := open(t, "cie-nxp", virtualcard.Options{CIE: b})
			if err := first.Login([]byte(pin)); err != nil { // fills the caches
				t.Fatal(err)
			}
			first.Close()
			card := func() *cie.Card {
				c, err := cie.New(h)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if _, err := c.Certificate(); err != nil {
					t.Fatal(err)
				}
				return c
			}
			c := card()
			before := c.APDUs()
			if err := c.Login([]byte(pin)); err != nil {
				t.Fatal(err)
			}
			if n := c.APDUs() - before; n > 15 {
				t.Errorf("login took %d APDUs, want at most 15", n)
			}
			cert, _ := x509.ParseCertificate(vc.Identity().Cert.Raw)
			signAndVerify(t, c, cert, "lean")

			elsewhere := anotherApplication(t)
			c = card()
			elsewhere()
			if err := c.Login([]byte(pin)); err != nil {
				t.Fatalf("login after another application selected the MF: %v", err)
			}
			signAndVerify(t, c, cert, "elsewhere")
			c, err := cie.New(h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.ReadPublic(); err != nil { // leaves the CIE application selected
				t.Fatal(err)
			}
			elsewhere()
			if der, err := c.Certificate(); err != nil || !bytes.Equal(der, cert.Raw) {
				t.Fatalf("certificate after another application selected the MF: %v", err)
			}
			if vc.TriesLeft() != 3 {
				t.Fatalf("%d tries left", vc.TriesLeft())
			}
		})
	}
}

// Another application's plain command (OpenSC probing the card, say) ends
// the secure session on the card between two transactions: the login
// that follows opens a new one and verifies the PIN, spending no try; a
// signature asks for the PIN again.
func TestSessionEndedByAnotherApplication(t *testing.T) {
	c, vc, _, _ := open(t, "cie-stm", virtualcard.Options{})
	probe := anotherApplication(t)
	if _, err := c.TriesLeft(); err != nil { // opens the session, as the provider does
		t.Fatal(err)
	}
	probe()
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatalf("login after another application's command: %v", err)
	}
	cert, _ := x509.ParseCertificate(vc.Identity().Cert.Raw)
	signAndVerify(t, c, cert, "after")
	probe()
	if _, err := c.Sign(digestInfo("x")); !errors.Is(err, cie.ErrLoginRequired) {
		t.Fatalf("signature after another application's command: %v, want ErrLoginRequired", err)
	}
	if vc.TriesLeft() != 3 {
		t.Fatalf("%d tries left", vc.TriesLeft())
	}
}

// anotherApplication returns a function that sends, as another
// application on its own connection, a plain SELECT of the MF to the card
// in the first reader.
func anotherApplication(t *testing.T) func() {
	other, err := virtualcardtest.Context(t).Connect(context.Background(), virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Disconnect() })
	return func() {
		t.Helper()
		if r, err := other.Transmit([]byte{0x00, 0xA4, 0x00, 0x00}); err != nil || !bytes.HasSuffix(r, []byte{0x90, 0x00}) {
			t.Fatalf("another application's SELECT MF: %X, %v", r, err)
		}
	}
}

// A wrong PIN counts down (63Cx) to blocked (6983); the tries are read
// without spending one; the PUK unblocks with a new PIN.
func TestWrongPINBlockUnblock(t *testing.T) {
	c, vc, _, _ := open(t, "cie-nxp", virtualcard.Options{})
	if n, err := c.TriesLeft(); err != nil || n != 3 {
		t.Fatalf("TriesLeft = %d, %v; want 3", n, err)
	}
	for want := 2; want >= 0; want-- {
		err := c.Login([]byte("00000000"))
		var ae *pcsc.AuthError
		switch {
		case want > 0 && (!errors.As(err, &ae) || ae.Retries != want):
			t.Fatalf("wrong PIN: %v, want %d tries left", err, want)
		case want == 0 && !errors.Is(err, pcsc.ErrBlocked):
			t.Fatalf("third wrong PIN: %v, want blocked", err)
		}
		if n, err := c.TriesLeft(); err != nil || n != want {
			t.Fatalf("TriesLeft = %d, %v; want %d", n, err, want)
		}
	}
	err := c.Login([]byte(pin))
	if !errors.Is(err, pcsc.ErrBlocked) || !strings.Contains(cie.Hint(err), "PUK") {
		t.Fatalf("right PIN on a blocked card: %v (hint %q)", err, cie.Hint(err))
	}
	if vc.TriesLeft() != 0 {
		t.Fatal("the card is not blocked")
	}
	if err := c.Unblock([]byte("87654321"), []byte("11223344")); err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if err := c.Login([]byte("11223344")); err != nil {
		t.Fatalf("Login with the new PIN: %v", err)
	}
	if n, err := c.TriesLeft(); err != nil || n != 3 {
		t.Fatalf("TriesLeft after unblocking = %d, %v", n, err)
	}
}

// A PIN that is not 8 digits never reaches the card.
func TestPINFormat(t *testing.T) {
	c, vc, _, _ := open(t, "cie-stm", virtualcard.Options{})
	for _, p := range []string{"1234", "123456789", "1234567a"} {
		if err := c.Login([]byte(p)); !errors.Is(err, cie.ErrPINFormat) {
			t.Errorf("Login(%q) = %v, want ErrPINFormat", p, err)
		}
	}
	if c.APDUs() != 0 || vc.TriesLeft() != 3 {
		t.Fatalf("%d APDUs sent, %d tries left", c.APDUs(), vc.TriesLeft())
	}
}

// A card pulled in the middle of secure messaging fails the operation;
// back in the reader, the next signature asks for the PIN again, and a
// new login works.
func TestCardRemovedDuringSM(t *testing.T) {
	c, vc, slot, h := open(t, "cie-bit4id", virtualcard.Options{})
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	slot.SetPullOn(func(apdu []byte) bool { return apdu[0] == 0x0C && apdu[1] == 0x88 })
	if _, err := c.Sign(digestInfo("x")); !errors.Is(err, pcsc.ErrCardRemoved) {
		t.Fatalf("Sign with the card pulled: %v, want ErrCardRemoved", err)
	}
	slot.SetPullOn(nil)
	ctx := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, vc.ATR())
	if err := h.Reconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(digestInfo("x")); !errors.Is(err, cie.ErrLoginRequired) {
		t.Fatalf("Sign after reinsertion: %v, want ErrLoginRequired", err)
	}
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(vc.Identity().Cert.Raw)
	signAndVerify(t, c, cert, "after")
}

// A MAC failure ends the session: the signature fails with a hint, the
// next one asks for the PIN, which is not retried by the driver.
func TestMACFailure(t *testing.T) {
	c, vc, _, _ := open(t, "cie-gemalto", virtualcard.Options{})
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	vc.CorruptNextMAC()
	_, err := c.Sign(digestInfo("x"))
	if !errors.Is(err, iasecc.ErrMAC) || !strings.Contains(cie.Hint(err), "secure channel") {
		t.Fatalf("Sign with a bad MAC: %v (hint %q)", err, cie.Hint(err))
	}
	if _, err := c.Sign(digestInfo("x")); !errors.Is(err, cie.ErrLoginRequired) {
		t.Fatalf("Sign after the MAC failure: %v, want ErrLoginRequired", err)
	}
	if vc.TriesLeft() != 3 {
		t.Fatal("a try was spent")
	}
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(vc.Identity().Cert.Raw)
	signAndVerify(t, c, cert, "after")
}

// A card whose verified PIN allows one signature: the second asks for the
// PIN again instead of failing obscurely.
func TestPINPerSignature(t *testing.T) {
	c, vc, _, _ := open(t, "cie-stm3", virtualcard.Options{CIE: virtualcard.CIEBehaviour{PINPerSignature: true}})
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(vc.Identity().Cert.Raw)
	signAndVerify(t, c, cert, "one")
	if _, err := c.Sign(digestInfo("two")); !errors.Is(err, cie.ErrLoginRequired) {
		t.Fatalf("second signature: %v, want ErrLoginRequired", err)
	}
	if err := c.Login([]byte(pin)); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, c, cert, "two")
}

// A card that does not tell the tries left without a try gives
// ErrTriesUnknown, and no try is spent.
func TestNoTriesQuery(t *testing.T) {
	c, vc, _, _ := open(t, "cie-gemalto2", virtualcard.Options{CIE: virtualcard.CIEBehaviour{NoTriesQuery: true}})
	if _, err := c.TriesLeft(); !errors.Is(err, cie.ErrTriesUnknown) {
		t.Fatalf("TriesLeft = %v, want ErrTriesUnknown", err)
	}
	if vc.TriesLeft() != 3 {
		t.Fatal("a try was spent")
	}
}

// The public data: the NIS is the hex of D003's bytes 5..10.
func TestReadPublic(t *testing.T) {
	c, _, _, _ := open(t, "cie-stm2", virtualcard.Options{})
	p, err := c.ReadPublic()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PAN) != 12 || len(p.NIS) != 12 || !strings.EqualFold(p.NIS, strings.ToUpper(hexOf(p.PAN[5:11]))) {
		t.Fatalf("PAN % X, NIS %q", p.PAN, p.NIS)
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789ABCDEF"
	var s []byte
	for _, x := range b {
		s = append(s, digits[x>>4], digits[x&15])
	}
	return string(s)
}

// The trace has every APDU and neither the PIN nor MACs.
func TestTrace(t *testing.T) {
	trace := filepath.Join(t.TempDir(), "trace")
	t.Setenv(cie.TraceEnv, trace)
	c, _, _, _ := open(t, "cie-nxp", virtualcard.Options{PIN: []byte("31415926")})
	if err := c.Login([]byte("31415926")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if n := strings.Count(s, "\n> "); n+1 < c.APDUs() {
		t.Errorf("%d APDUs in the trace, %d sent", n, c.APDUs())
	}
	for _, secret := range []string{"31415926", hexOf([]byte("31415926")), strings.ToLower(hexOf([]byte("31415926")))} {
		if strings.Contains(s, secret) {
			t.Fatalf("the trace holds the PIN (%s)", secret)
		}
	}
	if !strings.Contains(s, "<secret: 8 bytes>") || !strings.Contains(s, "<mac>") {
		t.Fatalf("the trace lacks the redaction marks:\n%s", s)
	}
}

// Check spends no PIN try and reports each step; a broken secure channel
// shows as a failed step with its hint.
func TestCheck(t *testing.T) {
	c, vc, _, _ := open(t, "cie-gemalto", virtualcard.Options{})
	r := c.Check()
	if !r.OK() || r.TriesLeft == nil || *r.TriesLeft != 3 || len(r.NIS) != 12 || r.Family != "cie-gemalto" || vc.TriesLeft() != 3 {
		t.Fatalf("Check = %+v", r)
	}
	vc.CorruptNextMAC()
	r = c.Check()
	if r.OK() || len(r.Steps) != 2 || r.Steps[1].OK || r.Steps[1].Hint == "" {
		t.Fatalf("Check with a bad MAC = %+v", r)
	}
}

// The command loop's view: the provider finds the CIE, shows the tries
// left before any PIN, maps a wrong PIN to its protocol code with the
// tries left, and signs a digest whose signature the certificate checks.
func TestProviderToken(t *testing.T) {
	_, vc, _, _ := open(t, "cie-nxp", virtualcard.Options{})
	tok, err := (&cie.Provider{}).Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	info := tok.Info()
	if info.CardKind != "cie" || info.TriesLeft != 3 || info.PINPart != "full" || info.MinPINLength != 8 || info.Module != protocol.ModuleNativeCIE || info.Holder != "MARIO ROSSI" {
		t.Fatalf("Info = %+v", info)
	}
	var pe *protocol.Error
	if err := tok.Login(context.Background(), []byte("00000000")); !errors.As(err, &pe) || pe.Code != protocol.CodePINIncorrect || pe.TriesLeft == nil || *pe.TriesLeft != 2 {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := tok.Login(context.Background(), []byte(pin)); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("challenge"))
	sig, err := tok.Sign(context.Background(), tok.AuthCertificate(), crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(tok.AuthCertificate().PublicKey.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
		t.Fatal(err)
	}
	if vc.TriesLeft() != 3 {
		t.Fatal("the counter was not reset by the right PIN")
	}
}

// The slots for eidlink's PKCS#11 module: one per reader that holds or
// held a CIE, with its certificate, read once per insertion: listing the
// slots again while a token is open sends nothing that would end its
// secure session, and opening the slot reads no certificate. A card taken
// out leaves its slot empty; put back, it is in the same slot.
func TestProviderSlots(t *testing.T) {
	c, vc, slot, _ := open(t, "cie-gemalto", virtualcard.Options{})
	if err := c.Login([]byte(pin)); err != nil { // fills the caches
		t.Fatal(err)
	}
	ctx := context.Background()
	p := &cie.Provider{}
	slots := p.Slots(ctx)
	if len(slots) != 1 || slots[0].Description != virtualcardtest.Reader0 || slots[0].Card == nil || !bytes.Equal(slots[0].Card.Cert.Raw, vc.Identity().Cert.Raw) ||
		slots[0].Card.Info.PINPart != "full" || slots[0].Card.RawRSA || !cie.OwnsSlot(slots[0].Key) {
		t.Fatalf("Slots = %+v", slots)
	}
	tok, err := p.OpenSlot(ctx, slots[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if n := tok.APDUs(); n > 16 {
		t.Errorf("opening the slot took %d APDUs: the certificate read again?", n)
	}
	p.Slots(ctx)
	before := tok.APDUs()
	if err := tok.Login(ctx, []byte(pin)); err != nil {
		t.Fatal(err)
	}
	if n := tok.APDUs() - before; n != 1 {
		t.Errorf("login after listing the slots took %d APDUs: the session was lost", n)
	}
	h := sha256.Sum256([]byte("tls"))
	if _, err := tok.Sign(ctx, tok.AuthCertificate(), crypto.SHA256, h[:]); err != nil {
		t.Fatal(err)
	}
	tok.Close()

	slot.Remove()
	pc := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, nil)
	if s := p.Slots(ctx); len(s) != 1 || s[0].Key != slots[0].Key || s[0].Card != nil {
		t.Fatalf("Slots with the card out = %+v", s)
	}
	if _, err := p.OpenSlot(ctx, slots[0].Key); protocol.AsError(err).Code != protocol.CodeNoCard {
		t.Fatalf("OpenSlot with the card out: %v", err)
	}
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, vc.ATR())
	if s := p.Slots(ctx); len(s) != 1 || s[0].Key != slots[0].Key || s[0].Card == nil {
		t.Fatalf("Slots with the card back = %+v", s)
	}
}

// A CIE that shows its certificate only after the PIN: the provider opens
// it all the same (no holder yet, no slot for the PKCS#11 module), the
// login reads the certificate under secure messaging, and the signature
// verifies with it.
func TestProviderCertificateAfterPIN(t *testing.T) {
	_, vc, _, _ := open(t, "cie-bit4id", virtualcard.Options{CIE: virtualcard.CIEBehaviour{ProtectedFiles: true}})
	ctx := context.Background()
	p := &cie.Provider{}
	if s := p.Slots(ctx); len(s) != 1 || s[0].Card != nil {
		t.Fatalf("Slots = %+v", s)
	}
	tok, err := p.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	if tok.AuthCertificate() != nil || tok.Info().Holder != "" || tok.Info().TriesLeft != 3 {
		t.Fatalf("before the PIN: %+v", tok.Info())
	}
	if err := tok.Login(ctx, []byte(pin)); err != nil {
		t.Fatal(err)
	}
	cert := tok.AuthCertificate()
	if cert == nil || !bytes.Equal(cert.Raw, vc.Identity().Cert.Raw) || tok.Info().Holder != "MARIO ROSSI" {
		t.Fatalf("after the PIN: %v", tok.Info())
	}
	h := sha256.Sum256([]byte("after the PIN"))
	sig, err := tok.Sign(ctx, cert, crypto.SHA256, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
		t.Fatal(err)
	}
}
