package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Every test here shows that one check, alone, refuses: the other checks
// are satisfied (right user, right secret, no Origin), and each test
// asserts which check the server reported.

func rawDialHeader(ep Endpoint, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return net.Dial(ep.Network, ep.Address) }}
	host := "localhost"
	if ep.Network == "tcp" {
		host = ep.Address
	}
	return d.Dial("ws://"+host+"/", h)
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
	ts := startService(t, nil, nil, "")
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
	ts := startService(t, nil, nil, "")
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
	s, err := ensureSecret(path)
	if err != nil || len(s) != secretLen {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", fi.Mode())
	}
	if again, _ := ensureSecret(path); string(again) != string(s) {
		t.Fatal("ensureSecret replaced an existing secret")
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
