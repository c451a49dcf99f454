// Package testenv says what a test needs from the machine, so that
// `go test ./...` runs anywhere and every test that cannot run says why.
//
// The tiers:
//
//   - Plain tests need Go and nothing else.
//   - Machine tests need root, pcscd with vpcd's readers (`make pcscd`),
//     SoftHSM2, OpenSC or other Debian packages (`make deps`). Where one
//     is missing they skip, naming it and how to get it; with
//     EIDLINK_TEST_STRICT=1 (make test and CI set it) they fail instead,
//     so that a missing install step cannot pass as a skip.
//   - Destructive tests change the machine outside their own temporary
//     files: a real system service, a package installed and purged. They
//     run only with EIDLINK_TEST_DESTRUCTIVE=1 (make test and CI set it),
//     strict or not.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The environment variables that choose the tiers.
const (
	StrictEnv      = "EIDLINK_TEST_STRICT"
	DestructiveEnv = "EIDLINK_TEST_DESTRUCTIVE"
)

// Missing ends t for want of what, with fix saying how to get it: a skip,
// or under EIDLINK_TEST_STRICT=1 a failure.
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	msg := fmt.Sprintf("needs %s: %s", what, fix)
	if os.Getenv(StrictEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing requirement fails the test)", msg, StrictEnv)
	} else {
		t.Skip(msg)
	}
}

// NeedRoot ends t unless it runs as root; why says what root is for.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "root", why+": run it as root (make test does)")
	}
}

// OpenToOthers lets other users into dir and its parents up to the
// temporary directory: for a test that runs a process as another user.
func OpenToOthers(dir string) {
	for d := dir; strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
}

// NeedFile ends t unless path exists; pkg is the Debian package that
// installs it.
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, path, "apt-get install "+pkg+" (or make deps)")
	}
}

// NeedCommand ends t unless name is on PATH; pkg is the Debian package
// that installs it.
func NeedCommand(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		Missing(t, name, "apt-get install "+pkg+" (or make deps)")
	}
}

// OpenSC is the library of Debian's opensc-pkcs11 (amd64): the OpenSC
// PKCS#11 module that tests load, through the service or directly.
const OpenSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

// NeedSoftHSM ends t unless SoftHSM2 is installed: softhsm2-util, of
// Debian's softhsm2, whose dependency libsofthsm2 puts the library at
// cryptoki.SoftHSMModule.
func NeedSoftHSM(t testing.TB) {
	t.Helper()
	NeedCommand(t, "softhsm2-util", "softhsm2")
}

// Destructive skips t unless EIDLINK_TEST_DESTRUCTIVE=1; what says what
// it changes on the machine.
func Destructive(t testing.TB, what string) {
	t.Helper()
	if os.Getenv(DestructiveEnv) != "1" {
		t.Skipf("changes the machine (%s): runs only with %s=1 (make test sets it)", what, DestructiveEnv)
	}
}

// BuildBinaries builds eidlink and eidlink-host into dir as the Makefile
// builds them (stripped; the host static, without cgo), for tests that run
// them as a browser and a user would; root is the path to the repository
// from the test's package. It returns their paths.
func BuildBinaries(dir, root string) (eidlink, host string, err error) {
	eidlink, host = filepath.Join(dir, "eidlink"), filepath.Join(dir, "eidlink-host")
	for bin, pkg := range map[string]string{eidlink: "cmd/eidlink", host: "cmd/eidlink-host"} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./"+pkg)
		cmd.Dir = root
		if bin == host {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("building %s: %w: %s", pkg, err, out)
		}
	}
	return eidlink, host, nil
}
