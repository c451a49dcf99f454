package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// `eidlink cie check` reports each step of the native driver on a virtual
// CIE, spending no PIN try; with no CIE it fails with a hint.
func TestCIECheck(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	if code, _, errOut := run(t, "", "cie", "check", "--reader", virtualcardtest.Reader1); code != 1 || !strings.Contains(errOut, "hint: lay the CIE") {
		t.Fatalf("no CIE: %d %s", code, errOut)
	}
	vc := virtualcardtest.NewCard(t, "cie-bit4id", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	code, out, errOut := run(t, "", "cie", "check")
	var reports []cie.Report
	if err := json.Unmarshal([]byte(out), &reports); err != nil || code != 0 {
		t.Fatalf("cie check: %d %v\n%s\n%s", code, err, out, errOut)
	}
	if len(reports) != 1 || !reports[0].OK() || reports[0].Reader != virtualcardtest.Reader0 || *reports[0].TriesLeft != 3 || vc.TriesLeft() != 3 {
		t.Fatalf("cie check: %s", out)
	}
	if code, _, _ := run(t, "", "cie", "bogus"); code != 2 {
		t.Fatalf("cie bogus: exit %d, want 2", code)
	}
}
