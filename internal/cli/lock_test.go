package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/service"
)

// eidlink authenticate takes turns on the card with the service
// (service.CardLockFile): while the service holds the card and waits for
// the PIN, a login from the CLI is turned away as busy, before it reads the
// PIN; once the host lets go, the same login succeeds.
func TestAuthenticateTakesTheCardLock(t *testing.T) {
	initCard(t, "--pin", "24681357")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	paths, err := ipc.PathsFor(ipc.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	path := service.CardLockFile(paths)
	os.MkdirAll(filepath.Dir(path), 0o700)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("1"), 0) // the holder waits for the PIN
	stdin := strings.NewReader("24681357\n")
	var out, errOut bytes.Buffer
	if code := Main([]string{"authenticate", "--origin", origin, "--nonce", nonce}, stdin, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), "waiting for the PIN") || stdin.Len() != len("24681357\n") {
		t.Fatalf("login while a host waits for the PIN: exit %d, %q, %d PIN bytes read", code, errOut.String(), len("24681357\n")-stdin.Len())
	}
	f.Truncate(0)
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if code, _, errOut := run(t, "24681357\n", "authenticate", "--origin", origin, "--nonce", nonce); code != 0 {
		t.Fatalf("login once the host let go: %d %s", code, errOut)
	}
}

// Two eidlink authenticate at once on one card, each a process of its own
// with its PIN piped in: both get a token.
func TestConcurrentAuthenticate(t *testing.T) {
	initCard(t, "--pin", "24681357")
	runtime := t.TempDir()
	type result struct {
		out, errOut bytes.Buffer
		done        chan error
	}
	var results [2]*result
	for i := range results {
		r := &result{done: make(chan error, 1)}
		results[i] = r
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), mainArgsEnv+"=authenticate --origin "+origin+" --nonce "+nonce, "XDG_RUNTIME_DIR="+runtime)
		cmd.Stdin = strings.NewReader("24681357\n")
		cmd.Stdout, cmd.Stderr = &r.out, &r.errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill(); <-r.done })
	}
	for i, r := range results {
		select {
		case err := <-r.done:
			r.done <- err // for the cleanup
			if err != nil || !strings.Contains(r.out.String(), `"signature"`) {
				t.Errorf("login %d: %v %s %s", i, err, r.out.String(), r.errOut.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("login %d did not end in a minute: %s", i, r.errOut.String())
		}
	}
}
