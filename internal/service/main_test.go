package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/relyingparty"
)

// The tests of this file and of sysv_test.go run the real binaries, built
// by TestMain.
var eidlinkBin, hostBin string

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(peerChild())
	}
	// The service and hosts scan PC/SC readers: take vpcd's readers.
	if err := virtualcardtest.Lock(); err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "eidlink-service-test")
	if err != nil {
		panic(err)
	}
	os.Chmod(dir, 0o755)
	if eidlinkBin, hostBin, err = testenv.BuildBinaries(dir, "../.."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is a user's environment: a virtual card, and configuration and
// runtime directories of its own, where its service's paths are; attr and
// dir, when set, run its processes as another user, in another directory.
// The test's end stops the service a host started in it.
type world struct {
	card  *cryptoki.TestCardResult
	env   []string
	attr  *syscall.SysProcAttr
	dir   string
	paths ipc.Paths
}

// worldPaths are the paths of the service of a world whose configuration
// and runtime directories are config and run; the test's end stops that
// service if a host started one.
func worldPaths(t testing.TB, config, run string) ipc.Paths {
	p := ipc.Paths{Secret: filepath.Join(config, "eidlink", "service.key"), Endpoint: ipc.Endpoint{Network: "unix", Address: filepath.Join(run, "eidlink", "service.sock")}, Run: filepath.Join(run, "eidlink")}
	t.Cleanup(func() {
		if _, err := Stop(p, 20*time.Second); err != nil {
			t.Error(err)
		}
		// Nothing runs any more, not even a service that was starting.
		if inst, err := Claim(p); err != nil {
			t.Errorf("a service still runs after stop: %v", err)
		} else {
			inst.Release()
		}
	})
	return p
}

// onDemand is the service a host of w started: its pid and its log.
func (w *world) onDemand(t testing.TB) (pid int, log string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.paths.Run, "service.pid"))
	if err != nil {
		t.Fatalf("no service runs: %v", err)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := os.ReadFile(filepath.Join(w.paths.Run, "service.log"))
	return pid, string(l)
}

func newWorld(t testing.TB) *world { return newWorldPIN(t, testPIN) }

// newWorldPIN is newWorld with a card whose PIN is pin.
func newWorldPIN(t testing.TB, pin string) *world {
	testenv.NeedSoftHSM(t)
	dir := t.TempDir()
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(dir, "card"), Type: "cie", PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "run"), 0o700)
	w := &world{card: card, env: append(os.Environ(), "EIDLINK_LOG=debug",
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run")),
		paths: worldPaths(t, filepath.Join(dir, "config"), filepath.Join(dir, "run"))}
	for _, e := range card.Env {
		w.env = append(w.env, e.Name+"="+e.Value)
	}
	return w
}

// syncBuffer collects a process's stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serviceProc is "eidlink service run".
type serviceProc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	done   chan struct{}
}

// startService runs the service and waits until it listens.
func (w *world) startService(t testing.TB) *serviceProc {
	t.Helper()
	s := &serviceProc{cmd: exec.Command(eidlinkBin, "service", "run"), done: make(chan struct{})}
	s.cmd.Env, s.cmd.SysProcAttr, s.cmd.Dir = w.env, w.attr, w.dir
	pipe, _ := s.cmd.StderrPipe()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.cmd.Process.Kill(); <-s.done })
	ready := make(chan string, 1)
	go func() {
		r := bufio.NewReader(pipe)
		line, _ := r.ReadString('\n')
		s.stderr.Write([]byte(line))
		ready <- line
		io.Copy(&s.stderr, r)
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "service listening on unix:") {
			t.Fatalf("the service says %q", line)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("the service did not start: %s", s.stderr.String())
	}
	return s
}

// hostProc is eidlink-host as a browser runs it.
type hostProc struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan []byte
	stderr syncBuffer
	done   chan struct{}
}

func (w *world) host(t testing.TB) *hostProc {
	t.Helper()
	h := &hostProc{t: t, cmd: exec.Command(hostBin, "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"), msgs: make(chan []byte, 16), done: make(chan struct{})}
	h.cmd.Env, h.cmd.SysProcAttr, h.cmd.Dir = w.env, w.attr, w.dir
	h.cmd.Stderr = &h.stderr
	h.stdin, _ = h.cmd.StdinPipe()
	stdout, _ := h.cmd.StdoutPipe()
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r := nativemsg.NewReader(stdout, nativemsg.MaxOutgoing)
		for {
			b, err := r.Read()
			if err != nil {
				close(h.msgs)
				h.cmd.Wait()
				close(h.done)
				return
			}
			h.msgs <- b
		}
	}()
	t.Cleanup(func() { h.cmd.Process.Kill(); <-h.done })
	return h
}

func (h *hostProc) send(msg string) {
	h.t.Helper()
	if err := nativemsg.Write(h.stdin, []byte(msg)); err != nil {
		h.t.Fatal(err)
	}
}

// recv returns the host's next message that is not an event, failing
// after 15 s: the host must never leave the browser hanging.
func (h *hostProc) recv() map[string]json.RawMessage {
	h.t.Helper()
	m, err := nextAnswer(h.msgs)
	if err != nil {
		h.t.Fatalf("%v; stderr: %s", err, h.stderr.String())
	}
	return m
}

// event returns the data of the host's next event named name, skipping
// other messages, failing after 15 s.
func (h *hostProc) event(name string) json.RawMessage {
	h.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case b, ok := <-h.msgs:
			if !ok {
				h.t.Fatalf("the host ended waiting for %s; stderr: %s", name, h.stderr.String())
			}
			var ev struct {
				Event string
				Data  json.RawMessage
			}
			if json.Unmarshal(b, &ev) == nil && ev.Event == name {
				return ev.Data
			}
		case <-timeout:
			h.t.Fatalf("no %s event; stderr: %s", name, h.stderr.String())
		}
	}
}

// nextAnswer returns the next message from a host's output that is not an
// event, or an error after 15 s without one.
func nextAnswer(msgs <-chan []byte) (map[string]json.RawMessage, error) {
	for {
		select {
		case b, ok := <-msgs:
			if !ok {
				return nil, errors.New("the host closed its output")
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, fmt.Errorf("host wrote %q", b)
			}
			if m["event"] == nil {
				return m, nil
			}
		case <-time.After(15 * time.Second):
			return nil, errors.New("no answer from the host in 15 s")
		}
	}
}

func (h *hostProc) status() protocol.Status {
	h.t.Helper()
	h.send(`{"command":"status"}`)
	var st protocol.Status
	json.Unmarshal(mustJSON(h.recv()), &st)
	return st
}

// login runs a whole authenticate and checks the token.
func (h *hostProc) login(w *world, v interface {
	Verify(ctx context.Context, token []byte, origin, nonce string) (*relyingparty.Identity, error)
}) {
	h.t.Helper()
	nonce := newNonce()
	h.send(authenticateMsg(nonce))
	if m := h.recv(); m["pinRequest"] == nil {
		h.t.Fatalf("want a PIN request, got %s", mustJSON(m))
	}
	h.send(`{"command":"pin","arguments":{"pin":"` + testPIN + `"}}`)
	tok := mustJSON(h.recv())
	if _, err := v.Verify(context.Background(), tok, testOrigin, nonce); err != nil {
		h.t.Fatalf("token %s does not verify: %v", tok, err)
	}
}

// quit ends the host and checks that it exits cleanly.
func (h *hostProc) quit() {
	h.t.Helper()
	h.send(`{"command":"quit"}`)
	if m := h.recv(); len(m) != 0 {
		h.t.Fatalf("quit: %s", mustJSON(m))
	}
	select {
	case <-h.done:
	case <-time.After(15 * time.Second):
		h.t.Fatal("the host did not exit after quit")
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		h.t.Fatalf("the host exited with %d: %s", code, h.stderr.String())
	}
}

func errCode(m map[string]json.RawMessage) (protocol.Error, bool) {
	var e protocol.Error
	err := json.Unmarshal(m["error"], &e)
	return e, err == nil
}

func noPIN(t testing.TB, who, log string) {
	if strings.Contains(log, testPIN) {
		t.Errorf("the PIN appears in the %s's log: %s", who, log)
	}
}

// childEnv makes the test binary act as a host: see peerChild.
const childEnv = "EIDLINK_TEST_PEER_CHILD"

// peerChild dials the endpoint in $EIDLINK_TEST_PEER_CHILD with the hex
// secret on stdin (none: a wrong one): exit status 0 when the hello succeeds, 3 otherwise.
func peerChild() int {
	ep, err := ipc.ParseEndpoint(os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	dir, err := os.MkdirTemp("", "eidlink-peer")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	in, _ := io.ReadAll(os.Stdin)
	if len(in) == 0 { // no secret: a wrong one, so that the dial is tried
		in = bytes.Repeat([]byte("0"), 64)
	}
	key := filepath.Join(dir, "service.key")
	if err := os.WriteFile(key, in, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ipc.Dial(ctx, ipc.Paths{Secret: key, Endpoint: ep})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	c.Close()
	return 0
}
