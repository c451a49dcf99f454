package testenv

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/miekg/pkcs11"
)

// PKCS11Module builds eidlink's PKCS#11 module (pkcs11/, for this Unix)
// into a temporary directory of t, as the Makefile does, and returns the
// library's path. pkcs11/internal/moduletest builds its sanitizer variants itself.
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

// PKCS11Sign loads the PKCS#11 module lib, as a browser would, and signs
// data with mech and the private key of its one token: C_Sign's own
// return value comes back (pkcs11-tool retries a failed C_Sign as
// multi-part and reports that). Safe to call from any goroutine.
func PKCS11Sign(lib string, mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	p := pkcs11.New(lib)
	if p == nil {
		return nil, errors.New("cannot load " + lib)
	}
	defer p.Destroy()
	if err := p.Initialize(); err != nil {
		return nil, err
	}
	defer p.Finalize()
	slots, err := p.GetSlotList(true)
	if err != nil || len(slots) != 1 {
		return nil, fmt.Errorf("slots with a token: %v, %v", slots, err)
	}
	sh, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, err
	}
	defer p.CloseSession(sh)
	p.FindObjectsInit(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	keys, _, err := p.FindObjects(sh, 2)
	p.FindObjectsFinal(sh)
	if err != nil || len(keys) != 1 {
		return nil, fmt.Errorf("private keys: %v, %v", keys, err)
	}
	if err := p.SignInit(sh, []*pkcs11.Mechanism{mech}, keys[0]); err != nil {
		return nil, err
	}
	return p.Sign(sh, data)
}
