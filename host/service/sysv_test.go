package service

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/testenv"
)

// TestSysV installs, starts, checks, stops and uninstalls a system-wide
// service with SysV init, as on a machine whose PID 1 is not systemd (CI
// and this project's machines), under a name of its own.
func TestSysV(t *testing.T) {
	testenv.Destructive(t, "installs and removes a SysV system service")
	testenv.NeedRoot(t, "it installs a system service")
	name := fmt.Sprintf("eidlink-test-%d", os.Getpid())
	leftovers := func() []string {
		var found []string
		for _, pattern := range []string{"/etc/init.d/" + name, "/etc/rc?.d/*" + name, "/var/log/" + name + ".*", "/var/run/" + name + ".pid", "/etc/" + name, "/run/" + name} {
			m, _ := filepath.Glob(pattern)
			found = append(found, m...)
		}
		return found
	}
	if l := leftovers(); len(l) > 0 {
		t.Fatalf("left by an earlier run: %v", l)
	}
	run := func(args ...string) (int, string) {
		cmd := exec.Command(eidlinkBin, append(append([]string{"service"}, args...), "--system", "--name", name)...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	t.Cleanup(func() {
		if l := leftovers(); len(l) > 0 {
			run("uninstall")
		}
	})
	step := func(want int, args ...string) string {
		t.Helper()
		code, out := run(args...)
		if code != want {
			t.Fatalf("eidlink service %s: exit %d, want %d: %s", strings.Join(args, " "), code, want, out)
		}
		return out
	}
	step(1, "status") // not installed
	if out := step(0, "install"); !strings.Contains(out, "unix-systemv") {
		t.Fatalf("install: %s", out)
	}
	if links, _ := filepath.Glob("/etc/rc?.d/*" + name); len(links) != 7 {
		t.Fatalf("rc links %v, want 7", links)
	}
	if fi, err := os.Stat("/etc/" + name + "/service.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the secret: %v %v", fi, err)
	}
	if out := step(1, "status"); !strings.Contains(out, "state\tstopped") {
		t.Fatalf("status after install: %s", out)
	}
	step(0, "start")
	out := step(0, "status")
	if !strings.Contains(out, "state\trunning") || !strings.Contains(out, "endpoint\tunix:/run/"+name+"/service.sock") {
		t.Fatalf("status after start: %s", out)
	}
	step(0, "stop")
	if out := step(1, "status"); !strings.Contains(out, "state\tstopped") {
		t.Fatalf("status after stop: %s", out)
	}
	step(0, "uninstall")
	if l := leftovers(); len(l) > 0 {
		t.Fatalf("left after uninstall: %v", l)
	}
}
