//go:build linux

// Package moduletest holds the tests of eidlink's PKCS#11 module (the C
// files in the parent directory), on Linux: they build it, serve it a
// fake eidlink service over the real socket and drive it with
// independent clients: miekg/pkcs11 in this process, OpenSC's
// pkcs11-tool, NSS's tstclnt and a C driver (testdata/driver.c) under the
// address, undefined-behaviour and thread sanitizers.
package moduletest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/testenv"
)

// The module, built once per test binary.
var built struct {
	once       sync.Once
	dir        string
	plain      string // -fsanitize=undefined: loaded by this process
	asan       string // -fsanitize=address,undefined: loaded by the driver and pkcs11-tool
	driver     string
	tsan       string // -fsanitize=thread: the module and the driver, for the threads test
	tsanDriver string
	err        error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// sources are the module's C files for this platform, as the Makefile
// builds them.
func sources(t testing.TB) []string {
	all, err := filepath.Glob("../../*.c")
	if err != nil {
		t.Fatal(err)
	}
	var src []string
	for _, f := range all {
		if !strings.HasSuffix(f, "_windows.c") {
			src = append(src, f)
		}
	}
	return src
}

func gcc(args ...string) error {
	out, err := exec.Command("gcc", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

const cflags = "-std=c11 -g -O1 -Wall -Wextra -Wno-unused-parameter -Werror -fno-omit-frame-pointer -fno-sanitize-recover=all"

func modules(t testing.TB) {
	t.Helper()
	testenv.NeedCommand(t, "gcc", "gcc")
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "eidlink-p11-"); built.err != nil {
			return
		}
		src := sources(t)
		built.plain = filepath.Join(built.dir, "plain.so")
		built.asan = filepath.Join(built.dir, "asan.so")
		built.driver = filepath.Join(built.dir, "driver")
		built.tsan = filepath.Join(built.dir, "tsan.so")
		built.tsanDriver = filepath.Join(built.dir, "driver-tsan")
		so := func(out, san string) func() error {
			return func() error {
				return gcc(append(append(strings.Fields(cflags), "-fsanitize="+san, "-fPIC", "-shared", "-fvisibility=hidden", "-o", out), append(src, "-lpthread")...)...)
			}
		}
		driver := func(out, san string) func() error {
			return func() error {
				return gcc(append(strings.Fields(cflags), "-fsanitize="+san, "-I../..", "-o", out, "testdata/driver.c", "-ldl", "-lpthread")...)
			}
		}
		var g errgroup.Group
		for _, f := range []func() error{so(built.plain, "undefined"), so(built.asan, "address,undefined"), so(built.tsan, "thread"),
			driver(built.driver, "address,undefined"), driver(built.tsanDriver, "thread")} {
			g.Go(f)
		}
		built.err = g.Wait()
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
}

// A card in the fake service.
type card struct {
	slot    uint64
	reader  string
	serial  string
	present bool
	rawRSA  bool
	key     crypto.Signer
	cert    *x509.Certificate
}

var keyID = []byte{0x01}

func newCard(t testing.TB, slot uint64, rsaKey, rawRSA bool) *card {
	t.Helper()
	ca, caKey, err := eidcert.NewTestCA("eidlink test CA")
	if err != nil {
		t.Fatal(err)
	}
	var key crypto.Signer
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial := eidcert.TestCardSerial(eidcert.CIE, fmt.Sprint(slot))
	der, err := x509.CreateCertificate(rand.Reader, eidcert.Template(eidcert.CIE, eidcert.TestHolder, serial), ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &card{slot: slot, reader: fmt.Sprintf("Virtual PCD 00 %02d", slot), serial: serial, present: true, rawRSA: rawRSA, key: key, cert: cert}
}

// service is a fake eidlink service: the real socket, secret and
// WebSocket upgrade, and the p11wire protocol over cards held in memory.
type service struct {
	t      testing.TB
	dir    string
	secret string
	ln     net.Listener
	srv    *http.Server

	mu    sync.Mutex
	gen   uint64
	cards []*card
	ops   []p11wire.Op
	// sign, when set, answers sign requests instead of the cards.
	sign func(context.Context, *p11wire.SignRequest) *p11wire.Response
	// flip, when set, is inserted or removed before every snapshot.
	flip *card
	// raw, when set, answers every request with these bytes as the
	// message (frame false) or as the whole stream after the upgrade
	// (frame true): the hostile service.
	raw func() (b []byte, frame bool)
}

// newService starts a service in a new home, with the environment of
// this process (and so of the module) pointed there.
func newService(t testing.TB, cards ...*card) *service {
	t.Helper()
	s := newHome(t)
	s.cards = cards
	s.gen = 1
	ln, err := net.Listen("unix", filepath.Join(s.dir, "run", "eidlink", "service.sock"))
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP)}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// newHome makes the directories and secret of a service that is not
// running.
func newHome(t testing.TB) *service {
	t.Helper()
	dir, err := os.MkdirTemp("", "p11") // short: a socket path has at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"run/eidlink", "config/eidlink"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := &service{t: t, dir: dir, secret: hex.EncodeToString(secret)}
	if err := os.WriteFile(filepath.Join(dir, "config/eidlink/service.key"), []byte(s.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	return s
}

func (s *service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != p11wire.Path || r.Header["Origin"] != nil || r.Header.Get(ipc.SecretHeader) != s.secret {
		http.Error(w, "refused", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	var hostile []byte
	if raw != nil {
		var frame bool
		if hostile, frame = raw(); frame {
			s.serveRaw(w, r, hostile)
			return
		}
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	if hostile == nil {
		p11wire.Serve(r.Context(), ws, s)
		return
	}
	// A hostile message in good frames, whatever the request.
	if _, _, err := ws.ReadMessage(); err == nil {
		ws.WriteMessage(websocket.BinaryMessage, hostile)
	}
}

// serveRaw completes the upgrade by hand and then writes b, whatever it
// holds.
func (s *service) serveRaw(w http.ResponseWriter, r *http.Request, b []byte) {
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	brw.Write(b)
	brw.Flush()
}

// Snapshot and Sign make the service a p11wire.Handler.
func (s *service) Snapshot(_ context.Context, known uint64) *p11wire.Response {
	s.mu.Lock()
	s.ops = append(s.ops, p11wire.OpSnapshot)
	s.mu.Unlock()
	return s.snapshot(known)
}

func (s *service) Sign(ctx context.Context, req *p11wire.SignRequest) *p11wire.Response {
	s.mu.Lock()
	s.ops = append(s.ops, p11wire.OpSign)
	sign := s.sign
	s.mu.Unlock()
	if sign != nil {
		return sign(ctx, req)
	}
	return s.signWithCard(req)
}

func (s *service) snapshot(known uint64) *p11wire.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flip != nil {
		s.flip.present = !s.flip.present
		s.gen++
	}
	res := &p11wire.Response{Version: p11wire.Version, Generation: s.gen}
	if known == s.gen {
		res.Status = p11wire.StatusUnchanged
		return res
	}
	for _, c := range s.cards {
		slot := p11wire.Slot{ID: c.slot, Description: c.reader}
		if c.present {
			objs, err := p11wire.KeyObjects(c.cert, keyID, "CIE")
			if err != nil {
				s.t.Error(err)
			}
			slot.Token = &p11wire.Token{
				Label:        p11wire.TokenLabel("CIE", eidcert.HolderOf(c.cert).Name()),
				Manufacturer: "IPZS", Model: "CIE 3.0", Serial: c.serial,
				Mechanisms: p11wire.Mechanisms(c.cert, c.rawRSA), Objects: objs,
			}
		}
		res.Slots = append(res.Slots, slot)
	}
	return res
}

// set changes the service's cards under its lock, as a reader event
// would, and starts a new generation.
func (s *service) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
	s.gen++
}

func (s *service) opsSeen() []p11wire.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]p11wire.Op(nil), s.ops...)
}

var pssHashes = map[uint64]crypto.Hash{p11wire.CKM_SHA256: crypto.SHA256, p11wire.CKM_SHA384: crypto.SHA384, p11wire.CKM_SHA512: crypto.SHA512}

func (s *service) signWithCard(req *p11wire.SignRequest) *p11wire.Response {
	res := &p11wire.Response{Version: p11wire.Version}
	s.mu.Lock()
	var c *card
	for _, x := range s.cards {
		if x.slot == req.Slot && x.present && x.serial == req.Serial {
			c = x
		}
	}
	s.mu.Unlock()
	if c == nil {
		res.Status = p11wire.StatusTokenRemoved
		return res
	}
	if string(req.KeyID) != string(keyID) {
		res.Status = p11wire.StatusKeyNotFound
		return res
	}
	var err error
	switch k := c.key.(type) {
	case *rsa.PrivateKey:
		switch {
		case req.Mechanism == p11wire.CKM_RSA_PKCS:
			res.Signature, err = rsa.SignPKCS1v15(nil, k, 0, req.Data)
		case req.Mechanism == p11wire.CKM_RSA_PKCS_PSS && c.rawRSA && req.PSS != nil && pssHashes[req.PSS.Hash] != 0:
			h := pssHashes[req.PSS.Hash]
			res.Signature, err = rsa.SignPSS(rand.Reader, k, h, req.Data, &rsa.PSSOptions{SaltLength: int(req.PSS.SaltLen), Hash: h})
		default:
			res.Status = p11wire.StatusMechanism
		}
	case *ecdsa.PrivateKey:
		if req.Mechanism != p11wire.CKM_ECDSA {
			res.Status = p11wire.StatusMechanism
			break
		}
		var r, ss *big.Int
		if r, ss, err = ecdsa.Sign(rand.Reader, k, req.Data); err == nil {
			res.Signature = make([]byte, 64)
			r.FillBytes(res.Signature[:32])
			ss.FillBytes(res.Signature[32:])
		}
	}
	if err != nil {
		res.Status, res.Message = p11wire.StatusDataInvalid, err.Error()
	}
	return res
}
