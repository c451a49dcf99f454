package cryptoki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// These tests drive the real SoftHSM2 library (Debian package softhsm2)
// with tokens made by testcard in a private SOFTHSM2_CONF.

const softhsm = SoftHSMModule

var ctx = context.Background()

// newCard makes a virtual card and points SOFTHSM2_CONF at it. Make cards
// before loading SoftHSM2 in a Provider: Init needs it unloaded.
func newCard(t testing.TB, o TestCardOptions) *TestCardResult {
	t.Helper()
	testenv.NeedSoftHSM(t)
	o.Dir = t.TempDir()
	r, err := InitTestCard(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", r.SoftHSM2Conf)
	return r
}

func newProvider(t testing.TB, paths ...string) *Provider {
	mods := []Module{}
	for _, p := range paths {
		mods = append(mods, Module{Name: filepath.Base(p), Path: p})
	}
	p := NewProvider(Config{Modules: mods, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { p.Close() })
	return p
}

func openCard(t testing.TB, p *Provider) *Card {
	t.Helper()
	c, err := p.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, err error, code protocol.Code) *protocol.Error {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("err = %v, want code %s", err, code)
	}
	return pe
}

func TestOpen(t *testing.T) {
	r := newCard(t, TestCardOptions{})
	c := openCard(t, newProvider(t, "/nonexistent/libnothing.so", softhsm))
	got := c.Info()
	want := protocol.TokenStatus{
		Module: softhsm, Slot: got.Slot, SlotDesc: got.SlotDesc, Label: "CIE", Manufacturer: "SoftHSM project",
		Model: "SoftHSM v2", Serial: got.Serial, CardKind: "cie", Holder: "MARIO ROSSI", CodiceFiscale: "RSSMRA80A01H501U",
		HasAuthKey: true, TriesLeft: 3, MinPINLength: 8, MaxPINLength: 8, PINPart: "full",
	}
	if got != want || got.Serial == "" {
		t.Errorf("Info() =\n%+v, want\n%+v", got, want)
	}
	if !c.AuthCertificate().Equal(r.AuthCert) || c.SigningCertificate() != c.AuthCertificate() {
		t.Error("a CIE's authentication certificate must be its signing certificate too")
	}
	if c.auth.key != 0 {
		t.Error("SoftHSM2 showed a private key before login; the test card's key should be private")
	}
}

func TestLogin(t *testing.T) {
	newCard(t, TestCardOptions{})
	c := openCard(t, newProvider(t, softhsm))
	e := wantCode(t, c.Login(ctx, []byte("00000000")), protocol.CodePINIncorrect)
	if e.TriesLeft == nil || *e.TriesLeft != 2 || c.Info().TriesLeft != 2 {
		t.Errorf("after a wrong PIN: TriesLeft %v, Info().TriesLeft %d, want 2", e.TriesLeft, c.Info().TriesLeft)
	}
	wantCode(t, c.Login(ctx, []byte("123")), protocol.CodePINFormat)
	if err := c.Login(ctx, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, []byte("12345678")); err != nil {
		t.Errorf("second login (CKR_USER_ALREADY_LOGGED_IN): %v", err)
	}
	digest := make([]byte, 32)
	if _, err := c.Sign(ctx, c.AuthCertificate(), crypto.SHA256, digest); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Login(cancelled, []byte("12345678")); !errors.Is(err, context.Canceled) {
		t.Errorf("Login with a cancelled context: %v", err)
	}
}

func TestSign(t *testing.T) {
	for _, tc := range []struct {
		key    string
		hashes []crypto.Hash
	}{
		{"rsa2048", []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512, crypto.SHA3_256}},
		{"p256", []crypto.Hash{crypto.SHA256}},
		{"p384", []crypto.Hash{crypto.SHA384}},
	} {
		t.Run(tc.key, func(t *testing.T) {
			newCard(t, TestCardOptions{KeyType: tc.key})
			c := openCard(t, newProvider(t, softhsm))
			if err := c.Login(ctx, []byte("12345678")); err != nil {
				t.Fatal(err)
			}
			cert := c.AuthCertificate()
			for _, h := range tc.hashes {
				hh := h.New()
				hh.Write([]byte("H(origin) || H(nonce)"))
				digest := hh.Sum(nil)
				sig, err := c.Sign(ctx, cert, h, digest)
				if err != nil {
					t.Fatalf("%v: %v", h, err)
				}
				if err := verify(cert, h, digest, sig); err != nil {
					t.Errorf("%v: %v", h, err)
				}
			}
			wantCode(t, mustErr(c.Sign(ctx, cert, crypto.SHA256, make([]byte, 20))), protocol.CodeInvalidArgument)
			wantCode(t, mustErr(c.Sign(ctx, &x509.Certificate{Raw: []byte{1}}, crypto.SHA256, make([]byte, 32))), protocol.CodeNoCertificate)
		})
	}
}

func mustErr(_ []byte, err error) error { return err }

func verify(cert *x509.Certificate, h crypto.Hash, digest, sig []byte) error {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	case *ecdsa.PublicKey:
		n := len(sig) / 2
		if !ecdsa.Verify(pub, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unknown key type")
}

func TestCNS(t *testing.T) {
	r := newCard(t, TestCardOptions{Type: "cns", PIN: "54321"})
	c := openCard(t, newProvider(t, softhsm))
	if i := c.Info(); i.CardKind != string(eidcert.CNS) || !i.HasSignKey || !i.HasAuthKey || i.CodiceFiscale != "RSSMRA80A01H501U" {
		t.Errorf("Info() = %+v", i)
	}
	if !c.AuthCertificate().Equal(r.AuthCert) || !c.SigningCertificate().Equal(r.SignCert) {
		t.Fatal("the CNS's certificates are not told apart")
	}
	if err := c.Login(ctx, []byte("54321")); err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	for _, cert := range []*x509.Certificate{r.AuthCert, r.SignCert} {
		sig, err := c.Sign(ctx, cert, crypto.SHA256, digest)
		if err == nil {
			err = verify(cert, crypto.SHA256, digest, sig)
		}
		if err != nil {
			t.Errorf("%s: %v", cert.Subject.CommonName, err)
		}
	}
}

// emptySoftHSM writes a SoftHSM2 configuration with an empty token store.
func emptySoftHSM(t *testing.T) string {
	testenv.NeedSoftHSM(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	return conf
}

func TestOpenErrors(t *testing.T) {
	notALibrary := filepath.Join(t.TempDir(), "fake-pkcs11.so")
	if err := os.WriteFile(notALibrary, []byte("not ELF"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		paths []string
		code  protocol.Code
	}{
		{"no modules", nil, protocol.CodeNoModule},
		{"missing module", []string{"/nonexistent/libcie-pkcs11.so"}, protocol.CodeNoModule},
		{"not a library", []string{notALibrary}, protocol.CodeNoModule},
		{"no token", []string{softhsm}, protocol.CodeNoCard},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emptySoftHSM(t)
			_, err := newProvider(t, tc.paths...).Open(ctx)
			wantCode(t, err, tc.code)
		})
	}
	t.Run("no certificate", func(t *testing.T) {
		emptySoftHSM(t)
		out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "EMPTY", "--pin", "1234", "--so-pin", "5678").CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util: %v\n%s", err, out)
		}
		_, err = newProvider(t, softhsm).Open(ctx)
		wantCode(t, err, protocol.CodeNoCertificate)
	})
}

func TestStatus(t *testing.T) {
	newCard(t, TestCardOptions{Type: "cns"})
	notALibrary := filepath.Join(t.TempDir(), "fake-pkcs11.so")
	if err := os.WriteFile(notALibrary, []byte("not ELF"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, "/nonexistent/libnothing.so", notALibrary, softhsm)
	ms, ts := p.Status(ctx)
	if len(ms) != 3 || ms[0].Present || ms[0].Loaded ||
		!ms[1].Present || ms[1].Loaded || ms[1].Error == "" ||
		!ms[2].Present || !ms[2].Loaded || ms[2].Error != "" || ms[2].Library == "" || ms[2].Source != SourceConfig {
		t.Errorf("modules = %+v", ms)
	}
	if len(ts) != 1 || ts[0].Label != "CNS" || ts[0].CardKind != string(eidcert.CNS) || ts[0].Holder != "MARIO ROSSI" ||
		!ts[0].HasAuthKey || !ts[0].HasSignKey || ts[0].TriesLeft != 3 || ts[0].Module != softhsm {
		t.Errorf("tokens = %+v", ts)
	}
	// Status leaves no session behind: the card opens and closes cleanly.
	c := openCard(t, p)
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	p.Close()
	if _, err := p.Open(ctx); err == nil {
		t.Error("Open after Close succeeded")
	}
}

// faulty wraps a real module to inject what SoftHSM2 cannot produce.
type faulty struct {
	cryptoki
	flags        uint   // ORed into the token flags
	manufacturer string // replaces the token manufacturer when set
	login, sign  error
	absent       bool // the slot reports no token (the card was pulled)
}

func (f *faulty) GetSlotInfo(slot uint) (pkcs11.SlotInfo, error) {
	si, err := f.cryptoki.GetSlotInfo(slot)
	if f.absent {
		si.Flags &^= pkcs11.CKF_TOKEN_PRESENT
	}
	return si, err
}

func (f *faulty) GetTokenInfo(slot uint) (pkcs11.TokenInfo, error) {
	ti, err := f.cryptoki.GetTokenInfo(slot)
	ti.Flags |= f.flags
	if f.manufacturer != "" {
		ti.ManufacturerID = f.manufacturer
	}
	return ti, err
}

func (f *faulty) Login(sh pkcs11.SessionHandle, user uint, pin string) error {
	if f.login != nil {
		return f.login
	}
	return f.cryptoki.Login(sh, user, pin)
}

func (f *faulty) Sign(sh pkcs11.SessionHandle, data []byte) ([]byte, error) {
	if f.sign != nil {
		return nil, f.sign
	}
	return f.cryptoki.Sign(sh, data)
}

func faultyCard(t *testing.T, f *faulty) *Card {
	p := newProvider(t, softhsm)
	p.loadModule = func(path string) (cryptoki, bool, error) {
		m, shared, err := loadModule(path)
		f.cryptoki = m
		return f, shared, err
	}
	return openCard(t, p)
}

func TestFaults(t *testing.T) {
	newCard(t, TestCardOptions{})
	notCalled := errors.New("login must not reach the card")
	pin := []byte("12345678")

	c := faultyCard(t, &faulty{flags: pkcs11.CKF_USER_PIN_LOCKED, login: notCalled})
	if i := c.Info(); !i.PINLocked || i.TriesLeft != 0 {
		t.Errorf("locked: Info() = %+v", i)
	}
	wantCode(t, c.Login(ctx, pin), protocol.CodePINBlocked)
	c.Close()

	c = faultyCard(t, &faulty{flags: pkcs11.CKF_USER_PIN_FINAL_TRY})
	if e := wantCode(t, c.Login(ctx, []byte("00000000")), protocol.CodePINIncorrect); *e.TriesLeft != 1 {
		t.Errorf("final try: TriesLeft = %d", *e.TriesLeft)
	}
	c.Close()

	c = faultyCard(t, &faulty{manufacturer: "IPZS", login: notCalled})
	if i := c.Info(); i.PINPart != "last4" || i.MinPINLength != 4 || i.MaxPINLength != 4 {
		t.Errorf("IPZS: Info() = %+v", i)
	}
	wantCode(t, c.Login(ctx, pin), protocol.CodePINFormat)
	c.Close()

	c = faultyCard(t, &faulty{flags: pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH, login: pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)})
	if !c.Info().Pinpad {
		t.Error("pinpad flag not reported")
	}
	wantCode(t, c.Login(ctx, nil), protocol.CodeUserCancelled)
	c.Close()

	c = faultyCard(t, &faulty{sign: pkcs11.Error(pkcs11.CKR_DEVICE_REMOVED)})
	if err := c.Login(ctx, pin); err != nil {
		t.Fatal(err)
	}
	if e := wantCode(t, mustErr(c.Sign(ctx, c.AuthCertificate(), crypto.SHA256, make([]byte, 32))), protocol.CodeCardRemoved); !e.Retryable {
		t.Error("card removed must be retryable")
	}
	c.Close()

	// OpenSC answers a card pulled mid-signature with CKR_GENERAL_ERROR:
	// the slot then tells a pulled card from a failing one.
	for _, absent := range []bool{false, true} {
		f := &faulty{sign: pkcs11.Error(pkcs11.CKR_GENERAL_ERROR)}
		c = faultyCard(t, f)
		if err := c.Login(ctx, pin); err != nil {
			t.Fatal(err)
		}
		f.absent = absent
		want := map[bool]protocol.Code{false: protocol.CodeCardError, true: protocol.CodeCardRemoved}[absent]
		wantCode(t, mustErr(c.Sign(ctx, c.AuthCertificate(), crypto.SHA256, make([]byte, 32))), want)
		c.Close()
	}
}

func TestAlwaysAuthenticate(t *testing.T) {
	newCard(t, TestCardOptions{})
	c := openCard(t, newProvider(t, softhsm))
	if err := c.Login(ctx, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	old, err := c.privateKey(c.auth)
	if err != nil {
		t.Fatal(err)
	}
	// Replace the key by one that wants a context-specific login: SoftHSM2
	// only takes CKA_ALWAYS_AUTHENTICATE at creation.
	m := c.p11.(*pkcs11.Ctx)
	rw, err := m.OpenSession(c.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer m.CloseSession(rw)
	if err := m.DestroyObject(rw, old); err != nil {
		t.Fatal(err)
	}
	_, _, err = m.GenerateKeyPair(rw, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048)},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_ID, c.auth.id), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, true),
		})
	if err != nil {
		t.Fatal(err)
	}
	c.auth.key = 0
	_, err = c.Sign(ctx, c.AuthCertificate(), crypto.SHA256, make([]byte, 32))
	if e := wantCode(t, err, protocol.CodeCardError); !c.auth.alwaysAuth || !errors.Is(e, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
		t.Errorf("err = %v, alwaysAuth = %v", e, c.auth.alwaysAuth)
	}
}

// benchCard is a logged-in RSA-2048 CIE.
func benchCard(b *testing.B) *Card {
	newCard(b, TestCardOptions{})
	c := openCard(b, newProvider(b, softhsm))
	if err := c.Login(ctx, []byte("12345678")); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSign is Card.Sign; compare with BenchmarkRawSign for the cost
// of this package over the bare PKCS#11 calls.
func BenchmarkSign(b *testing.B) {
	c := benchCard(b)
	digest := make([]byte, 32)
	for b.Loop() {
		if _, err := c.Sign(ctx, c.AuthCertificate(), crypto.SHA256, digest); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawSign is C_SignInit + C_Sign on the same session and key.
func BenchmarkRawSign(b *testing.B) {
	c := benchCard(b)
	key, err := c.privateKey(c.auth)
	if err != nil {
		b.Fatal(err)
	}
	data := DigestInfo(crypto.SHA256, make([]byte, 32))
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}
	for b.Loop() {
		if err := c.p11.SignInit(c.sh, mech, key); err != nil {
			b.Fatal(err)
		}
		if _, err := c.p11.Sign(c.sh, data); err != nil {
			b.Fatal(err)
		}
	}
}
