package ipcserver

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/ipc"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(peerChild())
	}
	os.Exit(m.Run())
}

const testPIN = "24681357"

// refusals records the listener's refusals.
type refusals struct {
	mu    sync.Mutex
	seen  []Refusal
	added chan struct{} // signalled at each add
}

func (r *refusals) add(x Refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, x)
	select {
	case r.added <- struct{}{}:
	default:
	}
}

// testTimeout bounds the waits for the listener.
const testTimeout = 10 * time.Second

// wait returns the refusals once there are n, or fails t after
// testTimeout: a refusal the client saw first (it checks the service's
// user too) may reach the listener's Accept after the client exited.
func (r *refusals) wait(t *testing.T, n int) []Refusal {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		if l := r.list(); len(l) >= n {
			return l
		}
		select {
		case <-r.added:
		case <-timeout:
			t.Fatalf("refusals %v after %v, want %d", r.list(), testTimeout, n)
		}
	}
}

func (r *refusals) list() []Refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Refusal(nil), r.seen...)
}

// testListener is a Listener in this process, on a Unix socket in a
// temporary directory unless endpoint says otherwise, whose sessions echo
// every message back.
type testListener struct {
	*Listener
	paths   ipc.Paths
	refused refusals
}

// rawPath is served by an echo of binary messages (ListenConfig.Raw).
const rawPath = "/raw"

func startService(t testing.TB, endpoint string) *testListener {
	t.Helper()
	dir := t.TempDir()
	ts := &testListener{refused: refusals{added: make(chan struct{}, 1)}, paths: ipc.Paths{Secret: filepath.Join(dir, "config", "service.key"), Endpoint: ipc.Endpoint{Network: "unix", Address: filepath.Join(dir, "run", "service.sock")}, Run: filepath.Join(dir, "run")}}
	if endpoint != "" {
		var err error
		if ts.paths.Endpoint, err = ipc.ParseEndpoint(endpoint); err != nil {
			t.Fatal(err)
		}
	}
	echo := func(_ context.Context, ws *websocket.Conn) { // a binary echo, no hello
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}
	l, err := Listen(ListenConfig{Paths: ts.paths, Version: "1.2.3", Refused: ts.refused.add,
		Raw: map[string]func(context.Context, *websocket.Conn){rawPath: echo}})
	if err != nil {
		t.Fatal(err)
	}
	ts.Listener = l
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- l.Serve(ctx, func(_ context.Context, c *Conn) {
			if c.Handshake() != nil {
				return
			}
			for {
				msg, err := c.Recv()
				if err != nil || c.Send(msg) != nil {
					return
				}
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

func (ts *testListener) dial(t testing.TB) *ipc.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, ts.paths)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A host's messages reach the service's session and back, and each side
// knows the other's version: the host's own client (package ipc) against
// gorilla/websocket.
func TestEcho(t *testing.T) {
	ts := startService(t, "")
	c := ts.dial(t)
	if c.Peer.Version != "1.2.3" || c.Peer.Protocol != ipc.ProtocolVersion {
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
