package cli

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// Every command here scans the PC/SC readers (and OpenSC probes them):
// take vpcd's readers for the whole run.
func TestMain(m *testing.M) {
	if args := os.Getenv(mainArgsEnv); args != "" { // a child: eidlink itself
		os.Exit(Main(strings.Fields(args), os.Stdin, os.Stdout, os.Stderr))
	}
	if err := virtualcardtest.Lock(); err != nil {
		fmt.Fprintln(os.Stderr, "locking vpcd's readers:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// mainArgsEnv makes the test binary run as eidlink with these arguments,
// for tests that need a process of their own.
const mainArgsEnv = "EIDLINK_TEST_MAIN_ARGS"
