package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// PKCS11Module builds eidlink's PKCS#11 module (pkcs11/, for this Unix)
// into a temporary directory of t, as the Makefile does, and returns the
// library's path. pkcs11/moduletest builds its sanitizer variants itself.
func PKCS11Module(t testing.TB) string {
	t.Helper()
	NeedCommand(t, "gcc", "gcc")
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "pkcs11")
	lib := filepath.Join(t.TempDir(), "libeidlink-pkcs11.so")
	args := []string{"-std=c11", "-O2", "-fPIC", "-shared", "-o", lib}
	for _, f := range []string{"module.c", "wire.c", "ws.c", "platform_unix.c"} {
		args = append(args, filepath.Join(src, f))
	}
	if out, err := exec.Command("gcc", append(args, "-lpthread")...).CombinedOutput(); err != nil {
		t.Fatalf("building eidlink's PKCS#11 module: %v\n%s", err, out)
	}
	return lib
}
