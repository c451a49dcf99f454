package ipc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// Every test here shows that one check, alone, refuses: the other checks
// are satisfied (right user, right secret, no Origin), and each test
// asserts which check the server reported.

func rawDialHeader(ep Endpoint, h http.Header) (*websocket.Conn, *http.Response, error) {
	return dialPath(ep, "/", h)
}

func dialPath(ep Endpoint, path string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial(ep.Network, ep.Address) }}
	host := "localhost"
	if ep.Network == "tcp" {
		host = ep.Address
	}
	return d.Dial("ws://"+host+path, h)
}

// The other upgrade paths (the PKCS#11 module's) pass the same refusals,
// then get the connection as it is: no hello.
func TestRawPath(t *testing.T) {
	ts := startService(t, "")
	secret, _ := readSecret(ts.paths.Secret)
	good := http.Header{SecretHeader: {hex.EncodeToString(secret)}}
	for name, h := range map[string]http.Header{
		"origin":    {SecretHeader: good[SecretHeader], "Origin": {"https://evil.example"}},
		"no secret": {},
	} {
		if _, resp, err := dialPath(ts.Endpoint(), rawPath, h); err == nil || resp == nil || resp.StatusCode < 400 {
			t.Errorf("%s: %v %v, want a refusal", name, resp, err)
		}
	}
	if r := ts.refused.list(); !slices.Equal(r, []Refusal{RefusedOrigin, RefusedSecret}) && !slices.Equal(r, []Refusal{RefusedSecret, RefusedOrigin}) {
		t.Fatalf("refusals %v", r)
	}
	ws, _, err := dialPath(ts.Endpoint(), rawPath, good)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if typ, msg, err := ws.ReadMessage(); err != nil || typ != websocket.BinaryMessage || string(msg) != "\x01\x02\x03" {
		t.Fatalf("first message %d %q %v: want the echo, not a hello", typ, msg, err)
	}
}

func rawDial(t *testing.T, ep Endpoint, secret []byte) *websocket.Conn {
	t.Helper()
	ws, _, err := rawDialHeader(ep, http.Header{SecretHeader: {hex.EncodeToString(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// newFakeService serves a hello of protocol version v on loopback TCP.
func newFakeService(t *testing.T, v string) Endpoint {
	up := websocket.Upgrader{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ws, err := up.Upgrade(w, r, nil); err == nil {
			ws.WriteJSON(helloMessage{&Hello{Protocol: v, Version: "9.0.0"}})
			ws.ReadMessage()
			ws.Close()
		}
	}))
	t.Cleanup(s.Close)
	return Endpoint{"tcp", s.Listener.Addr().String()}
}

func TestRefusesOrigin(t *testing.T) {
	ts := startService(t, "")
	secret, _ := readSecret(ts.paths.Secret)
	for _, origin := range []string{"https://evil.example", "null", ""} {
		_, resp, err := rawDialHeader(ts.Endpoint(), http.Header{SecretHeader: {hex.EncodeToString(secret)}, "Origin": {origin}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %q: %v %v, want 403", origin, resp, err)
		}
	}
	if r := ts.refused.list(); !slices.Equal(r, []Refusal{RefusedOrigin, RefusedOrigin, RefusedOrigin}) {
		t.Fatalf("refusals %v, want origin thrice", r)
	}
	rawDial(t, ts.Endpoint(), secret) // without Origin: accepted
}

func TestRefusesWithoutSecret(t *testing.T) {
	ts := startService(t, "")
	secret, _ := readSecret(ts.paths.Secret)
	for name, h := range map[string]http.Header{
		"none":    {},
		"wrong":   {SecretHeader: {hex.EncodeToString(make([]byte, secretLen))}},
		"short":   {SecretHeader: {hex.EncodeToString(secret[:secretLen/2])}},
		"not hex": {SecretHeader: {"zz" + hex.EncodeToString(secret)[2:]}},
	} {
		_, resp, err := rawDialHeader(ts.Endpoint(), h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s secret: %v %v, want 401", name, resp, err)
		}
	}
	if r := ts.refused.list(); !slices.Equal(r, []Refusal{RefusedSecret, RefusedSecret, RefusedSecret, RefusedSecret}) {
		t.Fatalf("refusals %v, want secret 4 times", r)
	}
	rawDial(t, ts.Endpoint(), secret)
}

func TestSecretFileMustBePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", "service.key")
	s, err := EnsureSecret(path)
	if err != nil || len(s) != secretLen {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", fi.Mode())
	}
	if again, _ := EnsureSecret(path); string(again) != string(s) {
		t.Fatal("EnsureSecret replaced an existing secret")
	}
	os.Chmod(path, 0o640)
	if _, err := readSecret(path); err == nil {
		t.Fatal("a group-readable secret was accepted")
	}
}

// childEnv makes the test binary act as a client: see TestMain.
const childEnv = "EIDLINK_TEST_PEER_CHILD"

// listenerEnv makes the test binary listen on the Unix socket it names,
// print "ready", and hold one connection: see TestMain.
const listenerEnv = "EIDLINK_TEST_LISTENER"

func listenerChild() int {
	l, err := net.Listen("unix", os.Getenv(listenerEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("ready")
	c, err := l.Accept()
	if err == nil {
		c.Read(make([]byte, 1))
	}
	return 0
}

// peerChild dials the endpoint in $EIDLINK_TEST_PEER_CHILD with the hex
// secret on stdin: exit status 0 when the hello succeeds, 3 otherwise.
func peerChild() int {
	ep, err := ParseEndpoint(os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	in, _ := io.ReadAll(os.Stdin)
	secret, _ := hex.DecodeString(strings.TrimSpace(string(in)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, ep, secret)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	c.Close()
	return 0
}

func TestVersionMismatch(t *testing.T) {
	ts := startService(t, "")
	secret, err := readSecret(ts.paths.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// A host of protocol 2: the service refuses it with a clear error.
	ws := rawDial(t, ts.Endpoint(), secret)
	if _, err := readHello(ws, false); err != nil {
		t.Fatal(err)
	}
	ws.WriteJSON(helloMessage{&Hello{Protocol: "2.0", Version: "9.0.0"}})
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m protocol.ErrorMessage
	if err := ws.ReadJSON(&m); err != nil || m.Error == nil || m.Error.Code != protocol.CodeFatal {
		t.Fatalf("got %+v %v", m, err)
	}
	if r := ts.refused.list(); len(r) != 1 || r[0] != RefusedVersion {
		t.Fatalf("refusals %v", r)
	}
	// A service of protocol 2: the host refuses it.
	h := newFakeService(t, "2.1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = dial(ctx, h, secret)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Theirs != "2.1" {
		t.Fatalf("dial: %v, want a VersionError", err)
	}
}

// A service on TCP writes its port next to the secret, where hosts find it.
func TestTCPEndpointFile(t *testing.T) {
	ts := startService(t, "tcp:127.0.0.1:0")
	c := ts.dial(t) // ts.paths says port 0: the port comes from the file
	if c.Endpoint != ts.Endpoint() || ts.Endpoint().Address == "127.0.0.1:0" {
		t.Fatalf("dialled %s, the service is on %s", c.Endpoint, ts.Endpoint())
	}
}

// openToOthers lets other users into dir and its parents up to the
// temporary directory.
func openToOthers(dir string) {
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}

func TestRefusesOtherUser(t *testing.T) {
	testenv.NeedRoot(t, "it runs a client as uid 65534")
	ts := startService(t, "")
	// Let uid 65534 reach the socket and hand it the secret: only the
	// peer check is left to refuse it.
	sock := ts.Endpoint().Address
	openToOthers(filepath.Dir(sock))
	os.Chmod(sock, 0o666)
	secret, _ := os.ReadFile(ts.paths.Secret)
	exe := filepath.Join(t.TempDir(), "client")
	openToOthers(filepath.Dir(exe))
	self, _ := os.ReadFile(os.Args[0])
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(cred *syscall.Credential) (int, string) {
		cmd := exec.Command(exe)
		cmd.Dir = "/"
		cmd.Env = []string{childEnv + "=" + ts.Endpoint().String()}
		cmd.Stdin = strings.NewReader(string(secret))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run(nil); code != 0 {
		t.Fatalf("the same client as this user failed (%d): %s", code, out)
	}
	if code, out := run(&syscall.Credential{Uid: 65534, Gid: 65534}); code != 3 {
		t.Fatalf("client as uid 65534: exit %d, want 3 (refused): %s", code, out)
	}
	if r := ts.refused.list(); !slices.Equal(r, []Refusal{RefusedPeer}) {
		t.Fatalf("refusals %v, want peer", r)
	}
}

// The host refuses a service of another user before sending the secret.
func TestHostChecksServiceUser(t *testing.T) {
	testenv.NeedRoot(t, "it runs a listener as uid 65534")
	dir := t.TempDir()
	openToOthers(dir)
	os.Chmod(dir, 0o777)
	sock := filepath.Join(dir, "s.sock")
	exe := filepath.Join(dir, "listener")
	self, _ := os.ReadFile(os.Args[0])
	os.WriteFile(exe, self, 0o755)
	cmd := exec.Command(exe)
	cmd.Dir = "/"
	cmd.Env = []string{listenerEnv + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if _, err := io.ReadFull(out, make([]byte, 6)); err != nil {
		t.Fatal("the listener did not start")
	}
	_, err := dial(context.Background(), Endpoint{"unix", sock}, make([]byte, secretLen))
	if err == nil || !strings.Contains(err.Error(), "another user") {
		t.Fatalf("dial: %v, want a refusal of the other user's service", err)
	}
}

// A PIN wait outlasts the heartbeat's bound many times: both sides keep
// answering pings, so neither takes the other for frozen. The bound is
// shortened, and the wait is the quantity under test.
func TestHeartbeatKeepsLongWait(t *testing.T) {
	period, wait := pingPeriod, pongWait
	pingPeriod, pongWait = 100*time.Millisecond, time.Second
	t.Cleanup(func() { pingPeriod, pongWait = period, wait })
	ts := startService(t, "") // it echoes every message...
	c := ts.dial(t)
	// ...but the host reads nothing for a while: the holder takes their time.
	if err := c.Send([]byte(`{"command":"authenticate"}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * pongWait)
	if msg, err := c.Recv(); err != nil || string(msg) != `{"command":"authenticate"}` {
		t.Fatalf("after a long wait: %s %v", msg, err)
	}
	if err := c.Send([]byte(`{"command":"pin"}`)); err != nil {
		t.Fatal(err)
	}
	if msg, err := c.Recv(); err != nil || string(msg) != `{"command":"pin"}` {
		t.Fatalf("after a long wait: %s %v", msg, err)
	}
}
