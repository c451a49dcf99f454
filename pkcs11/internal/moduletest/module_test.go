//go:build linux

package moduletest

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/testenv"
)

// open loads the module in this process and initializes it.
func open(t testing.TB) *pkcs11.Ctx {
	t.Helper()
	modules(t)
	p := pkcs11.New(built.plain)
	if p == nil {
		t.Fatal("the module does not load")
	}
	if err := p.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Finalize(); err != nil {
			t.Errorf("C_Finalize: %v", err)
		}
		p.Destroy()
	})
	return p
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

func session(t testing.TB, p *pkcs11.Ctx, slot uint) pkcs11.SessionHandle {
	t.Helper()
	s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func find(t testing.TB, p *pkcs11.Ctx, s pkcs11.SessionHandle, tmpl ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	t.Helper()
	if err := p.FindObjectsInit(s, tmpl); err != nil {
		t.Fatal(err)
	}
	objs, _, err := p.FindObjects(s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.FindObjectsFinal(s); err != nil {
		t.Fatal(err)
	}
	return objs
}

func privateKey(t testing.TB, p *pkcs11.Ctx, s pkcs11.SessionHandle) pkcs11.ObjectHandle {
	t.Helper()
	keys := find(t, p, s, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, keyID))
	if len(keys) != 1 {
		t.Fatalf("%d private keys with CKA_ID %x", len(keys), keyID)
	}
	return keys[0]
}

func TestSlotsTokensObjects(t *testing.T) {
	rsaCard, ecCard := newCard(t, 7, true, true), newCard(t, 9, false, false)
	empty := &card{slot: 12, reader: "Virtual PCD 00 01"}
	svc := newService(t, rsaCard, ecCard, empty)
	p := open(t)

	all, err := p.GetSlotList(false)
	if err != nil || len(all) != 3 || all[0] != 7 || all[1] != 9 || all[2] != 12 {
		t.Fatalf("all slots: %v %v, want [7 9 12]", all, err)
	}
	present, err := p.GetSlotList(true)
	if err != nil || len(present) != 2 {
		t.Fatalf("slots with a card: %v %v", present, err)
	}
	si, err := p.GetSlotInfo(12)
	if err != nil || si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 || si.SlotDescription != "Virtual PCD 00 01" {
		t.Errorf("empty slot: %+v %v", si, err)
	}
	if _, err := p.GetTokenInfo(12); !isRV(err, pkcs11.CKR_TOKEN_NOT_PRESENT) {
		t.Errorf("token info of an empty slot: %v", err)
	}
	if _, err := p.GetTokenInfo(99); !isRV(err, pkcs11.CKR_SLOT_ID_INVALID) {
		t.Errorf("token info of no slot: %v", err)
	}

	ti, err := p.GetTokenInfo(7)
	if err != nil {
		t.Fatal(err)
	}
	if ti.Label != "CIE di MARIO ROSSI" || ti.SerialNumber != rsaCard.serial {
		t.Errorf("token label %q serial %q", ti.Label, ti.SerialNumber)
	}
	if ti.Flags != pkcs11.CKF_TOKEN_INITIALIZED {
		t.Errorf("token flags 0x%x, want CKF_TOKEN_INITIALIZED only (no CKF_LOGIN_REQUIRED)", ti.Flags)
	}

	for slot, want := range map[uint][]uint{7: {pkcs11.CKM_RSA_PKCS, pkcs11.CKM_RSA_PKCS_PSS}, 9: {pkcs11.CKM_ECDSA}} {
		ms, err := p.GetMechanismList(slot)
		if err != nil || len(ms) != len(want) {
			t.Fatalf("slot %d mechanisms %v %v", slot, ms, err)
		}
		for i := range ms {
			if ms[i].Mechanism != want[i] {
				t.Errorf("slot %d mechanism %d: 0x%x, want 0x%x", slot, i, ms[i].Mechanism, want[i])
			}
		}
	}

	s := session(t, p, 7)
	certs := find(t, p, s, pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE))
	if len(certs) != 1 {
		t.Fatalf("%d certificates", len(certs))
	}
	attrs, err := p.GetAttributeValue(s, certs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, nil), pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(attrs[0].Value, rsaCard.cert.Raw) || !bytes.Equal(attrs[1].Value, keyID) || !bytes.Equal(attrs[2].Value, rsaCard.cert.RawSubject) {
		t.Error("certificate attributes differ from the card's certificate")
	}
	if len(attrs[3].Value) != 8 || attrs[3].Value[0] != pkcs11.CKC_X_509 {
		t.Errorf("CKA_CERTIFICATE_TYPE %x: want a native CK_ULONG 0", attrs[3].Value)
	}

	key := privateKey(t, p, s)
	attrs, err = p.GetAttributeValue(s, key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, nil), pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, nil), pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(attrs[0].Value, []byte{0}) || !bytes.Equal(attrs[1].Value, []byte{0}) || !bytes.Equal(attrs[2].Value, []byte{1}) {
		t.Errorf("private key CKA_PRIVATE %x CKA_ALWAYS_AUTHENTICATE %x CKA_SIGN %x: want 00 00 01", attrs[0].Value, attrs[1].Value, attrs[2].Value)
	}
	if !bytes.Equal(attrs[3].Value, rsaCard.key.Public().(*rsa.PublicKey).N.Bytes()) {
		t.Error("CKA_MODULUS differs from the card's key")
	}
	// Each attribute the object lacks is marked, the others still
	// returned: CKR_ATTRIBUTE_TYPE_INVALID.
	if _, err := p.GetAttributeValue(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); !isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID) {
		t.Errorf("the private key's CKA_VALUE: %v, want CKR_ATTRIBUTE_TYPE_INVALID", err)
	}
	if _, err := p.GetAttributeValue(s, 12345, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)}); !isRV(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) {
		t.Errorf("no such object: %v", err)
	}

	// Sessions, mechanisms, NSS's trust lookups and other searches use
	// the snapshot held, without asking the service.
	before := len(svc.opsSeen())
	if _, err := p.GetMechanismList(9); err != nil {
		t.Fatal(err)
	}
	p.CloseSession(session(t, p, 9))
	if objs := find(t, p, s, pkcs11.NewAttribute(pkcs11.CKA_CLASS, uint(0xCE534353))); len(objs) != 0 {
		t.Errorf("CKO_NSS_TRUST: %d objects", len(objs))
	}
	if all := find(t, p, s); len(all) != 3 {
		t.Errorf("%d objects on the token, want certificate, public and private key", len(all))
	}
	if after := len(svc.opsSeen()); after != before {
		t.Errorf("sessions and searches made %d requests to the service", after-before)
	}
	if _, err := p.GetSessionInfo(99); !isRV(err, pkcs11.CKR_SESSION_HANDLE_INVALID) {
		t.Errorf("no such session: %v", err)
	}
}

func TestSign(t *testing.T) {
	rsaCard, ecCard, pkcs1Card := newCard(t, 1, true, true), newCard(t, 2, false, false), newCard(t, 3, true, false)
	newService(t, rsaCard, ecCard, pkcs1Card)
	p := open(t)
	hash := sha256.Sum256([]byte("TLS 1.2 handshake messages"))
	digestInfo := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)

	sign := func(slot uint, mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
		s := session(t, p, slot)
		defer p.CloseSession(s)
		if err := p.SignInit(s, []*pkcs11.Mechanism{mech}, privateKey(t, p, s)); err != nil {
			return nil, err
		}
		return p.Sign(s, data)
	}

	sig, err := sign(1, pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), digestInfo)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(rsaCard.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], sig); err != nil {
		t.Errorf("CKM_RSA_PKCS: %v", err)
	}

	pss := pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32))
	sig, err = sign(1, pss, hash[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(rsaCard.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Errorf("CKM_RSA_PKCS_PSS: %v", err)
	}

	sig, err = sign(2, pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), hash[:])
	if err != nil {
		t.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if len(sig) != 64 || !ecdsa.Verify(ecCard.cert.PublicKey.(*ecdsa.PublicKey), hash[:], r, s) {
		t.Errorf("CKM_ECDSA: %d bytes, does not verify", len(sig))
	}

	// A card without raw RSA offers no PSS, and the module refuses it
	// before asking the service.
	if _, err := sign(3, pss, hash[:]); !isRV(err, pkcs11.CKR_MECHANISM_INVALID) {
		t.Errorf("PSS on a PKCS#1-only card: %v, want CKR_MECHANISM_INVALID", err)
	}
	if _, err := sign(2, pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil), hash[:]); !isRV(err, pkcs11.CKR_MECHANISM_INVALID) {
		t.Errorf("a hash-and-sign mechanism: %v, want CKR_MECHANISM_INVALID", err)
	}
	if _, err := sign(1, pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), make([]byte, 256)); !isRV(err, pkcs11.CKR_DATA_LEN_RANGE) {
		t.Errorf("CKM_RSA_PKCS over the modulus length: %v, want CKR_DATA_LEN_RANGE", err)
	}
}

func TestSignCancelledAndRefused(t *testing.T) {
	c := newCard(t, 1, false, false)
	svc := newService(t, c)
	p := open(t)
	s := session(t, p, 1)
	key := privateKey(t, p, s)
	for status, want := range map[p11wire.Status]uint{
		p11wire.StatusCancelled:    pkcs11.CKR_FUNCTION_CANCELED,
		p11wire.StatusNotAvailable: pkcs11.CKR_FUNCTION_CANCELED,
		p11wire.StatusPINLocked:    pkcs11.CKR_PIN_LOCKED,
		p11wire.StatusTokenRemoved: pkcs11.CKR_DEVICE_REMOVED,
		p11wire.Status(999):        pkcs11.CKR_DEVICE_ERROR,
	} {
		svc.set(func() {
			svc.sign = func(context.Context, *p11wire.SignRequest) *p11wire.Response {
				return &p11wire.Response{Version: p11wire.Version, Status: status}
			}
		})
		if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, key); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Sign(s, make([]byte, 32)); !isRV(err, want) {
			t.Errorf("status %d: %v, want 0x%x", status, err, want)
		}
	}
}

// The module gives up waiting (the PIN window's own timeout is shorter in
// real use), and the service hears it: the request's context ends, as the
// PIN window would close. While one C_Sign waits every other call goes on.
func TestSignWaitBounded(t *testing.T) {
	c := newCard(t, 1, false, false)
	svc := newService(t, c)
	t.Setenv("EIDLINK_PKCS11_TIMEOUT_MS", "2000")
	waiting, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	svc.set(func() {
		svc.sign = func(ctx context.Context, _ *p11wire.SignRequest) *p11wire.Response {
			waiting <- struct{}{}
			<-ctx.Done()
			canceled <- struct{}{}
			return &p11wire.Response{Version: p11wire.Version, Status: p11wire.StatusCancelled}
		}
	})
	p := open(t)
	s := session(t, p, 1)
	done := signHeld(t, p, s, waiting)
	other := session(t, p, 1)
	if objs := find(t, p, other); len(objs) != 3 {
		t.Errorf("while a signature waits: %d objects", len(objs))
	}
	if slots, err := p.GetSlotList(true); err != nil || len(slots) != 1 {
		t.Errorf("while a signature waits: slots %v %v", slots, err)
	}
	select {
	case err := <-done:
		if !isRV(err, pkcs11.CKR_FUNCTION_CANCELED) {
			t.Errorf("a signature past the module's bound: %v, want CKR_FUNCTION_CANCELED", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("C_Sign did not give up")
	}
	select {
	case <-canceled:
	case <-time.After(10 * time.Second):
		t.Error("the service's sign request was not cancelled when the module gave up")
	}
}

func TestServiceDown(t *testing.T) {
	newHome(t) // a secret, no service
	p := open(t)
	slots, err := p.GetSlotList(false)
	if err != nil || len(slots) != 0 {
		t.Errorf("no service: slots %v, error %v; want none and no error", slots, err)
	}
}

// A secret file that others can read is not used: the module sends it
// nowhere, and sees no slots.
func TestSecretReadableByOthers(t *testing.T) {
	svc := newService(t, newCard(t, 1, false, false))
	if err := os.Chmod(filepath.Join(svc.dir, "config/eidlink/service.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := open(t)
	if slots, err := p.GetSlotList(false); err != nil || len(slots) != 0 {
		t.Errorf("slots %v %v, want none", slots, err)
	}
	if ops := svc.opsSeen(); len(ops) != 0 {
		t.Errorf("the service got %v", ops)
	}
}

func TestCardRemovedAndReinserted(t *testing.T) {
	c := newCard(t, 5, false, false)
	svc := newService(t, c)
	p := open(t)
	s := session(t, p, 5)
	key := privateKey(t, p, s)
	if ev := <-p.WaitForSlotEvent(pkcs11.CKF_DONT_BLOCK); ev.SlotID != 0 {
		t.Errorf("an event before any change: slot %d", ev.SlotID)
	}

	// Removed between the snapshot and the signature: the service says
	// so.
	svc.set(func() { c.present = false })
	if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, key); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sign(s, make([]byte, 32)); !isRV(err, pkcs11.CKR_DEVICE_REMOVED) {
		t.Errorf("sign after removal: %v, want CKR_DEVICE_REMOVED", err)
	}
	if slots, err := p.GetSlotList(true); err != nil || len(slots) != 0 {
		t.Errorf("after removal: slots with a card %v %v", slots, err)
	}
	if ev := <-p.WaitForSlotEvent(pkcs11.CKF_DONT_BLOCK); ev.SlotID != 5 {
		t.Errorf("removal event: slot %d, want 5", ev.SlotID)
	}
	if _, err := p.GetAttributeValue(s, key, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)}); !isRV(err, pkcs11.CKR_DEVICE_REMOVED) {
		t.Errorf("a session on a removed card: %v, want CKR_DEVICE_REMOVED", err)
	}

	// Reinserted: the same slot id, a new session signs.
	svc.set(func() { c.present = true })
	slots, err := p.GetSlotList(true)
	if err != nil || len(slots) != 1 || slots[0] != 5 {
		t.Fatalf("after reinsertion: %v %v, want [5]", slots, err)
	}
	if ev := <-p.WaitForSlotEvent(pkcs11.CKF_DONT_BLOCK); ev.SlotID != 5 {
		t.Errorf("insertion event: slot %d, want 5", ev.SlotID)
	}
	s2 := session(t, p, 5)
	if err := p.SignInit(s2, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, privateKey(t, p, s2)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Sign(s2, make([]byte, 32)); err != nil {
		t.Errorf("sign after reinsertion: %v", err)
	}
}

// C_Login takes no PIN: nothing reaches the service.
func TestLoginSendsNothing(t *testing.T) {
	svc := newService(t, newCard(t, 1, false, false))
	p := open(t)
	s := session(t, p, 1)
	before := len(svc.opsSeen())
	if err := p.Login(s, pkcs11.CKU_USER, "12345678"); !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Errorf("C_Login: %v, want CKR_USER_ALREADY_LOGGED_IN", err)
	}
	if err := p.Login(s, pkcs11.CKU_SO, "12345678"); !isRV(err, pkcs11.CKR_FUNCTION_NOT_SUPPORTED) {
		t.Errorf("C_Login as SO: %v", err)
	}
	if after := len(svc.opsSeen()); after != before {
		t.Errorf("C_Login made %d requests", after-before)
	}
}

// asanEnv runs sanitized binaries: pkcs11-tool needs the ASan runtime
// preloaded, the driver links it.
func asanEnv(t *testing.T, preload bool) []string {
	env := append(os.Environ(), "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
	if preload {
		lib, err := exec.Command("gcc", "-print-file-name=libasan.so").Output()
		if err != nil {
			t.Fatal(err)
		}
		// OpenSC's own allocations are not the module's: leaks are
		// checked by the driver, which unloads the module.
		return append(env, "LD_PRELOAD="+strings.TrimSpace(string(lib)), "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
	}
	return append(env, "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1")
}

func driver(t *testing.T, args ...string) string {
	t.Helper()
	modules(t)
	cmd := exec.Command(built.driver, append([]string{built.asan}, args...)...)
	cmd.Env = asanEnv(t, false)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("driver %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Initialize/Finalize cycles, each walking every object and signing, end
// with nothing leaked (LeakSanitizer, after the module is unloaded) and
// no sanitizer report.
func TestCyclesLeakFree(t *testing.T) {
	newService(t, newCard(t, 1, true, true), newCard(t, 2, false, false))
	if out := driver(t, "cycles", "20"); !strings.Contains(out, "signed 40\n") {
		t.Errorf("driver: %s", out)
	}
}

// Eight threads list, search, read and sign at once while a card comes
// and goes with every snapshot: ThreadSanitizer sees no data race in the module.
func TestThreads(t *testing.T) {
	modules(t)
	moving := newCard(t, 2, false, false)
	svc := newService(t, newCard(t, 1, false, false), moving)
	svc.set(func() { svc.flip = moving })
	cmd := exec.Command(built.tsanDriver, built.tsan, "threads", "20")
	cmd.Env = append(os.Environ(), "TSAN_OPTIONS=halt_on_error=1:exitcode=66")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("driver threads: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "signed ") || strings.Contains(string(out), "signed 0\n") {
		t.Errorf("driver: %s", out)
	}
}

// A forked child finds the module uninitialized, initializes it again and
// signs on its own connection; the parent goes on.
func TestFork(t *testing.T) {
	newService(t, newCard(t, 1, false, false))
	if out := driver(t, "fork"); !strings.Contains(out, "child signed\n") || !strings.Contains(out, "signed 2\n") {
		t.Errorf("driver: %s", out)
	}
}

func TestConventions(t *testing.T) {
	newService(t, newCard(t, 1, true, false), &card{slot: 2, reader: "empty"})
	if out := driver(t, "conventions"); !strings.Contains(out, "conventions ok\n") {
		t.Errorf("driver: %s", out)
	}
}

// The snapshot and the frames come from another process: whatever it
// sends, the module under the sanitizers gives errors, never a crash, an
// overflow or a leak. Valid messages mutated at random, through the
// WebSocket layer and under it.
func TestHostileService(t *testing.T) {
	svc := newService(t, newCard(t, 1, true, true), newCard(t, 2, false, false))
	good, err := svc.snapshot(0).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	frame := func(b []byte) []byte { // one unmasked binary frame, as a server writes it
		h := []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0, 0}
		for i := 0; i < 8; i++ {
			h[2+i] = byte(uint64(len(b)) >> (56 - 8*i))
		}
		return append(h, b...)
	}
	var n atomic.Int64
	hostile := func() ([]byte, bool) {
		b := mutate(good)
		switch n.Add(1) % 4 {
		case 0:
			return b, false // a bad message in good frames
		case 1:
			return frame(b), true
		case 2:
			return mutate(frame(good)), true // bad frames
		default:
			return mutate(mutate(frame(good))), true
		}
	}
	svc.set(func() { svc.raw = hostile })
	out := driver(t, "poll", "400")
	if !strings.Contains(out, "signed 0\n") {
		t.Errorf("driver: %s", out)
	}
	if n.Load() < 400 {
		t.Errorf("the service was asked %d times", n.Load())
	}
}

// mutate changes a few bytes of b, or cuts it, or grows it, or rewrites
// a length field.
func mutate(b []byte) []byte {
	b = append([]byte(nil), b...)
	var r [4]byte
	rand.Read(r[:])
	for i := 0; i <= int(r[0]%4); i++ {
		rand.Read(r[:])
		pos := int(uint(r[1])<<8|uint(r[2])) % len(b)
		switch r[3] % 5 {
		case 0:
			b[pos] ^= 1 << (r[0] % 8)
		case 1:
			b = b[:pos]
		case 2:
			b[pos] = 0xFF
		case 3:
			b = append(b, r[:]...)
		case 4:
			b[pos] = r[0]
		}
		if len(b) == 0 {
			b = []byte{0}
		}
	}
	return b
}

// OpenSC's pkcs11-tool, an independent client, lists, reads and signs
// through the module; Go checks the signatures.
func TestPKCS11Tool(t *testing.T) {
	testenv.NeedCommand(t, "pkcs11-tool", "opensc")
	modules(t)
	rsaCard, ecCard := newCard(t, 1, true, true), newCard(t, 2, false, false)
	newService(t, rsaCard, ecCard)
	dir := t.TempDir()
	tool := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("pkcs11-tool", append([]string{"--module", built.asan}, args...)...)
		cmd.Env = asanEnv(t, true)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := tool("-L"); !strings.Contains(out, "CIE di MARIO ROSSI") || strings.Contains(out, "login required") {
		t.Errorf("pkcs11-tool -L:\n%s", out)
	}
	if out := tool("-O", "--slot", "1"); !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "Private Key Object") {
		t.Errorf("pkcs11-tool -O:\n%s", out)
	}
	hash := sha256.Sum256([]byte("signed by pkcs11-tool"))
	in := filepath.Join(dir, "in")
	os.WriteFile(in, hash[:], 0o600)
	sig := func(slot string, mech ...string) []byte {
		out := filepath.Join(dir, "sig")
		tool(append([]string{"--slot", slot, "--sign", "--id", "01", "-i", in, "-o", out}, mech...)...)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := sig("2", "--mechanism", "ECDSA")
	if len(s) != 64 || !ecdsa.Verify(ecCard.cert.PublicKey.(*ecdsa.PublicKey), hash[:], new(big.Int).SetBytes(s[:32]), new(big.Int).SetBytes(s[32:])) {
		t.Error("pkcs11-tool ECDSA signature does not verify")
	}
	s = sig("1", "--mechanism", "RSA-PKCS-PSS", "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "--salt-len", "32")
	if err := rsa.VerifyPSS(rsaCard.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], s, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Errorf("pkcs11-tool PSS signature: %v", err)
	}
	digestInfo := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)
	os.WriteFile(in, digestInfo, 0o600)
	s = sig("1", "--mechanism", "RSA-PKCS")
	if err := rsa.VerifyPKCS1v15(rsaCard.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], s); err != nil {
		t.Errorf("pkcs11-tool RSA-PKCS signature: %v", err)
	}
}

// A service that accepts and never answers costs a bounded wait, then no
// slots.
func TestServiceWedged(t *testing.T) {
	svc := newHome(t)
	t.Setenv("EIDLINK_PKCS11_TIMEOUT_MS", "500")
	// Nothing accepts: connections wait in the listen queue, unanswered.
	ln, err := net.Listen("unix", filepath.Join(svc.dir, "run", "eidlink", "service.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := open(t)
	if slots, err := p.GetSlotList(false); err != nil || len(slots) != 0 {
		t.Errorf("a wedged service: slots %v %v, want none", slots, err)
	}
}

// A socket at the service's path held by another user gets nothing: the
// module checks the peer before it sends the secret.
func TestServiceOfAnotherUser(t *testing.T) {
	testenv.NeedRoot(t, "to listen as another user")
	const python = "/usr/bin/python3" // not a shim in root's home, which nobody cannot run
	testenv.NeedFile(t, python, "python3")
	svc := newHome(t)
	const nobody = 65534
	for _, d := range []string{svc.dir, filepath.Join(svc.dir, "run")} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(svc.dir, "run", "eidlink"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	const server = `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
c.settimeout(10)
got = b""
try:
    while True:
        d = c.recv(4096)
        if not d:
            break
        got += d
except socket.timeout:
    pass
print("received", len(got), flush=True)
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-c", server, filepath.Join(svc.dir, "run", "eidlink", "service.sock"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the other user's listener did not start: %q", lines.Text())
	}
	p := open(t)
	if slots, err := p.GetSlotList(false); err != nil || len(slots) != 0 {
		t.Errorf("another user's socket: slots %v %v, want none", slots, err)
	}
	if !lines.Scan() || lines.Text() != "received 0" {
		t.Errorf("the other user's listener: %q, want \"received 0\"", lines.Text())
	}
}

// A session closed while its signature waits gets CKR_SESSION_CLOSED, and
// the module's state stays sound (the session is not touched again).
func TestSessionClosedWhileSigning(t *testing.T) {
	svc := newService(t, newCard(t, 1, false, false))
	waiting, release := make(chan struct{}, 1), make(chan struct{})
	svc.set(func() {
		svc.sign = func(ctx context.Context, req *p11wire.SignRequest) *p11wire.Response {
			waiting <- struct{}{}
			<-release
			return svc.signWithCard(req)
		}
	})
	p := open(t)
	s := session(t, p, 1)
	done := signHeld(t, p, s, waiting)
	if err := p.CloseSession(s); err != nil {
		t.Fatal(err)
	}
	close(release)
	select {
	case err := <-done:
		if !isRV(err, pkcs11.CKR_SESSION_CLOSED) {
			t.Errorf("C_Sign on a session closed meanwhile: %v, want CKR_SESSION_CLOSED", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("C_Sign did not return")
	}
	if _, err := p.GetSessionInfo(s); !isRV(err, pkcs11.CKR_SESSION_HANDLE_INVALID) {
		t.Errorf("the closed session: %v", err)
	}
}

// A test profile's service, named by EIDLINK_CONFIG_DIR and
// EIDLINK_RUNTIME_DIR, is the one the module asks, as the hosts do: never
// the user's own.
func TestProfileServiceDirs(t *testing.T) {
	svc := newService(t, newCard(t, 1, false, false))
	elsewhere := t.TempDir() // the user's own directories: no service there
	t.Setenv("HOME", elsewhere)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(elsewhere, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(elsewhere, "config"))
	t.Setenv("EIDLINK_CONFIG_DIR", filepath.Join(svc.dir, "config/eidlink"))
	t.Setenv("EIDLINK_RUNTIME_DIR", filepath.Join(svc.dir, "run/eidlink"))
	p := open(t)
	if slots, err := p.GetSlotList(true); err != nil || len(slots) != 1 {
		t.Errorf("slots %v, error %v; want the profile's service's one card", slots, err)
	}
}

// signHeld starts an ECDSA signature on s in the background and returns
// once the service holds it (waiting fires); done gets C_Sign's error.
func signHeld(t *testing.T, p *pkcs11.Ctx, s pkcs11.SessionHandle, waiting <-chan struct{}) (done <-chan error) {
	t.Helper()
	if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, privateKey(t, p, s)); err != nil {
		t.Fatal(err)
	}
	d := make(chan error, 1)
	go func() {
		_, err := p.Sign(s, make([]byte, 32))
		d <- err
	}()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the sign request never reached the service")
	}
	return d
}
