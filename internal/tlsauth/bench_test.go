package tlsauth_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/service"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/tlsauth"
	"github.com/eidlink/eidlink/internal/tlsreplica"
)

// What eidlink's PKCS#11 module costs a browser (issue 11, item 9): a
// signature through the module and the service against the same
// signature straight from the card's own module (SoftHSM2 here), and an
// object query, answered from the module's snapshot, against a call that
// does nothing (C_GetInfo). make bench prints the ratios.

// digestInfo is what a browser passes with CKM_RSA_PKCS in TLS 1.2.
func digestInfo() []byte {
	sum := sha256.Sum256([]byte("TLS 1.2 handshake messages"))
	return append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, sum[:]...)
}

// newCard makes a SoftHSM2 CIE and points SOFTHSM2_CONF at it.
func newCard(b *testing.B) *cryptoki.TestCardResult {
	testenv.NeedSoftHSM(b)
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(b.TempDir(), "card")})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range card.Env {
		b.Setenv(e.Name, e.Value)
	}
	return card
}

// session opens a session on the first token of lib and finds its
// private key; pin, when set, logs in.
func session(b *testing.B, lib, pin string) (*pkcs11.Ctx, pkcs11.SessionHandle, pkcs11.ObjectHandle) {
	p := pkcs11.New(lib)
	if p == nil {
		b.Fatalf("cannot load %s", lib)
	}
	if err := p.Initialize(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Finalize(); p.Destroy() })
	slots, err := p.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		b.Fatalf("no token: %v", err)
	}
	sh, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		b.Fatal(err)
	}
	if pin != "" {
		if err := p.Login(sh, pkcs11.CKU_USER, pin); err != nil {
			b.Fatal(err)
		}
	}
	p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	keys, _, err := p.FindObjects(sh, 1)
	p.FindObjectsFinal(sh)
	if err != nil || len(keys) != 1 {
		b.Fatalf("no private key: %v", err)
	}
	return p, sh, keys[0]
}

func sign(b *testing.B, p *pkcs11.Ctx, sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, data []byte) {
	if err := p.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, key); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Sign(sh, data); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCardSign is the card's own module: C_SignInit and C_Sign.
func BenchmarkCardSign(b *testing.B) {
	newCard(b)
	p, sh, key := session(b, cryptoki.SoftHSMModule, "12345678")
	data := digestInfo()
	for b.Loop() {
		sign(b, p, sh, key, data)
	}
}

// moduleWorld runs the service on the card, unlocked for the whole
// benchmark, and opens a session through eidlink's module.
func moduleWorld(b *testing.B) (*pkcs11.Ctx, pkcs11.SessionHandle, pkcs11.ObjectHandle) {
	_, p, sh, key := moduleCard(b)
	return p, sh, key
}

// moduleCard is moduleWorld, with the card.
func moduleCard(b *testing.B) (*cryptoki.TestCardResult, *pkcs11.Ctx, pkcs11.SessionHandle, pkcs11.ObjectHandle) {
	card := newCard(b)
	lib := testenv.PKCS11Module(b)
	dir := b.TempDir()
	b.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	b.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Mkdir(filepath.Join(dir, "run"), 0o700)
	paths, err := ipc.PathsFor(ipc.DefaultName)
	if err != nil {
		b.Fatal(err)
	}
	prov := cryptoki.NewProvider(cryptoki.Config{Modules: []cryptoki.Module{{Name: "SoftHSM2", Path: cryptoki.SoftHSMModule}},
		Logger: slog.New(slog.DiscardHandler)})
	srv, err := service.Listen(service.Config{Command: command.Config{Provider: command.Cards[*cryptoki.Card](prov), Version: "1.0.0"},
		Paths: paths, Slots: service.PKCS11Slots[*cryptoki.Card](prov), TLS: tlsauth.Config{UnlockFor: time.Hour, Signatures: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done; prov.Close() })
	unlock(b, ctx, paths)
	p, sh, key := session(b, lib, "")
	return card, p, sh, key
}

// unlock unlocks the card as the extension does.
func unlock(b *testing.B, ctx context.Context, paths ipc.Paths) {
	c, err := ipc.Dial(ctx, paths)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, step := range []struct{ send, want string }{
		{`{"command":"unlock","arguments":{}}`, "pinRequest"},
		{`{"command":"pin","arguments":{"pin":"12345678"}}`, "unlocked"},
	} {
		if err := c.Send([]byte(step.send)); err != nil {
			b.Fatal(err)
		}
		for {
			ans, err := c.Recv()
			if err != nil {
				b.Fatal(err)
			}
			var m map[string]json.RawMessage
			json.Unmarshal(ans, &m)
			if m["event"] != nil {
				continue
			}
			if m[step.want] == nil {
				b.Fatalf("unlock: want %s, got %s", step.want, ans)
			}
			break
		}
	}
}

// BenchmarkModuleSign is the same signature through eidlink's module,
// the service and the card's module.
func BenchmarkModuleSign(b *testing.B) {
	p, sh, key := moduleWorld(b)
	data := digestInfo()
	for b.Loop() {
		sign(b, p, sh, key, data)
	}
}

// BenchmarkModuleQuery is what NSS does hundreds of times a page: find
// an object and read an attribute, answered inside the module.
func BenchmarkModuleQuery(b *testing.B) {
	p, sh, _ := moduleWorld(b)
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE)}
	id := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)}
	for b.Loop() {
		if err := p.FindObjectsInit(sh, tmpl); err != nil {
			b.Fatal(err)
		}
		objs, _, err := p.FindObjects(sh, 4)
		p.FindObjectsFinal(sh)
		if err != nil || len(objs) != 1 {
			b.Fatal(objs, err)
		}
		if _, err := p.GetAttributeValue(sh, objs[0], id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkModuleNoop is C_GetInfo through the module: the floor of a
// call (cgo included).
func BenchmarkModuleNoop(b *testing.B) {
	p, _, _ := moduleWorld(b)
	for b.Loop() {
		if _, err := p.GetInfo(); err != nil {
			b.Fatal(err)
		}
	}
}

// The page load of the mTLS replica (internal/tlsreplica: the CIE identity
// provider's client-certificate endpoint, TLS 1.2, then the MyINPS welcome
// page) by a client that signs the handshake through eidlink's module,
// against the same client signing straight with the card's module, logged
// in beforehand. A Go TLS client stands in for the browser, the same in
// both; a new connection, so a new signature, every load. make bench
// prints the ratio.

// BenchmarkReplicaLoadCard loads the page signing with the card's own module.
func BenchmarkReplicaLoadCard(b *testing.B) {
	card := newCard(b)
	p, sh, key := session(b, cryptoki.SoftHSMModule, "12345678")
	loadReplica(b, card.CAFile, p, sh, key)
}

// BenchmarkReplicaLoadModule loads the page signing through eidlink's module.
func BenchmarkReplicaLoadModule(b *testing.B) {
	card, p, sh, key := moduleCard(b)
	loadReplica(b, card.CAFile, p, sh, key)
}

func loadReplica(b *testing.B, caFile string, p *pkcs11.Ctx, sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) {
	client, idp := replicaClient(b, caFile, p, sh, key)
	page, err := get(client, idp)
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`id="pc" href="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.Fatalf("no 'Prosegui con computer' link: %s", page)
	}
	for b.Loop() {
		welcome, err := get(client, m[1])
		if err != nil {
			b.Fatal(err)
		}
		if !strings.Contains(welcome, "Benvenuto ") {
			b.Fatalf("no welcome: %s", welcome)
		}
	}
}

// replicaClient starts the replicas trusting caFile and returns a client
// that signs with key, and the identity provider's page.
func replicaClient(b *testing.B, caFile string, p *pkcs11.Ctx, sh pkcs11.SessionHandle, key pkcs11.ObjectHandle) (*http.Client, string) {
	dir := b.TempDir()
	ready := make(chan tlsreplica.Sites, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tlsreplica.Run(ctx, tlsreplica.Options{CAs: []string{caFile}, CAOut: filepath.Join(dir, "ca.pem"), Ready: func(s tlsreplica.Sites) { ready <- s }})
	}()
	b.Cleanup(func() { cancel(); <-done })
	var sites tlsreplica.Sites
	select {
	case sites = <-ready:
	case err := <-done:
		b.Fatal(err)
	case <-time.After(10 * time.Second):
		b.Fatal("the replicas did not start")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE)})
	certs, _, err := p.FindObjects(sh, 1)
	p.FindObjectsFinal(sh)
	if err != nil || len(certs) != 1 {
		b.Fatalf("no certificate on the token: %v", err)
	}
	v, err := p.GetAttributeValue(sh, certs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(v[0].Value)
	if err != nil {
		b.Fatal(err)
	}
	signer := &tokenSigner{p: p, sh: sh, key: key, pub: cert.PublicKey}
	tlsCert := tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: signer, SupportedSignatureAlgorithms: []tls.SignatureScheme{tls.PKCS1WithSHA256}}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(addr)
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{tlsCert}}, DialContext: dial, DisableKeepAlives: true}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, sites.IdP
}

func get(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return string(body), err
}

// tokenSigner signs a TLS 1.2 handshake as a browser does through
// PKCS#11: CKM_RSA_PKCS over the SHA-256 DigestInfo.
type tokenSigner struct {
	p   *pkcs11.Ctx
	sh  pkcs11.SessionHandle
	key pkcs11.ObjectHandle
	pub crypto.PublicKey
}

func (s *tokenSigner) Public() crypto.PublicKey { return s.pub }

func (s *tokenSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("tokenSigner: %v, want SHA-256 PKCS#1 v1.5", opts.HashFunc())
	}
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	if err := s.p.SignInit(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}, s.key); err != nil {
		return nil, err
	}
	return s.p.Sign(s.sh, append(prefix, digest...))
}
