package osservice

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/testenv"
)

// testManager is the Manager of the service "eidlink-test" as the service
// manager platform would have it, installing for every user under a
// temporary root.
func testManager(t *testing.T, platform string, system bool) (*Manager, string) {
	t.Helper()
	m, err := NewManager(Options{Name: "eidlink-test", System: system, Exec: "/usr/bin/eidlink"})
	if err != nil {
		t.Fatal(err)
	}
	m.platform, m.root = platform, t.TempDir()
	return m, m.root
}

// files lists the files and links under root.
func files(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, strings.TrimPrefix(path, root))
		}
		return err
	})
	return found
}

// Installed for every user, the service is the user unit or launch agent
// that each user's service manager starts at their login: no system-wide
// instance, and uninstall leaves nothing behind.
func TestInstallForEveryUser(t *testing.T) {
	for _, tc := range []struct {
		platform, kind string
		want           []string
	}{
		{"linux-systemd", UnitSystemd, []string{"/etc/systemd/user/default.target.wants/eidlink-test.service", "/etc/systemd/user/eidlink-test.service"}},
		{"darwin-launchd", UnitLaunchd, []string{"/Library/LaunchAgents/eidlink-test.plist"}},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			if tc.kind == UnitSystemd {
				testenv.NeedCommand(t, "systemctl", "systemd")
			}
			m, root := testManager(t, tc.platform, true)
			if st, err := m.State(); st != "not installed" || err != nil {
				t.Fatalf("state before install: %q %v", st, err)
			}
			if err := m.Install(); err != nil {
				t.Fatal(err)
			}
			if got := files(t, root); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("installed %v, want %v", got, tc.want)
			}
			unit, _ := Unit(tc.kind, "eidlink-test", "/usr/bin/eidlink")
			installed, err := os.ReadFile(filepath.Join(root, tc.want[len(tc.want)-1]))
			if err != nil || string(installed) != string(unit) {
				t.Fatalf("the installed unit is not the per-user one (%v):\n%s", err, installed)
			}
			if strings.Contains(string(installed), "--system") {
				t.Fatalf("the unit runs a system-wide instance:\n%s", installed)
			}
			if tc.kind == UnitSystemd {
				if target, err := os.Readlink(filepath.Join(root, tc.want[0])); err != nil || target != "/etc/systemd/user/eidlink-test.service" {
					t.Fatalf("default.target.wants link: %q %v", target, err)
				}
			}
			if st, err := m.State(); st != "enabled for every user" || err != nil {
				t.Fatalf("state after install: %q %v", st, err)
			}
			if err := m.Start(); err != errOwnOnly {
				t.Fatalf("start for every user: %v, want %v", err, errOwnOnly)
			}
			if err := m.Uninstall(); err != nil {
				t.Fatal(err)
			}
			if got := files(t, root); len(got) != 0 {
				t.Fatalf("left after uninstall: %v", got)
			}
			if st, _ := m.State(); st != "not installed" {
				t.Fatalf("state after uninstall: %q", st)
			}
		})
	}
}

// Where the service manager has no per-user services there is no eidlink
// service to install, for one user or for all: a clear error, and nothing
// written.
func TestNoUserServiceManager(t *testing.T) {
	for _, platform := range []string{"unix-systemv", "linux-openrc", "linux-upstart", "windows-service"} {
		for _, system := range []bool{false, true} {
			m, root := testManager(t, platform, system)
			for op, f := range map[string]func() error{"install": m.Install, "uninstall": m.Uninstall} {
				if err := f(); err == nil || !strings.Contains(err.Error(), "has no per-user services, and eidlink has no system-wide one") {
					t.Errorf("%s system=%v %s: %v", platform, system, op, err)
				}
			}
			if st, err := m.State(); st != "not installed" || err != nil {
				t.Errorf("%s system=%v state: %q %v", platform, system, st, err)
			}
			if got := files(t, root); len(got) != 0 {
				t.Errorf("%s system=%v wrote %v", platform, system, got)
			}
		}
	}
}
