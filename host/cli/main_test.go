package cli

import (
	"fmt"
	"os"
	"testing"

	"github.com/eidlink/eidlink/host/vcard/vcardtest"
)

// Every command here scans the PC/SC readers (and OpenSC probes them):
// take vpcd's readers for the whole run.
func TestMain(m *testing.M) {
	if err := vcardtest.Lock(); err != nil {
		fmt.Fprintln(os.Stderr, "locking vpcd's readers:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
