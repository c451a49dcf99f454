package cli

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/pcsc/pcsctest"
)

// eidlink status answers with pcscd wedged (it accepts connections and
// never answers) and says so; the virtual card, a software token, is
// still listed.
func TestStatusWithPCSCWedged(t *testing.T) {
	initCard(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"=status", pcsctest.Env+"="+pcsctest.Wedged(t), "XDG_RUNTIME_DIR="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("eidlink status: %v %s", err, errOut.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("eidlink status did not answer in a minute with pcscd wedged")
	}
	if s := out.String(); !strings.Contains(s, "pcscd) is not answering") || !strings.Contains(s, "MARIO ROSSI") {
		t.Fatalf("eidlink status with pcscd wedged:\n%s", s)
	}
}
