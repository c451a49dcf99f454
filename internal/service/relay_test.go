package service

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/relyingparty"
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
	h.startLogin()
	start := time.Now()
	lose(svc)
	m := h.recv()
	t.Logf("the host answered %v after the service went", time.Since(start).Round(100*time.Millisecond))
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
	a.startLogin()
	freeze(t, a.cmd.Process)
	// a's PIN request stays open until the service drops a: b is told
	// so, and gets the card then.
	if err := b.tryLogin(verifier(t, w.card), new(atomic.Int32)); err != nil {
		t.Fatal(err)
	}
	b.quit()
}

// A login that would queue behind another login's open PIN request, which
// may stay open for minutes, is answered at once with a retryable
// ERR_EIDLINK_BUSY; status is answered meanwhile; once the other login
// ends, the card is free. In-process hosts take turns through the card
// lock file as the service's connections do through its queue.
func TestLoginBehindPINRequestIsBusy(t *testing.T) {
	eachMode(t, func(t *testing.T, w *world, mode string) {
		a, b := w.host(t), w.host(t)
		a.recv()
		b.recv()
		a.startLogin()
		if st := b.status(); st.Mode != mode || len(st.Tokens) != 1 {
			t.Fatalf("b's status while a waits for the PIN: %s", mustJSON(st))
		}
		b.send(authenticateMsg(newNonce()))
		m := b.recv()
		if e, ok := errCode(m); !ok || e.Code != protocol.CodeBusy || !e.Retryable || !strings.Contains(e.Message, "waiting for the PIN") {
			t.Fatalf("b behind a's PIN request: %s, want a retryable %s", mustJSON(m), protocol.CodeBusy)
		}
		a.send(`{"command":"cancel"}`)
		if e, _ := errCode(a.recv()); e.Code != protocol.CodeUserCancelled {
			t.Fatalf("a's cancel: %s", e.Code)
		}
		b.login(w, verifier(t, w.card))
		a.quit()
		b.quit()
	})
}

// eachMode runs f in a new world whose hosts drive the card themselves
// (in-process), then in one whose hosts go through a service.
func eachMode(t *testing.T, f func(t *testing.T, w *world, mode string)) {
	for _, mode := range []string{"in-process", "service"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			if mode == "service" {
				w.startService(t)
			} else {
				w.env = append(w.env, "EIDLINK_SERVICE=off")
			}
			f(t, w, mode)
		})
	}
}

// startLogin sends an authenticate and waits for its PIN request.
func (h *hostProc) startLogin() {
	h.t.Helper()
	h.send(authenticateMsg(newNonce()))
	if m := h.recv(); m["pinRequest"] == nil {
		h.t.Fatalf("want a PIN request, got %s", mustJSON(m))
	}
}

// Hosts logging in at the same time on one card all succeed, each driving
// the card itself (no service) or through the service. A login that finds
// the card held by another login's PIN request is told so at once with a
// retryable ERR_EIDLINK_BUSY, and tried again, as the extension's user
// would; nothing else may fail.
func TestConcurrentHostsOneCard(t *testing.T) {
	eachMode(t, func(t *testing.T, w *world, mode string) {
		v := verifier(t, w.card)
		const n = 50
		hosts := make([]*hostProc, n)
		for i := range hosts {
			hosts[i] = w.host(t)
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		var busy atomic.Int32
		for i, h := range hosts {
			wg.Go(func() {
				m, err := nextAnswer(h.msgs)
				if err == nil && m["version"] == nil {
					err = fmt.Errorf("want the version, got %s", mustJSON(m))
				}
				if err == nil {
					err = h.tryLogin(v, &busy)
				}
				if err != nil {
					errs <- fmt.Errorf("host %d: %w; stderr: %s", i, err, h.stderr.String())
				}
			})
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			failed++
			t.Error(err)
		}
		t.Logf("%s: %d/%d logins succeeded (%d busy answers retried)", mode, n-failed, n, busy.Load())
	})
}

// tryLogin runs a whole authenticate, sending it again while the answer is
// a retryable ERR_EIDLINK_BUSY. It may run on any goroutine.
func (h *hostProc) tryLogin(v *relyingparty.Verifier, busy *atomic.Int32) error {
	for {
		nonce := newNonce()
		if err := nativemsg.Write(h.stdin, []byte(authenticateMsg(nonce))); err != nil {
			return err
		}
		m, err := nextAnswer(h.msgs)
		if err != nil {
			return err
		}
		if e, ok := errCode(m); ok && e.Code == protocol.CodeBusy && e.Retryable {
			busy.Add(1)
			time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // the user tries again later
			continue
		}
		if m["pinRequest"] == nil {
			return fmt.Errorf("want a PIN request, got %s", mustJSON(m))
		}
		if err := nativemsg.Write(h.stdin, []byte(`{"command":"pin","arguments":{"pin":"`+testPIN+`"}}`)); err != nil {
			return err
		}
		if m, err = nextAnswer(h.msgs); err != nil {
			return err
		}
		tok := mustJSON(m)
		if _, err := v.Verify(context.Background(), tok, testOrigin, nonce); err != nil {
			return fmt.Errorf("token %s does not verify: %w", tok, err)
		}
		return nil
	}
}
