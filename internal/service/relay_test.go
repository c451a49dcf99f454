package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// With no service running, the host starts one (detached, with an idle
// exit) and relays to it; the next host uses the same service.
func TestHostStartsServiceOnDemand(t *testing.T) {
	w := newWorld(t)
	h := w.host(t)
	h.recv()
	st := h.status()
	if st.Mode != protocol.ModeService || st.Service == nil || !st.Service.Running || len(st.Tokens) != 1 {
		t.Fatalf("status through the service started on demand: %s", mustJSON(st))
	}
	h.login(w, verifier(t, w.card))
	h.quit()
	pid, log := w.onDemand(t)
	if !strings.Contains(log, "service listening on") || !strings.Contains(log, "command done") {
		t.Fatalf("the service started on demand did not serve the login: %s", log)
	}
	noPIN(t, "host", h.stderr.String())
	noPIN(t, "service", log)
	h = w.host(t)
	h.recv()
	if st := h.status(); st.Mode != protocol.ModeService {
		t.Fatalf("the second host: mode %q", st.Mode)
	}
	h.quit()
	if again, _ := w.onDemand(t); again != pid || strings.Contains(h.stderr.String(), "starting one") {
		t.Fatalf("the second host started another service (pid %d, then %d): %s", pid, again, h.stderr.String())
	}
}

// Hosts started at once, with no service running, end up relaying to one
// service: every service they start but one finds it running and exits.
func TestHostsStartOneService(t *testing.T) {
	w := newWorld(t)
	const n = 8
	hosts := make([]*hostProc, n)
	for i := range hosts {
		hosts[i] = w.host(t)
	}
	endpoints := map[string]bool{}
	for _, h := range hosts {
		h.recv()
		st := h.status()
		if st.Mode != protocol.ModeService || st.Service == nil {
			t.Fatalf("status: %s", mustJSON(st))
		}
		endpoints[st.Service.Endpoint] = true
	}
	started := 0
	for _, h := range hosts {
		h.quit()
		started += strings.Count(h.stderr.String(), "started the eidlink service")
	}
	_, log := w.onDemand(t)
	listening, gaveUp := strings.Count(log, "service listening on"), strings.Count(log, "service already runs")
	if len(endpoints) != 1 || listening != 1 || started < 1 || gaveUp != started-1 {
		t.Fatalf("%d hosts started %d services: %d listened, %d gave up, endpoints %v; want one service:\n%s", n, started, listening, gaveUp, endpoints, log)
	}
	t.Logf("%d hosts at once started %d services, one of which runs", n, started)
}

// An on-demand service exits once no host has been connected for its
// idle time, and an explicit "eidlink service stop" stops one at once.
func TestOnDemandServiceIdleExit(t *testing.T) {
	w := newWorld(t)
	cmd := exec.Command(eidlinkBin, "service", "run", "--idle-exit", "1s")
	cmd.Env = w.env
	var log syncBuffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	h := w.host(t) // it finds the service, or waits for it to start
	h.recv()
	if st := h.status(); st.Mode != protocol.ModeService {
		t.Fatalf("mode %q", st.Mode)
	}
	h.quit()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(log.String(), "no host for a while: exiting") {
			t.Fatalf("the idle service exited with %v: %s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the idle service did not exit: %s", log.String())
	}
	if _, err := os.Stat(filepath.Join(w.paths.Run, "service.pid")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the idle service left its pid file: %v", err)
	}

	h = w.host(t) // a new one, on demand
	h.recv()
	h.quit()
	pid, _ := w.onDemand(t)
	exited := processExit(t, pid)
	stop := exec.Command(eidlinkBin, "service", "stop")
	stop.Env = w.env
	if out, err := stop.CombinedOutput(); err != nil || !strings.Contains(string(out), "stopped your eidlink service") {
		t.Fatalf("eidlink service stop: %v %s", err, out)
	}
	// It released the cards and its files; its exit follows.
	if !exited(10 * time.Second) {
		t.Fatalf("the service (pid %d) still runs 10 s after stop", pid)
	}
}

// loseMidRequest starts a login through the service, makes the service
// go away with lose while the PIN request is pending, and checks that the
// host answers the login with a retryable ERR_EIDLINK_SERVICE_RESTARTED.
func loseMidRequest(t *testing.T, w *world, svc *serviceProc, lose func()) *hostProc {
	t.Helper()
	h := w.host(t)
	h.recv()
	h.startLogin()
	start := time.Now()
	lose()
	m := h.recv()
	t.Logf("the host answered %v after the service went", time.Since(start).Round(100*time.Millisecond))
	if e, ok := errCode(m); !ok || e.Code != protocol.CodeServiceRestarted || !e.Retryable {
		t.Fatalf("after the service went: %s, want a retryable %s", mustJSON(m), protocol.CodeServiceRestarted)
	}
	return h
}

func TestServiceKilledMidRequest(t *testing.T) {
	w := newWorld(t)
	svc := w.startService(t)
	h := loseMidRequest(t, w, svc, func() { svc.cmd.Process.Signal(syscall.SIGKILL) })
	// The service is gone (its socket left behind): the retry starts a
	// new one, which replaces the stale socket.
	h.login(w, verifier(t, w.card))
	if st := h.status(); st.Mode != protocol.ModeService {
		t.Fatalf("mode %q after the service died", st.Mode)
	}
	if pid, _ := w.onDemand(t); pid == svc.cmd.Process.Pid {
		t.Fatal("the host relays to the dead service")
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
// ERR_EIDLINK_SERVICE_RESTARTED. While it stays frozen no other service
// may take the cards from it: the host says the service does not answer;
// once it thaws, the host relays to it again.
func TestServiceFrozenMidRequest(t *testing.T) {
	w := newWorld(t)
	svc := w.startService(t)
	h := loseMidRequest(t, w, svc, func() { freeze(t, svc.cmd.Process) })
	if st := h.status(); st.Mode != protocol.ModeNoService || st.Service == nil || st.Service.Reason == "" {
		t.Fatalf("status with the service frozen: %s", mustJSON(st))
	}
	if _, log := w.onDemand(t); !strings.Contains(log, "service already runs") {
		t.Fatalf("the host did not try to start another service, or it did not give up: %s", log)
	}
	svc.cmd.Process.Signal(syscall.SIGCONT)
	h.login(w, verifier(t, w.card))
	if st := h.status(); st.Mode != protocol.ModeService {
		t.Fatalf("mode %q with the service thawed", st.Mode)
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
// ends, the card is free.
func TestLoginBehindPINRequestIsBusy(t *testing.T) {
	eachStart(t, func(t *testing.T, w *world, how string) {
		a, b := w.host(t), w.host(t)
		a.recv()
		b.recv()
		a.startLogin()
		if st := b.status(); st.Mode != protocol.ModeService || len(st.Tokens) != 1 {
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

// eachStart runs f in a new world whose service runs before the hosts
// start (installed), then in one whose hosts start it (on demand).
func eachStart(t *testing.T, f func(t *testing.T, w *world, how string)) {
	for _, how := range []string{"installed", "on demand"} {
		t.Run(how, func(t *testing.T) {
			w := newWorld(t)
			if how == "installed" {
				w.startService(t)
			}
			f(t, w, how)
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

// Hosts logging in at the same time on one card all succeed, through the
// service, started before them or by them. A login that finds
// the card held by another login's PIN request is told so at once with a
// retryable ERR_EIDLINK_BUSY, and tried again, as the extension's user
// would; nothing else may fail.
func TestConcurrentHostsOneCard(t *testing.T) {
	eachStart(t, func(t *testing.T, w *world, how string) {
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
		t.Logf("%s: %d/%d logins succeeded (%d busy answers retried)", how, n-failed, n, busy.Load())
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

// processExit returns a function that waits up to a bound for the process
// pid (not a child of the test) to exit, through a pidfd.
func processExit(t *testing.T, pid int) func(time.Duration) bool {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", pid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func(bound time.Duration) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for deadline := time.Now().Add(bound); ; {
			n, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds()))
			if err == unix.EINTR {
				continue
			}
			return err == nil && n == 1
		}
	}
}
