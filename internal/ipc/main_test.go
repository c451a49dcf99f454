package ipc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/testenv"
)

// These tests run the host's side (Dial, this package's WebSocket
// client) against gorilla/websocket, the service's side, with the
// service's half of Conn (NewConn, Accept). Package ipcserver tests the
// service itself, refusals included.

func TestMain(m *testing.M) {
	if os.Getenv(listenerEnv) != "" {
		os.Exit(listenerChild())
	}
	os.Exit(m.Run())
}

// serveWS serves WebSocket upgrades that carry the secret, with up, on a
// Unix socket in a temporary directory, which the Paths it returns
// locate.
func serveWS(t testing.TB, up websocket.Upgrader, handle func(*websocket.Conn)) Paths {
	t.Helper()
	dir := t.TempDir()
	p := Paths{Secret: filepath.Join(dir, "service.key"), Endpoint: Endpoint{"unix", filepath.Join(dir, "service.sock")}, Run: dir}
	secret := writeSecret(t, p.Secret)
	ln, err := net.Listen("unix", p.Endpoint.Address)
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(SecretHeader) != hex.EncodeToString(secret) {
			http.Error(w, "wrong secret", http.StatusUnauthorized)
			return
		}
		if ws, err := up.Upgrade(w, r, nil); err == nil {
			handle(ws)
			ws.Close()
		}
	})}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return p
}

// startEcho serves hosts as the service does (NewConn, Accept, version
// 1.2.3), then runs session, by default an echo of every message.
func startEcho(t testing.TB, session func(*Conn)) Paths {
	if session == nil {
		session = func(c *Conn) {
			for {
				msg, err := c.Recv()
				if err != nil || c.Send(msg) != nil {
					return
				}
			}
		}
	}
	var p Paths
	p = serveWS(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		c := NewConn(ws, p.Endpoint)
		defer c.Close()
		if c.Accept("1.2.3") == nil {
			session(c)
		}
	})
	return p
}

// writeSecret writes a secret file as the service does.
func writeSecret(t testing.TB, path string) []byte {
	t.Helper()
	secret := make([]byte, SecretLen)
	for i := range secret {
		secret[i] = byte(i + 1)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return secret
}

func dialEcho(t testing.TB, p Paths) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A host's messages reach the service's session and back, and each side
// knows the other's version.
func TestEcho(t *testing.T) {
	c := dialEcho(t, startEcho(t, nil))
	if c.Peer.Version != "1.2.3" || c.Peer.Protocol != ProtocolVersion {
		t.Fatalf("the service's hello: %+v", c.Peer)
	}
	for _, msg := range []string{`{"command":"status"}`, `{"a":1}`} {
		if err := c.Send([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Recv(); err != nil || string(got) != msg {
			t.Fatalf("echo of %s: %s %v", msg, got, err)
		}
	}
}

// The service's close after "quit" ends the host's Recv with Ended; a
// going-away close does not.
func TestEnded(t *testing.T) {
	for normal, want := range map[bool]bool{true: true, false: false} {
		c := dialEcho(t, startEcho(t, func(c *Conn) {
			c.End(normal)
			c.Recv() // until the host answers the close
		}))
		_, err := c.Recv()
		var ce *CloseError
		if !errors.As(err, &ce) || Ended(err) != want {
			t.Errorf("End(%v): Recv %v, Ended %v", normal, err, Ended(err))
		}
	}
}

// A host refuses a service of another major version, saying so.
func TestServiceOfAnotherVersion(t *testing.T) {
	p := serveWS(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		ws.WriteJSON(helloMessage{&Hello{Protocol: "2.1", Version: "9.0.0"}})
		ws.ReadMessage()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, p)
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Theirs != "2.1" || ve.Service {
		t.Fatalf("dial: %v, want a VersionError", err)
	}
}

// A service that turns the host away: its status is in the error.
func TestDialRefused(t *testing.T) {
	p := startEcho(t, nil)
	os.WriteFile(p.Secret, []byte(strings.Repeat("ab", SecretLen)+"\n"), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, p)
	if err == nil || !strings.Contains(err.Error(), "refused the connection: 401 Unauthorized") {
		t.Fatalf("dial with a wrong secret: %v", err)
	}
}

func TestSecretFileMustBePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "service.key")
	secret := writeSecret(t, path)
	if s, err := ReadSecret(path); err != nil || string(s) != string(secret) {
		t.Fatalf("ReadSecret: %x %v", s, err)
	}
	os.Chmod(path, 0o640)
	if _, err := ReadSecret(path); err == nil {
		t.Fatal("a group-readable secret was accepted")
	}
}

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

// The host refuses a service of another user before sending the secret.
func TestHostChecksServiceUser(t *testing.T) {
	testenv.NeedRoot(t, "it runs a listener as uid 65534")
	dir := t.TempDir()
	testenv.OpenToOthers(dir)
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
	_, err := dial(context.Background(), Endpoint{"unix", sock}, make([]byte, SecretLen))
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
	c := dialEcho(t, startEcho(t, nil)) // it echoes every message...
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

// A service that stops answering (no message, ping or pong) is taken for
// frozen: Recv fails within the heartbeat's bound.
func TestHeartbeatDropsSilentService(t *testing.T) {
	period, wait := pingPeriod, pongWait
	pingPeriod, pongWait = 100*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { pingPeriod, pongWait = period, wait })
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	// The service says hello, then neither reads (no pong) nor pings.
	c := dialEcho(t, serveWS(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		ws.WriteJSON(helloMessage{&Hello{Protocol: ProtocolVersion, Version: "1.2.3"}})
		ws.ReadMessage()
		<-release
	}))
	done := make(chan error, 1)
	go func() { _, err := c.Recv(); done <- err }()
	select {
	case err := <-done:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Recv: %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a silent service was not dropped")
	}
}
