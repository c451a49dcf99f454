package service

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/eidlink/eidlink/host/protocol"
)

func TestHostRelaysToService(t *testing.T) {
	w := newWorld(t)
	svc := w.startService(t)
	h := w.host(t)
	if v := h.recv(); string(v["version"]) != `"`+protocol.Version+`"` {
		t.Fatalf("first message %s", mustJSON(v))
	}
	st := h.status()
	if st.Mode != "service" || st.Service == nil || !st.Service.Running || st.Service.Version != protocol.Version || len(st.Tokens) != 1 {
		t.Fatalf("status through the service: %s", mustJSON(st))
	}
	h.login(w, verifier(t, w.card))
	h.quit()
	noPIN(t, "host", h.stderr.String())
	noPIN(t, "service", svc.stderr.String())
	if !strings.Contains(svc.stderr.String(), "command done") {
		t.Fatalf("the service did not run the command: %s", svc.stderr.String())
	}
}

func TestHostFallsBackInProcess(t *testing.T) {
	w := newWorld(t)
	h := w.host(t)
	h.recv()
	st := h.status()
	if st.Mode != "in-process" || st.Service == nil || st.Service.Running || len(st.Tokens) != 1 {
		t.Fatalf("status without a service: %s", mustJSON(st))
	}
	h.login(w, verifier(t, w.card))
	h.quit()
}

// loseMidRequest starts a login through the service, makes the service
// go away with lose while the PIN request is pending, and checks that the
// host answers the login with a retryable ERR_EIDLINK_SERVICE_RESTARTED.
func loseMidRequest(t *testing.T, w *world, lose func(svc *serviceProc)) *hostProc {
	t.Helper()
	svc := w.startService(t)
	h := w.host(t)
	h.recv()
	h.send(authenticateMsg(newNonce()))
	if m := h.recv(); m["pinRequest"] == nil {
		t.Fatalf("want a PIN request, got %s", mustJSON(m))
	}
	lose(svc)
	m := h.recv()
	if e, ok := errCode(m); !ok || e.Code != protocol.CodeServiceRestarted || !e.Retryable {
		t.Fatalf("after the service went: %s, want a retryable %s", mustJSON(m), protocol.CodeServiceRestarted)
	}
	return h
}

func TestServiceKilledMidRequest(t *testing.T) {
	w := newWorld(t)
	h := loseMidRequest(t, w, func(svc *serviceProc) { svc.cmd.Process.Signal(syscall.SIGKILL) })
	// The service is gone (its socket left behind): the retry runs
	// in-process.
	h.login(w, verifier(t, w.card))
	if st := h.status(); st.Mode != "in-process" {
		t.Fatalf("mode %q after the service died", st.Mode)
	}
	h.quit()
	// A new service replaces the stale socket; new hosts use it.
	w.startService(t)
	h = w.host(t)
	h.recv()
	if st := h.status(); st.Mode != "service" {
		t.Fatalf("mode %q with the service back", st.Mode)
	}
	h.quit()
}

// freeze stops p (SIGSTOP) until the test ends.
func freeze(t *testing.T, p *os.Process) {
	t.Helper()
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Signal(syscall.SIGCONT) })
}

// A frozen service (stopped, not gone: its socket still accepts) is
// noticed by the heartbeat: the request in flight gets a retryable
// ERR_EIDLINK_SERVICE_RESTARTED, and the next one runs in-process.
func TestServiceFrozenMidRequest(t *testing.T) {
	w := newWorld(t)
	h := loseMidRequest(t, w, func(svc *serviceProc) { freeze(t, svc.cmd.Process) })
	h.login(w, verifier(t, w.card))
	if st := h.status(); st.Mode != "in-process" {
		t.Fatalf("mode %q with the service frozen", st.Mode)
	}
	h.quit()
}

// The service drops a frozen host: the card it held goes to the next.
func TestServiceDropsFrozenHost(t *testing.T) {
	w := newWorld(t)
	w.startService(t)
	a, b := w.host(t), w.host(t)
	a.recv()
	b.recv()
	a.send(authenticateMsg(newNonce()))
	if m := a.recv(); m["pinRequest"] == nil {
		t.Fatalf("a: want a PIN request, got %s", mustJSON(m))
	}
	freeze(t, a.cmd.Process)
	b.login(w, verifier(t, w.card))
	b.quit()
}
