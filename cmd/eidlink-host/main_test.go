package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/pcsc/pcsctest"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/service"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
	"github.com/eidlink/eidlink/relyingparty"
)

// These tests spawn the real binary, as a browser does, on a SoftHSM2
// virtual card. Each host starts a service of its own (the eidlink next
// to it), in directories of the test's, which the test stops at its end.

var hostBin string

func TestMain(m *testing.M) {
	// The host scans PC/SC readers: take vpcd's readers for the run.
	if err := virtualcardtest.Lock(); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "eidlink-host-test")
	if err != nil {
		panic(err)
	}
	if _, hostBin, err = testenv.BuildBinaries(dir, "../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type hostProc struct {
	t      *testing.T
	paths  ipc.Paths // of the service it starts
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	r      *nativemsg.Reader
	stderr logBuffer
	events []map[string]json.RawMessage
}

// spawn starts the host on card's environment, plus env, with a service
// of its own (see serviceEnv).
func spawn(t *testing.T, card *cryptoki.TestCardResult, env ...string) *hostProc {
	h := &hostProc{t: t}
	h.cmd = exec.Command(hostBin, "chrome-extension://abcdefghijklmnopabcdefghijklmnop/")
	var svcEnv []string
	h.paths, svcEnv = serviceEnv(t)
	h.cmd.Env = append(append(os.Environ(), "EIDLINK_LOG=debug"), svcEnv...)
	for _, e := range card.Env {
		h.cmd.Env = append(h.cmd.Env, e.Name+"="+e.Value)
	}
	h.cmd.Env = append(h.cmd.Env, env...)
	h.cmd.Stderr = &h.stderr
	h.stdin, _ = h.cmd.StdinPipe()
	stdout, _ := h.cmd.StdoutPipe()
	h.r = nativemsg.NewReader(stdout, nativemsg.MaxOutgoing)
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.cmd.Process.Kill(); h.cmd.Wait() })
	if v := h.recv(); string(v["version"]) != `"`+protocol.Version+`"` {
		t.Fatalf("first message %v, want the version", v)
	}
	return h
}

// serviceEnv is the environment that gives a host a service of its own:
// the card is the test's, not a running service's. The test's cleanup
// stops that service, if one was started.
func serviceEnv(t testing.TB) (ipc.Paths, []string) {
	dir := t.TempDir()
	config, run := filepath.Join(dir, "config"), filepath.Join(dir, "run")
	env := []string{ipc.ConfigDirEnv + "=" + config, ipc.RuntimeDirEnv + "=" + run}
	p := ipc.Paths{Secret: filepath.Join(config, "service.key"), Endpoint: ipc.Endpoint{Network: "unix", Address: filepath.Join(run, "service.sock")}, Run: run}
	t.Cleanup(func() {
		if _, err := service.Stop(p, 20*time.Second); err != nil {
			t.Error(err)
		}
		// Nothing runs any more, not even a service that was starting.
		if inst, err := service.Claim(p); err != nil {
			t.Errorf("a service still runs after stop: %v", err)
		} else {
			inst.Release()
		}
	})
	return p, env
}

// serviceLog is what the service the host started logged.
func (h *hostProc) serviceLog() string {
	b, _ := os.ReadFile(filepath.Join(h.paths.Run, "service.log"))
	return string(b)
}

// logBuffer is a host's stderr, written by exec while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (h *hostProc) send(msg string) {
	if err := nativemsg.Write(h.stdin, []byte(msg)); err != nil {
		h.t.Fatal(err)
	}
}

// recv returns the next message that is not an event (events are kept),
// failing after a minute: the host must never leave the browser hanging.
func (h *hostProc) recv() map[string]json.RawMessage {
	h.t.Helper()
	for {
		type frame struct {
			b   []byte
			err error
		}
		c := make(chan frame, 1)
		go func() {
			b, err := h.r.Read()
			c <- frame{b, err}
		}()
		var f frame
		select {
		case f = <-c:
		case <-time.After(time.Minute):
			h.cmd.Process.Kill()
			h.t.Fatalf("no answer from the host in a minute (stderr: %s)", h.stderr.String())
		}
		b, err := f.b, f.err
		if err != nil {
			h.t.Fatalf("reading from the host: %v (stderr: %s)", err, h.stderr.String())
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatalf("host wrote %q", b)
		}
		if m["event"] == nil {
			return m
		}
		h.events = append(h.events, m)
	}
}

func (h *hostProc) wait() {
	h.t.Helper()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			h.t.Fatalf("host exited with %v; stderr: %s", err, h.stderr.String())
		}
	case <-time.After(20 * time.Second):
		h.t.Fatal("host did not exit")
	}
	if s := h.stderr.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		h.t.Fatalf("host crashed: %s", s)
	}
}

func errCode(m map[string]json.RawMessage) protocol.Code {
	var e protocol.Error
	json.Unmarshal(m["error"], &e)
	return e.Code
}

func newCard(t *testing.T, typ eidcert.Kind) *cryptoki.TestCardResult {
	testenv.NeedSoftHSM(t)
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(t.TempDir(), "card"), Type: typ, PIN: "24681357"})
	if err != nil {
		t.Fatal(err)
	}
	return card
}

const (
	origin = "https://serviziweb2.inps.it"
	nonce  = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
)

func TestAuthenticateThroughTheBinary(t *testing.T) {
	for _, typ := range []eidcert.Kind{eidcert.CIE, eidcert.CNS} {
		t.Run(string(typ), func(t *testing.T) {
			card := newCard(t, typ)
			h := spawn(t, card)
			h.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `","lang":"it"}}`)
			var req protocol.PINRequest
			json.Unmarshal(h.recv()["pinRequest"], &req)
			if req.CardKind != string(typ) || req.Holder != "MARIO ROSSI" || req.CodiceFiscale != "RSSMRA80A01H501U" || req.TriesLeft != 3 {
				t.Fatalf("pinRequest = %+v", req)
			}
			h.send(`{"command":"pin","arguments":{"pin":"11112222"}}`)
			json.Unmarshal(h.recv()["pinRequest"], &req)
			if req.Error == nil || req.Error.Code != protocol.CodePINIncorrect || req.TriesLeft != 2 {
				t.Fatalf("after a wrong PIN: %+v", req)
			}
			h.send(`{"command":"pin","arguments":{"pin":"24681357"}}`)
			token, _ := json.Marshal(h.recv())
			v, id := verifyToken(t, card, token)
			if id.CodiceFiscale != "RSSMRA80A01H501U" || id.CardKind != string(typ) {
				t.Fatalf("identity = %+v", id)
			}
			if _, err := v.Verify(context.Background(), token, "https://www.inps.it", nonce); err == nil {
				t.Fatal("token verified for another origin")
			}
			h.send(`{"command":"quit"}`)
			h.recv()
			h.wait()
			for _, pin := range []string{"24681357", "11112222"} {
				if strings.Contains(h.stderr.String(), pin) {
					t.Fatalf("the PIN appears in the host's log: %s", h.stderr.String())
				}
			}
		})
	}
}

// verifyToken checks an auth token made by card for origin and nonce.
func verifyToken(t *testing.T, card *cryptoki.TestCardResult, token []byte) (*relyingparty.Verifier, *relyingparty.Identity) {
	t.Helper()
	roots, err := relyingparty.LoadCertPool(card.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := relyingparty.New(relyingparty.Config{Roots: roots})
	id, err := v.Verify(context.Background(), token, origin, nonce)
	if err != nil {
		t.Fatalf("token %s does not verify: %v", token, err)
	}
	return v, id
}

func TestBadFrames(t *testing.T) {
	card := newCard(t, "cie")
	h := spawn(t, card)
	h.send(`{"command":`)
	if c := errCode(h.recv()); c != protocol.CodeMalformedMessage {
		t.Fatalf("malformed JSON: %s", c)
	}
	h.send(`{"command":"status"}`)
	if m := h.recv(); m["tokens"] == nil {
		t.Fatalf("status after a malformed message: %v", m)
	}
	h.stdin.Write(binary.LittleEndian.AppendUint32(nil, 0xfffffff0)) // 4 GiB
	if c := errCode(h.recv()); c != protocol.CodeMessageTooLarge {
		t.Fatalf("oversized frame: %s", c)
	}
	h.wait()
}

// The host passes the service's PC/SC events on without being asked: a
// virtual card inserted in a vpcd reader is announced.
func TestEventsPushed(t *testing.T) {
	pc := virtualcardtest.Context(t)
	h := spawn(t, newCard(t, "cie"))
	h.send(`{"command":"status"}`) // the service runs and the host is connected
	h.recv()
	vc := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})
	virtualcardtest.Insert(t, pc, vc, virtualcardtest.Addr1, virtualcardtest.Reader1)
	got := make(chan error, 1)
	go func() {
		for {
			b, err := h.r.Read()
			if err != nil {
				got <- err
				return
			}
			var m map[string]json.RawMessage
			json.Unmarshal(b, &m)
			if string(m["event"]) == `"card-inserted"` && strings.Contains(string(m["data"]), virtualcardtest.Reader1) {
				got <- nil
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("events: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no card-inserted event in a minute")
	}
}

func TestClosedPortEndsHost(t *testing.T) {
	h := spawn(t, newCard(t, "cie"))
	h.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`)
	h.recv() // the PIN request
	h.stdin.Close()
	h.wait()
}

// BenchmarkColdStart measures the time from spawning the host to its first
// message, as a browser sees it, against the smallest static Go program
// that writes the same message (testdata/minimal), spawned alternately in
// one run; median-ms is the host's median, host/minimal the ratio of the
// medians (run with -benchtime=30x or more). The host writes it before it
// reaches the service (the first spawn starts one).
func BenchmarkColdStart(b *testing.B) {
	minimal := filepath.Join(filepath.Dir(hostBin), "minimal")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", minimal, "./testdata/minimal")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	hello, _ := json.Marshal(protocol.Hello(protocol.Version))
	_, env := serviceEnv(b)
	spawn := func(name string, args ...string) time.Duration {
		start := time.Now()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), env...)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		msg, err := nativemsg.NewReader(stdout, nativemsg.MaxOutgoing).Read()
		d := time.Since(start)
		if err != nil || string(msg) != string(hello) {
			b.Fatalf("%s wrote %s %v, want %s", name, msg, err, hello)
		}
		stdin.Close()
		cmd.Wait()
		return d
	}
	var host, base []time.Duration
	for b.Loop() {
		host = append(host, spawn(hostBin))
		base = append(base, spawn(minimal, string(hello)))
	}
	b.ReportMetric(median(host).Seconds()*1000, "median-ms")
	b.ReportMetric(median(base).Seconds()*1000, "minimal-median-ms")
	b.ReportMetric(float64(median(host))/float64(median(base)), "host/minimal")
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// noCard is the environment of a machine whose only card software,
// SoftHSM2, holds no token.
func noCard(t *testing.T) *cryptoki.TestCardResult {
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cryptoki.TestCardResult{Env: []cryptoki.EnvVar{{Name: "SOFTHSM2_CONF", Value: conf}, {Name: "EIDLINK_PKCS11_MODULE", Value: cryptoki.SoftHSMModule}}}
}

func errorOf(t *testing.T, m map[string]json.RawMessage) protocol.Error {
	t.Helper()
	var e protocol.Error
	if err := json.Unmarshal(m["error"], &e); err != nil || e.Code == "" {
		t.Fatalf("want an error, got %v", m)
	}
	return e
}

// With pcscd down, a login names the cause the status names, with one code
// and the same message, not "insert the card".
func TestPCSCDownOneCause(t *testing.T) {
	h := spawn(t, noCard(t), pcsctest.Env+"="+pcsctest.Down(t))
	h.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`)
	e := errorOf(t, h.recv())
	h.send(`{"command":"status"}`)
	var st protocol.Status
	b, _ := json.Marshal(h.recv())
	json.Unmarshal(b, &st)
	if e.Code != protocol.CodePCSCUnavailable || st.PCSC == "" || e.Message != st.PCSC {
		t.Fatalf("login says %s %q, status says %q", e.Code, e.Message, st.PCSC)
	}
}

// A wedged pcscd (it accepts connections and never answers) holds nothing:
// the status answers and says so, a login on a software token completes,
// and the host ends when the browser closes the port.
func TestPCSCWedged(t *testing.T) {
	card := newCard(t, "cie")
	h := spawn(t, card, pcsctest.Env+"="+pcsctest.Wedged(t))
	h.send(`{"command":"status"}`)
	var st protocol.Status
	b, _ := json.Marshal(h.recv())
	json.Unmarshal(b, &st)
	if !strings.Contains(st.PCSC, "not answering") || len(st.Tokens) != 1 {
		t.Fatalf("status with pcscd wedged: %s", b)
	}
	h.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`)
	if m := h.recv(); m["pinRequest"] == nil {
		t.Fatalf("want a PIN request, got %v", m)
	}
	h.send(`{"command":"pin","arguments":{"pin":"24681357"}}`)
	token, _ := json.Marshal(h.recv())
	verifyToken(t, card, token)
	h.stdin.Close()
	h.wait()
}

// SIGTERM ends the host cleanly while a command waits on a wedged pcscd.
// (The host catches signals once its version message is out and it is
// under way: the first answer says it is.)
func TestSIGTERMWithPCSCWedged(t *testing.T) {
	h := spawn(t, newCard(t, "cie"), pcsctest.Env+"="+pcsctest.Wedged(t))
	h.send(`{"command":"status"}`)
	h.recv()
	h.send(`{"command":"status"}`)
	h.cmd.Process.Signal(syscall.SIGTERM)
	h.wait()
}

// The card laid after the click: with no card in vpcd's reader a login
// asked to wait sends a cardRequest; the virtual CNS is inserted and the
// login goes on to the PIN and ends with a token, through OpenSC.
func TestCardArrivesDuringLogin(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	virtualcardtest.WaitCard(t, ctx, virtualcardtest.Reader0, nil)
	home := t.TempDir()
	h := spawn(t, &cryptoki.TestCardResult{}, "EIDLINK_PKCS11_MODULE="+testenv.OpenSC,
		"HOME="+home, "XDG_CONFIG_HOME="+home)
	h.send(`{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `","waitForCard":60000}}`)
	var cr protocol.CardRequest
	if m := h.recv(); json.Unmarshal(m["cardRequest"], &cr) != nil || cr.Reason != protocol.CardReasonNoCard || cr.Origin != origin {
		t.Fatalf("want a cardRequest for a missing card, got %v", m)
	}
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	var req protocol.PINRequest
	if m := h.recv(); json.Unmarshal(m["pinRequest"], &req) != nil || req.CardKind != "cns" || req.TriesLeft != 3 {
		t.Fatalf("want a PIN request once the card is in, got %v", m)
	}
	h.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
	var tok relyingparty.Token
	if m := h.recv(); json.Unmarshal(mustJSON(m), &tok) != nil || tok.Format != "web-eid:1.0" || tok.Signature == "" {
		t.Fatalf("want a token, got %v", m)
	}
	h.send(`{"command":"quit"}`)
	h.recv()
	h.wait()
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Another program holds the CNS (a PC/SC client that connected exclusively,
// or one in the middle of a transaction): a login says the card is in use,
// retryable, not "no card"; once the program lets go, a login on the same
// host goes on to the PIN and ends with a token, through OpenSC.
func TestCardHeldByAnotherProgram(t *testing.T) {
	testenv.NeedFile(t, testenv.OpenSC, "opensc")
	for _, hold := range []string{"exclusive", "transaction"} {
		t.Run(hold, func(t *testing.T) {
			ctx := virtualcardtest.Context(t)
			vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
			virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
			release := holdCard(t, hold)
			home := t.TempDir()
			h := spawn(t, &cryptoki.TestCardResult{}, "EIDLINK_PKCS11_MODULE="+testenv.OpenSC,
				"HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_RUNTIME_DIR="+home)
			login := `{"command":"authenticate","arguments":{"challengeNonce":"` + nonce + `","origin":"` + origin + `"}}`
			h.send(login)
			if e := errorOf(t, h.recv()); e.Code != protocol.CodeCardInUse || !e.Retryable {
				t.Fatalf("card held (%s) by another program: got %s %q (retryable %v), want %s", hold, e.Code, e.Message, e.Retryable, protocol.CodeCardInUse)
			}
			if !strings.Contains(h.serviceLog(), "card in use by another application") {
				t.Fatalf("the service did not log the card in use: %s", h.serviceLog())
			}
			release()
			// The card software may still be finishing the call it made
			// behind the other program's transaction: the error said
			// "retryable", and a retry gets the card.
			var m map[string]json.RawMessage
			for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
				h.send(login)
				if m = h.recv(); m["error"] == nil || !errorOf(t, m).Retryable {
					break
				}
			}
			var req protocol.PINRequest
			if json.Unmarshal(m["pinRequest"], &req) != nil || req.CardKind != "cns" {
				t.Fatalf("want a PIN request once the card is free, got %v (%s)", m, h.stderr.String())
			}
			h.send(`{"command":"pin","arguments":{"pin":"12345678"}}`)
			var tok relyingparty.Token
			if m := h.recv(); json.Unmarshal(mustJSON(m), &tok) != nil || tok.Signature == "" {
				t.Fatalf("want a token, got %v", m)
			}
			h.send(`{"command":"quit"}`)
			h.recv()
			h.wait()
		})
	}
}

// holdCard connects to the card in vpcd's first reader as another program
// would, exclusively or shared inside a transaction, and returns how to
// let go; the test's cleanup lets go too.
func holdCard(t *testing.T, how string) (release func()) {
	c, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	share := scard.ShareShared
	if how == "exclusive" {
		share = scard.ShareExclusive
	}
	h, err := c.Connect(virtualcardtest.Reader0, share, scard.ProtocolAny)
	if err == nil && how == "transaction" {
		err = h.BeginTransaction()
	}
	if err != nil {
		c.Release()
		t.Fatal(err)
	}
	release = sync.OnceFunc(func() {
		if how == "transaction" {
			h.EndTransaction(scard.LeaveCard)
		}
		h.Disconnect(scard.LeaveCard)
		c.Release()
	})
	t.Cleanup(release)
	return release
}

// hostDeps lists the host's dependencies (go list -deps), each with
// "cgo" after it when it is not the standard library's and uses cgo.
func hostDeps(t *testing.T) map[string]string {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{if and .CgoFiles (not .Standard)}}cgo{{end}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // so that cgo packages show themselves
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, cgo, _ := strings.Cut(line, " ")
		deps[pkg] = cgo
	}
	return deps
}

// The host is a static, pure-Go relay: nothing that drives a card (cgo,
// PC/SC, PKCS#11) nor the CLI with everything it carries is in its
// import graph.
func TestHostImportsNoCardCode(t *testing.T) {
	var bad []string
	for pkg, cgo := range hostDeps(t) {
		if cgo == "cgo" {
			bad = append(bad, pkg+" (cgo)")
		}
		for _, banned := range []string{"/internal/pcsc", "/internal/cryptoki", "/internal/cli", "/internal/reader", "/internal/service", "/internal/osservice", "github.com/ebfe/scard", "github.com/miekg/pkcs11", "github.com/kardianos/service"} {
			if strings.HasSuffix(pkg, banned) || strings.Contains(pkg, banned+"/") || pkg == banned {
				bad = append(bad, pkg)
			}
		}
	}
	if len(bad) > 0 {
		t.Fatalf("eidlink-host imports %v", bad)
	}
}

// The host links no net/http: not the service's side of the IPC
// (gorilla/websocket, which brings net/http, crypto/tls and HTTP/2), nor
// crypto/x509. Each would make it start much slower than the smallest Go
// program (BenchmarkColdStart): the host dials with package ipc's own
// WebSocket client.
func TestHostLinksNoHTTP(t *testing.T) {
	deps := hostDeps(t)
	if _, ok := deps["github.com/eidlink/eidlink/internal/ipc"]; !ok { // the control
		t.Fatalf("go list did not find the host's dependencies: %v", deps)
	}
	var bad []string
	for _, pkg := range []string{"net/http", "crypto/tls", "crypto/x509", "github.com/gorilla/websocket", "github.com/eidlink/eidlink/internal/ipc/ipcserver"} {
		if _, ok := deps[pkg]; ok {
			bad = append(bad, pkg)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("eidlink-host links %v", bad)
	}
}

// The host's binary is static: "ldd" says it is not a dynamic executable.
func TestHostIsStatic(t *testing.T) {
	testenv.NeedCommand(t, "ldd", "libc-bin")
	out, _ := exec.Command("ldd", hostBin).CombinedOutput()
	if !strings.Contains(string(out), "not a dynamic executable") {
		t.Fatalf("ldd %s: %s", hostBin, out)
	}
}
