//go:build linux

package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// localUser is a real local user that the test creates with useradd and
// deletes, with its home, at cleanup.
type localUser struct {
	name, home string
	uid, gid   uint32
}

// newLocalUser creates the user "eidlk<tag><pid>" with a home in parent.
func newLocalUser(t *testing.T, parent, tag string) *localUser {
	t.Helper()
	name := fmt.Sprintf("eidlk%s%d", tag, os.Getpid())
	home := filepath.Join(parent, name)
	if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
		if _, err := user.Lookup(name); err == nil {
			t.Errorf("user %s is still there", name)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	return &localUser{name: name, home: home, uid: uint32(uid), gid: uint32(gid)}
}

// own gives everything under the user's home to the user.
func (u *localUser) own(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(u.home, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (u *localUser) attr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
}

// world is the user's session: a virtual card of their own (holder
// surname), the environment a login gives (HOME, USER; no XDG variables:
// the defaults under the home), processes run as the user.
func (u *localUser) world(t *testing.T, surname string) *world {
	t.Helper()
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(u.home, "card"), Type: "cie", PIN: testPIN, Surname: surname})
	if err != nil {
		t.Fatal(err)
	}
	u.own(t)
	w := &world{card: card, attr: u.attr(), dir: u.home, env: []string{"PATH=/usr/bin:/bin", "HOME=" + u.home,
		"USER=" + u.name, "LOGNAME=" + u.name, "EIDLINK_LOG=debug"},
		paths: worldPaths(t, filepath.Join(u.home, ".config"), filepath.Join(u.home, ".cache"))}
	for _, e := range card.Env {
		w.env = append(w.env, e.Name+"="+e.Value)
	}
	return w
}

// versioned is the host h once its version message is read.
func versioned(h *hostProc) *hostProc {
	h.recv()
	return h
}

// rawStatus is the host's status as JSON, as the extension reads it.
func (h *hostProc) rawStatus() (mode string, svc map[string]any) {
	h.t.Helper()
	h.send(`{"command":"status"}`)
	var st struct {
		Mode    string         `json:"mode"`
		Service map[string]any `json:"service"`
	}
	json.Unmarshal(mustJSON(h.recv()), &st)
	return st.Mode, st.Service
}

// runAs runs this test binary as u, dialling ep with the hex secret on
// stdin (see peerChild): exit status 0 when the service answered, 3 when
// it refused or could not be reached.
func runAs(t *testing.T, u *localUser, ep ipc.Endpoint, secret []byte) (int, string) {
	t.Helper()
	exe := filepath.Join(filepath.Dir(u.home), "client")
	if _, err := os.Stat(exe); err != nil {
		self, _ := os.ReadFile(os.Args[0])
		if err := os.WriteFile(exe, self, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(exe)
	cmd.Dir = "/"
	cmd.Env = []string{childEnv + "=" + ep.String()}
	cmd.Stdin = strings.NewReader(string(secret))
	cmd.SysProcAttr = u.attr()
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestTwoLocalUsers: two real local users, each with their own service
// (the only kind there is). Each user's host talks to its own service;
// a login of one does not reach the other, who can neither see the PIN
// request nor answer it; a process of one user cannot connect to the
// other's service, by the file system or, with that opened, by the
// kernel's peer credentials; and a host aimed at the other's service
// can neither reach it nor start one there, and says why.
func TestTwoLocalUsers(t *testing.T) {
	testenv.NeedRoot(t, "it creates two local users with useradd")
	testenv.Destructive(t, "it creates two local users with useradd")
	testenv.NeedSoftHSM(t)
	parent, err := os.MkdirTemp("", "eidlink-users")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(parent, 0o755)
	t.Cleanup(func() { os.RemoveAll(parent) })
	alice, bob := newLocalUser(t, parent, "a"), newLocalUser(t, parent, "b")
	wa, wb := alice.world(t, "ALICE"), bob.world(t, "BOB")
	sa, sb := wa.startService(t), wb.startService(t)
	epA := ipc.Endpoint{Network: "unix", Address: filepath.Join(alice.home, ".cache/eidlink/service.sock")}

	// Each user's host talks to that user's own service.
	ha, hb := versioned(wa.host(t)), versioned(wb.host(t))
	for _, c := range []struct {
		u *localUser
		h *hostProc
	}{{alice, ha}, {bob, hb}} {
		mode, svc := c.h.rawStatus()
		if want := "unix:" + filepath.Join(c.u.home, ".cache/eidlink/service.sock"); mode != "service" || svc["user"] != c.u.name || svc["endpoint"] != want {
			t.Fatalf("%s's host: mode %q, service %v; want %s's own service at %s", c.u.name, mode, svc, c.u.name, want)
		}
	}

	// Alice starts a login: her PIN request waits in her service.
	nonceA := newNonce()
	ha.send(authenticateMsg(nonceA))
	if m := ha.recv(); m["pinRequest"] == nil {
		t.Fatalf("alice: want a PIN request, got %s", mustJSON(m))
	}

	// Bob logs in meanwhile with his card: the first thing his host gets
	// is his own PIN request, not Alice's, and his token is his.
	nonceB := newNonce()
	hb.send(authenticateMsg(nonceB))
	if m := hb.recv(); m["pinRequest"] == nil {
		t.Fatalf("bob: want his PIN request, got %s", mustJSON(m))
	}
	hb.send(`{"command":"pin","arguments":{"pin":"` + testPIN + `"}}`)
	if id, err := verifier(t, wb.card).Verify(context.Background(), mustJSON(hb.recv()), testOrigin, nonceB); err != nil || id.Surname != "BOB" {
		t.Fatalf("bob's token: %+v %v, want BOB's", id, err)
	}

	// Bob cannot answer Alice's request: his "pin" reaches only his own
	// service, where no PIN request waits.
	hb.send(`{"command":"pin","arguments":{"pin":"` + testPIN + `"}}`)
	if e, ok := errCode(hb.recv()); !ok || e.Code != "ERR_EIDLINK_UNEXPECTED_PIN" {
		t.Fatalf("bob's pin: %+v, want ERR_EIDLINK_UNEXPECTED_PIN", e)
	}

	// A process of Bob cannot reach Alice's service: her home is hers.
	if code, out := runAs(t, bob, epA, nil); code != 3 || !strings.Contains(out, "permission denied") {
		t.Fatalf("bob dialling alice's service: exit %d, want 3 (permission denied): %s", code, out)
	}
	// With her directories opened and her secret in his hands, the
	// service still refuses him: the kernel says who connects.
	for _, d := range []string{alice.home, filepath.Join(alice.home, ".cache"), filepath.Dir(epA.Address)} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(epA.Address, 0o666)
	secretA, err := os.ReadFile(filepath.Join(alice.home, ".config/eidlink/service.key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, out := runAs(t, bob, epA, secretA); code != 3 {
		t.Fatalf("bob dialling alice's opened service with her secret: exit %d, want 3 (refused): %s", code, out)
	}
	waitFor(t, "alice's service to log the refusal", func() bool { return strings.Contains(sa.stderr.String(), "reason=peer") })
	if code, out := runAs(t, alice, epA, secretA); code != 0 {
		t.Fatalf("alice dialling her own service: exit %d: %s", code, out)
	}

	// Bob's host aimed at Alice's directories (her secret's directory is
	// still hers alone) can neither use her service nor start one there,
	// and says why.
	hx := versioned((&world{card: wb.card, attr: bob.attr(), dir: bob.home, env: append(slices.Clone(wb.env),
		"XDG_CONFIG_HOME="+filepath.Join(alice.home, ".config"), "XDG_RUNTIME_DIR="+filepath.Join(alice.home, ".cache"))}).host(t))
	if mode, svc := hx.rawStatus(); mode != protocol.ModeNoService || svc["running"] != false || svc["user"] != bob.name ||
		!strings.Contains(fmt.Sprint(svc["reason"]), "permission denied") {
		t.Fatalf("bob's host aimed at alice's service: mode %q, service %v; want %s, saying permission denied", mode, svc, protocol.ModeNoService)
	}
	hx.send(authenticateMsg(newNonce()))
	if e, ok := errCode(hx.recv()); !ok || e.Code != protocol.CodeServiceUnavailable {
		t.Fatalf("bob's login aimed at alice's service: %+v, want %s", e, protocol.CodeServiceUnavailable)
	}
	hx.quit()

	// Alice answers her own request: her login completes, with her card.
	ha.send(`{"command":"pin","arguments":{"pin":"` + testPIN + `"}}`)
	if id, err := verifier(t, wa.card).Verify(context.Background(), mustJSON(ha.recv()), testOrigin, nonceA); err != nil || id.Surname != "ALICE" {
		t.Fatalf("alice's token: %+v %v, want ALICE's", id, err)
	}
	ha.quit()
	hb.quit()
	for who, log := range map[string]string{"alice's service": sa.stderr.String(), "bob's service": sb.stderr.String(),
		"alice's host": ha.stderr.String(), "bob's host": hb.stderr.String()} {
		noPIN(t, who, log)
	}
	if strings.Contains(sb.stderr.String(), "refused") {
		t.Errorf("bob's service refused someone: %s", sb.stderr.String())
	}
}
