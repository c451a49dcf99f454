package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder stands in for a test: it records Skip and Fatalf instead of
// ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                      {}
func (r *recorder) Skip(args ...any)             { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Skipf(f string, args ...any)  { r.skipped = fmt.Sprintf(f, args...) }
func (r *recorder) Fatalf(f string, args ...any) { r.failed = fmt.Sprintf(f, args...) }

func TestMissingSkipsLocallyAndFailsStrict(t *testing.T) {
	t.Setenv(StrictEnv, "")
	r := &recorder{TB: t}
	NeedCommand(r, "eidlink-no-such-command", "eidlink-pkg")
	if r.failed != "" || r.skipped != "needs eidlink-no-such-command: apt-get install eidlink-pkg (or make deps)" {
		t.Errorf("locally: skipped %q, failed %q", r.skipped, r.failed)
	}
	t.Setenv(StrictEnv, "1")
	r = &recorder{TB: t}
	NeedFile(r, "/nonexistent/libx.so", "x")
	if r.skipped != "" || !strings.Contains(r.failed, "needs /nonexistent/libx.so: apt-get install x") || !strings.Contains(r.failed, StrictEnv+"=1") {
		t.Errorf("strict: skipped %q, failed %q", r.skipped, r.failed)
	}
	r = &recorder{TB: t}
	NeedCommand(r, "sh", "dash")
	if r.skipped != "" || r.failed != "" {
		t.Errorf("sh is there: skipped %q, failed %q", r.skipped, r.failed)
	}
}

func TestDestructiveRunsOnlyWhenEnabled(t *testing.T) {
	for _, c := range []struct {
		strict, destructive string
		skip                bool
	}{{"", "", true}, {"1", "", true}, {"", "1", false}, {"1", "1", false}} {
		t.Setenv(StrictEnv, c.strict)
		t.Setenv(DestructiveEnv, c.destructive)
		r := &recorder{TB: t}
		Destructive(r, "installs a service")
		if (r.skipped != "") != c.skip || r.failed != "" || (c.skip && !strings.Contains(r.skipped, "installs a service")) {
			t.Errorf("strict %q destructive %q: skipped %q, failed %q", c.strict, c.destructive, r.skipped, r.failed)
		}
	}
}
