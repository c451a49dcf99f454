package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSysV: on a machine whose PID 1 is not systemd (CI and this
// project's machines) "eidlink service install", for one user or with
// --system for all, refuses clearly and writes nothing: there is no
// per-user service manager to install into, and no system-wide eidlink
// service (it would serve only root).
func TestSysV(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		t.Skip("systemd runs this machine: TestInstallForEveryUser covers it")
	}
	name := fmt.Sprintf("eidlink-test-%d", os.Getpid())
	home := t.TempDir()
	leftovers := func() []string {
		var found []string
		for _, pattern := range []string{"/etc/init.d/" + name, "/etc/rc?.d/*" + name, "/var/log/" + name + ".*", "/var/run/" + name + ".pid", "/etc/" + name, "/run/" + name, home + "/*"} {
			m, _ := filepath.Glob(pattern)
			found = append(found, m...)
		}
		return found
	}
	for _, args := range [][]string{{"install"}, {"install", "--system"}, {"uninstall", "--system"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), mainArgsEnv+"=service "+strings.Join(args, " ")+" --name "+name, "HOME="+home, "XDG_CONFIG_HOME=", "XDG_RUNTIME_DIR=")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "unix-systemv has no per-user services, and eidlink has no system-wide one") {
			t.Errorf("eidlink service %s: exit %d, want 1 and a clear refusal: %s", strings.Join(args, " "), code, out)
		}
		if l := leftovers(); len(l) > 0 {
			t.Fatalf("eidlink service %s left %v", strings.Join(args, " "), l)
		}
	}
}
