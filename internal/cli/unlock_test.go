package cli

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/reader"
	"github.com/eidlink/eidlink/internal/service"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/tlsauth"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// tlsWorld is the user's service with a virtual card, and eidlink's
// PKCS#11 module that the browsers would load.
type tlsWorld struct {
	t      *testing.T
	module string
	dir    string
	paths  ipc.Paths
	tls    tlsauth.Config
	stop   func()
	// card is the card's authentication certificate when no PKCS#11
	// module shows it (a CIE on the native driver); nil: ask the modules.
	card *x509.Certificate
}

// newTLSWorld runs the service after card, which sets up the card and
// its environment.
func newTLSWorld(t *testing.T, tls tlsauth.Config, card func(*testing.T)) *tlsWorld {
	testenv.NeedCommand(t, "pkcs11-tool", "opensc")
	testenv.NeedCommand(t, "openssl", "openssl")
	w := &tlsWorld{t: t, module: testenv.PKCS11Module(t), dir: t.TempDir(), tls: tls}
	card(t)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(w.dir, "config"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(w.dir, "run"))
	os.Mkdir(filepath.Join(w.dir, "run"), 0o700)
	var err error
	if w.paths, err = ipc.PathsFor(ipc.DefaultName); err != nil {
		t.Fatal(err)
	}
	w.start()
	return w
}

// start starts the service as "eidlink service run" does; stop ends it.
func (w *tlsWorld) start() {
	cfg, closeProvider := serviceConfig(w.paths)
	ctx, cancel := context.WithCancel(context.Background())
	cfg.TLS, cfg.Events = w.tls, reader.Events(ctx)
	srv, err := service.Listen(cfg)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	w.stop = sync.OnceFunc(func() { cancel(); <-done; closeProvider() })
	w.t.Cleanup(w.stop)
}

// tool runs pkcs11-tool on the module.
func (w *tlsWorld) tool(args ...string) (string, error) {
	out, err := exec.Command("pkcs11-tool", append([]string{"--module", w.module}, args...)...).CombinedOutput()
	return string(out), err
}

// sign signs data's SHA-256 DigestInfo with pkcs11-tool (CKM_RSA_PKCS,
// as a browser in TLS 1.2) and says whether openssl verifies it against
// the card's certificate.
func (w *tlsWorld) sign(name string) (string, error) {
	data := filepath.Join(w.dir, name)
	os.WriteFile(data, []byte("TLS 1.2 handshake messages "+name), 0o600)
	sum := sha256.Sum256([]byte("TLS 1.2 handshake messages " + name))
	di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, sum[:]...)
	os.WriteFile(data+".di", di, 0o600)
	if out, err := w.tool("--sign", "-m", "RSA-PKCS", "-i", data+".di", "-o", data+".sig"); err != nil {
		return out, err
	}
	out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", w.publicKey(), "-signature", data+".sig", data).CombinedOutput()
	return string(out), err
}

// cert is the card's authentication certificate.
func (w *tlsWorld) cert() *x509.Certificate {
	if w.card != nil {
		return w.card
	}
	p := cryptoki.NewProvider(cryptoki.Config{Logger: slog.New(slog.DiscardHandler)})
	defer p.Close()
	card, err := p.Open(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	defer card.Close()
	return card.AuthCertificate()
}

// publicKey writes the card's public key, from its certificate, for openssl.
func (w *tlsWorld) publicKey() string {
	certFile, keyFile := filepath.Join(w.dir, "cert.pem"), filepath.Join(w.dir, "pub.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.cert().Raw}), 0o600)
	if out, err := exec.Command("openssl", "x509", "-in", certFile, "-pubkey", "-noout", "-out", keyFile).CombinedOutput(); err != nil {
		w.t.Fatalf("openssl x509: %v %s", err, out)
	}
	return keyFile
}

// p11Sign signs hash with CKM_RSA_PKCS_PSS (as a browser in TLS 1.3)
// through the module loaded in this process by miekg/pkcs11, an
// independent client that shows C_Sign's own return value (pkcs11-tool
// retries a failed C_Sign as multi-part and reports that failure).
func (w *tlsWorld) p11Sign(hash []byte) ([]byte, error) {
	params := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)
	return w.p11SignWith(pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), hash)
}

// p11SignWith signs data with mech through the module, as p11Sign.
func (w *tlsWorld) p11SignWith(mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	return testenv.PKCS11Sign(w.module, mech, data)
}

// shows waits, with a bound, until the module lists a token whose label
// contains label: PC/SC tells a test that a card is back before the
// service (and the OpenSC in it) has read it again.
func (w *tlsWorld) shows(label string) {
	w.t.Helper()
	for deadline := time.Now().Add(virtualcardtest.Timeout); ; {
		if out, _ := w.tool("-L"); strings.Contains(out, label) {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the module does not show %q", label)
		}
	}
}

// refused checks that a signature through the module is refused with
// CKR_FUNCTION_CANCELED.
func (w *tlsWorld) refused(what string) {
	w.t.Helper()
	hash := sha256.Sum256([]byte(what))
	if _, err := w.p11Sign(hash[:]); !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		w.t.Fatalf("%s: %v, want CKR_FUNCTION_CANCELED", what, err)
	}
}

// The "done when": with the service and a virtual card up,
// pkcs11-tool lists the certificate and the key through eidlink's module
// without login; after "eidlink unlock" a signature it makes verifies
// with openssl against the card's certificate. Without an unlock, and
// once its signatures are used up, the module answers
// CKR_FUNCTION_CANCELED (no extension is there to ask the PIN).
func TestUnlockThenPKCS11ToolSigns(t *testing.T) {
	w := newTLSWorld(t, tlsauth.Config{Signatures: 3}, func(t *testing.T) { initCard(t) })
	out, err := w.tool("-O")
	if err != nil || !strings.Contains(out, "Certificate Object") || !strings.Contains(out, "Private Key Object") || !strings.Contains(out, "CIE di MARIO ROSSI") {
		t.Fatalf("pkcs11-tool -O: %v\n%s", err, out)
	}
	w.refused("a signature before unlock")
	for _, cmd := range []string{"status", "doctor"} {
		_, out, _ := run(t, "", cmd)
		if !strings.Contains(out, "nothing unlocked; no extension connected to ask the PIN") || !strings.Contains(out, "not unlocked and no eidlink extension is connected") {
			t.Errorf("%s does not say why the signature was refused:\n%s", cmd, out)
		}
	}

	code, stdout, stderr := run(t, "00000000\n", "unlock")
	if code != 1 || !strings.Contains(stderr, "wrong PIN") || !strings.Contains(stderr, "2 tries left") {
		t.Fatalf("unlock with a wrong PIN: %d\n%s%s", code, stdout, stderr)
	}
	w.refused("a signature after a wrong PIN")

	code, stdout, stderr = run(t, "12345678\n", "unlock")
	if code != 0 || !strings.Contains(stderr, "2 tries left") || stdout != "unlocked the cie card of MARIO ROSSI for TLS client authentication: at most 3 signatures within 60 s\n" {
		t.Fatalf("unlock: %d\n%s%s", code, stdout, stderr)
	}
	if _, out, _ := run(t, "", "status"); !strings.Contains(out, "a card is unlocked for 3 more signatures") {
		t.Errorf("status after unlock:\n%s", out)
	}
	if out, err := w.sign("first"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("pkcs11-tool's signature after unlock: %v\n%s", err, out)
	}
	hash := sha256.Sum256([]byte("TLS 1.3 transcript"))
	sig, err := w.p11Sign(hash[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPSS(w.cert().PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Fatalf("the PSS signature through the module: %v", err)
	}
	if out, err := w.sign("third"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("pkcs11-tool's signature after unlock: %v\n%s", err, out)
	}
	w.refused("a signature past the unlock's")

	// A service that restarts forgets the unlock.
	if code, _, stderr := run(t, "12345678\n", "unlock"); code != 0 {
		t.Fatalf("unlock: %s", stderr)
	}
	w.stop()
	w.start()
	w.refused("a signature after the service restarted")
}

// The vpcd CNS through OpenSC, behind the service: the module shows its
// authentication certificate only (never the signature one), a signature
// after unlock verifies, and taking the card out ends the unlock: back
// in the reader, it is locked again.
func TestUnlockCNSRemoved(t *testing.T) {
	pc := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	w := newTLSWorld(t, tlsauth.Config{}, func(t *testing.T) {
		t.Setenv("EIDLINK_PKCS11_MODULE", testenv.OpenSC)
		t.Setenv("SOFTHSM2_CONF", filepath.Join(t.TempDir(), "none"))
		t.Setenv("HOME", t.TempDir())
	})
	out, err := w.tool("-O")
	if err != nil || strings.Count(out, "Certificate Object") != 1 || !strings.Contains(out, "CNS di ") {
		t.Fatalf("pkcs11-tool -O: %v\n%s", err, out)
	}
	if code, _, stderr := run(t, "12345678\n", "unlock"); code != 0 {
		t.Fatalf("unlock: %s", stderr)
	}
	hash := sha256.Sum256([]byte("TLS 1.2 handshake"))
	di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)
	sig, err := w.p11SignWith(pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), di)
	if err != nil {
		t.Fatal(err)
	}
	auth := virtualcardtest.Identity(t, eidcert.CNS).Cert
	if err := rsa.VerifyPKCS1v15(auth.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], sig); err != nil {
		t.Fatalf("the CNS's signature through the module: %v", err)
	}
	slot.Remove()
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, nil)
	// The service learns it from PC/SC's event, which comes when it comes.
	for deadline := time.Now().Add(virtualcardtest.Timeout); ; {
		_, out, _ := run(t, "", "status")
		if strings.Contains(out, "nothing unlocked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status after the card left:\n%s", out)
		}
	}
	if err := slot.Insert(); err != nil {
		t.Fatal(err)
	}
	virtualcardtest.WaitCard(t, pc, virtualcardtest.Reader0, vc.ATR())
	w.shows("CNS di ")
	if _, err := w.p11SignWith(pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), di); !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		t.Fatalf("a signature after the card came back: %v, want CKR_FUNCTION_CANCELED", err)
	}
}

// host is a connection to the service as the extension's host has one.
type host struct {
	t *testing.T
	c *ipc.Conn
}

func (w *tlsWorld) host() *host {
	c, err := ipc.Dial(context.Background(), w.paths)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { c.Close() })
	return &host{w.t, c}
}

// next returns the next message whose top-level key is key (an event's
// name for events), skipping the others.
func (h *host) next(key string) json.RawMessage {
	h.t.Helper()
	for {
		msg, err := h.c.Recv()
		if err != nil {
			h.t.Fatalf("waiting for %s: %v", key, err)
		}
		var m map[string]json.RawMessage
		json.Unmarshal(msg, &m)
		var ev protocol.EventMessage
		if json.Unmarshal(msg, &ev) == nil && ev.Event == key {
			return m["data"]
		}
		if m[key] != nil {
			return msg
		}
	}
}

// answer sends a "tls-pin" answer on a port of its own, as the extension
// does, and checks it is taken at once.
func (w *tlsWorld) answer(args string) {
	w.t.Helper()
	h := w.host()
	if err := h.c.Send([]byte(`{"command":"tls-pin","arguments":` + args + `}`)); err != nil {
		w.t.Fatal(err)
	}
	msg, err := h.c.Recv()
	if err != nil || string(msg) != "{}" {
		w.t.Fatalf("tls-pin %s: %s %v", args, msg, err)
	}
}

// A signature with nothing unlocked asks the connected extensions for the
// PIN by event: the answer comes on another port, a wrong PIN is asked
// again with the tries left, the result event closes the windows, and
// the card stays unlocked for the page's next connection. A cancel
// refuses the signature.
func TestTLSPINAtSigningTime(t *testing.T) {
	w := newTLSWorld(t, tlsauth.Config{Signatures: 2}, func(t *testing.T) { initCard(t) })
	ext := w.host()
	hash := sha256.Sum256([]byte("TLS 1.3 transcript"))
	signed := make(chan error, 1)
	var sig []byte
	go func() {
		var err error
		sig, err = w.p11Sign(hash[:])
		signed <- err
	}()
	var req protocol.TLSPINRequest
	if err := json.Unmarshal(ext.next(protocol.EventTLSPINRequest), &req); err != nil || req.PINRequest.Purpose != protocol.PurposeTLS || req.PINRequest.TriesLeft != 3 {
		t.Fatalf("tls-pin-request %+v %v", req, err)
	}
	id := strconv.FormatUint(req.ID, 10)
	w.answer(`{"id":` + id + `,"pin":"00000000"}`)
	var again protocol.TLSPINRequest
	json.Unmarshal(ext.next(protocol.EventTLSPINRequest), &again)
	if again.ID != req.ID || again.PINRequest.Error == nil || again.PINRequest.Error.Code != protocol.CodePINIncorrect || again.PINRequest.TriesLeft != 2 {
		t.Fatalf("after a wrong PIN: %+v", again.PINRequest)
	}
	w.answer(`{"id":` + id + `,"pin":"12345678"}`)
	var res protocol.TLSPINResult
	if json.Unmarshal(ext.next(protocol.EventTLSPINResult), &res); !res.OK || res.ID != req.ID {
		t.Fatalf("tls-pin-result %+v", res)
	}
	if err := <-signed; err != nil {
		t.Fatal(err)
	}
	pub := w.cert().PublicKey.(*rsa.PublicKey)
	if err := rsa.VerifyPSS(pub, crypto.SHA256, hash[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Fatalf("the signature: %v", err)
	}
	if _, err := w.p11Sign(hash[:]); err != nil { // the page's next connection: no PIN asked
		t.Fatal(err)
	}
	go func() {
		_, err := w.p11Sign(hash[:])
		signed <- err
	}()
	json.Unmarshal(ext.next(protocol.EventTLSPINRequest), &req)
	w.answer(`{"id":` + strconv.FormatUint(req.ID, 10) + `,"cancel":true}`)
	if err := <-signed; !errors.Is(err, pkcs11.Error(pkcs11.CKR_FUNCTION_CANCELED)) {
		t.Fatalf("a cancelled PIN: %v, want CKR_FUNCTION_CANCELED", err)
	}
	if json.Unmarshal(ext.next(protocol.EventTLSPINResult), &res); res.OK || res.Error == nil || res.Error.Code != protocol.CodeUserCancelled {
		t.Fatalf("tls-pin-result %+v", res)
	}
}

// Two cards behind the service, the SoftHSM2 CIE and the vpcd CNS through
// OpenSC: "eidlink unlock" alone, or with a label both fit, unlocks
// neither, lists both and says how to choose; --card
// unlocks the one it names (by kind here, by label next), whose signature
// through eidlink's module then verifies.
func TestUnlockChoosesTheCard(t *testing.T) {
	pc := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	w := newTLSWorld(t, tlsauth.Config{}, func(t *testing.T) {
		initCard(t)
		t.Setenv("EIDLINK_PKCS11_MODULE", os.Getenv("EIDLINK_PKCS11_MODULE")+":"+testenv.OpenSC)
		t.Setenv("HOME", t.TempDir())
	})
	for _, args := range [][]string{{"unlock"}, {"unlock", "--card", "mario rossi"}} {
		code, stdout, stderr := run(t, "12345678\n", args...)
		if code == 0 || !strings.Contains(stderr, `"CIE di MARIO ROSSI" (cie)`) || !strings.Contains(stderr, `"CNS di MARIO ROSSI" (cns)`) ||
			!strings.Contains(stderr, "hint: take out the cards not needed") || !strings.Contains(stderr, `"eidlink unlock --card KIND|SLOT|LABEL"`) {
			t.Fatalf("%q with two cards: %d\n%s%s", args, code, stdout, stderr)
		}
	}
	if _, out, _ := run(t, "", "status"); !strings.Contains(out, "nothing unlocked") {
		t.Fatalf("status after an ambiguous unlock:\n%s", out)
	}
	for _, name := range []string{"cns", "CNS di MARIO"} {
		code, stdout, stderr := run(t, "12345678\n", "unlock", "--card", name)
		if code != 0 || !strings.HasPrefix(stdout, "unlocked the cns card of MARIO ROSSI") || strings.Contains(stderr, "hint:") {
			t.Fatalf("unlock --card %q: %d\n%s%s", name, code, stdout, stderr)
		}
	}
	hash := sha256.Sum256([]byte("TLS 1.2 handshake"))
	di := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, hash[:]...)
	in, sigFile := filepath.Join(w.dir, "di"), filepath.Join(w.dir, "sig")
	os.WriteFile(in, di, 0o600)
	if out, err := w.tool("--sign", "-m", "RSA-PKCS", "--token-label", "CNS di MARIO ROSSI", "-i", in, "-o", sigFile); err != nil {
		t.Fatalf("pkcs11-tool --sign with the CNS: %v\n%s", err, out)
	}
	sig, _ := os.ReadFile(sigFile)
	auth := virtualcardtest.Identity(t, eidcert.CNS).Cert
	if err := rsa.VerifyPKCS1v15(auth.PublicKey.(*rsa.PublicKey), crypto.SHA256, hash[:], sig); err != nil {
		t.Fatalf("the unlocked CNS's signature: %v", err)
	}
}
