package ipcserver

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// Every test here shows that one check, alone, refuses: the other checks
// are satisfied (right user, right secret, no Origin), and each test
// asserts which check the server reported.

func rawDialHeader(ep ipc.Endpoint, h http.Header) (*websocket.Conn, *http.Response, error) {
	return dialPath(ep, "/", h)
}

func dialPath(ep ipc.Endpoint, path string, h http.Header) (*websocket.Conn, *http.Response, error) {
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
	secret, _ := ipc.ReadSecret(ts.paths.Secret)
	good := http.Header{ipc.SecretHeader: {hex.EncodeToString(secret)}}
	for name, h := range map[string]http.Header{
		"origin":    {ipc.SecretHeader: good[ipc.SecretHeader], "Origin": {"https://evil.example"}},
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

func rawDial(t *testing.T, ep ipc.Endpoint, secret []byte) *websocket.Conn {
	t.Helper()
	ws, _, err := rawDialHeader(ep, http.Header{ipc.SecretHeader: {hex.EncodeToString(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestRefusesOrigin(t *testing.T) {
	ts := startService(t, "")
	secret, _ := ipc.ReadSecret(ts.paths.Secret)
	for _, origin := range []string{"https://evil.example", "null", ""} {
		_, resp, err := rawDialHeader(ts.Endpoint(), http.Header{ipc.SecretHeader: {hex.EncodeToString(secret)}, "Origin": {origin}})
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
	secret, _ := ipc.ReadSecret(ts.paths.Secret)
	for name, h := range map[string]http.Header{
		"none":    {},
		"wrong":   {ipc.SecretHeader: {hex.EncodeToString(make([]byte, ipc.SecretLen))}},
		"short":   {ipc.SecretHeader: {hex.EncodeToString(secret[:ipc.SecretLen/2])}},
		"not hex": {ipc.SecretHeader: {"zz" + hex.EncodeToString(secret)[2:]}},
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

func TestEnsureSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", "service.key")
	s, err := EnsureSecret(path)
	if err != nil || len(s) != ipc.SecretLen {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", fi.Mode())
	}
	if again, _ := EnsureSecret(path); string(again) != string(s) {
		t.Fatal("EnsureSecret replaced an existing secret")
	}
	if read, err := ipc.ReadSecret(path); err != nil || string(read) != string(s) {
		t.Fatalf("the host reads %x %v", read, err)
	}
}

// childEnv makes the test binary act as a host: see TestMain.
const childEnv = "EIDLINK_TEST_PEER_CHILD"

// peerChild dials the service that $EIDLINK_TEST_PEER_CHILD locates (the
// endpoint, a space, the secret file): exit status 0 when the hello
// succeeds, 3 otherwise.
func peerChild() int {
	epStr, secret, _ := strings.Cut(os.Getenv(childEnv), " ")
	ep, err := ipc.ParseEndpoint(epStr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, ipc.Paths{Secret: secret, Endpoint: ep})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	c.Close()
	return 0
}

func TestVersionMismatch(t *testing.T) {
	ts := startService(t, "")
	secret, err := ipc.ReadSecret(ts.paths.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// A host of protocol 2: the service refuses it with a clear error.
	ws := rawDial(t, ts.Endpoint(), secret)
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello struct{ Hello *ipc.Hello }
	if err := ws.ReadJSON(&hello); err != nil || hello.Hello == nil || hello.Hello.Protocol != ipc.ProtocolVersion {
		t.Fatalf("the service's hello: %+v %v", hello, err)
	}
	ws.WriteJSON(map[string]ipc.Hello{"hello": {Protocol: "2.0", Version: "9.0.0"}})
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m protocol.ErrorMessage
	if err := ws.ReadJSON(&m); err != nil || m.Error == nil || m.Error.Code != protocol.CodeFatal {
		t.Fatalf("got %+v %v", m, err)
	}
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("after the error: %v, want close 1008", err)
	}
	if r := ts.refused.list(); len(r) != 1 || r[0] != RefusedVersion {
		t.Fatalf("refusals %v", r)
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

func TestRefusesOtherUser(t *testing.T) {
	testenv.NeedRoot(t, "it runs a client as uid 65534")
	ts := startService(t, "")
	// Let uid 65534 reach the socket and hand it the secret: only the
	// peer check is left to refuse it.
	sock := ts.Endpoint().Address
	testenv.OpenToOthers(filepath.Dir(sock))
	os.Chmod(sock, 0o666)
	dir := t.TempDir()
	testenv.OpenToOthers(dir)
	exe := filepath.Join(dir, "client")
	self, _ := os.ReadFile(os.Args[0])
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	// uid 65534's own copy of the secret, private to it as the host wants.
	theirs := filepath.Join(dir, "theirs")
	os.Mkdir(theirs, 0o700)
	secret, _ := os.ReadFile(ts.paths.Secret)
	os.WriteFile(filepath.Join(theirs, "service.key"), secret, 0o600)
	for _, f := range []string{theirs, filepath.Join(theirs, "service.key")} {
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	run := func(cred *syscall.Credential, secret string) (int, string) {
		cmd := exec.Command(exe)
		cmd.Dir = "/"
		cmd.Env = []string{childEnv + "=" + ts.Endpoint().String() + " " + secret}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run(nil, ts.paths.Secret); code != 0 {
		t.Fatalf("the same client as this user failed (%d): %s", code, out)
	}
	if code, out := run(&syscall.Credential{Uid: 65534, Gid: 65534}, filepath.Join(theirs, "service.key")); code != 3 {
		t.Fatalf("client as uid 65534: exit %d, want 3 (refused): %s", code, out)
	}
	if r := ts.refused.wait(t, 1); !slices.Equal(r, []Refusal{RefusedPeer}) {
		t.Fatalf("refusals %v, want peer", r)
	}
}
