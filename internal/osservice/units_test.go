package osservice

import (
	"encoding/xml"
	"flag"
	"github.com/eidlink/eidlink/internal/ipc"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestUnitsMatchGolden(t *testing.T) {
	for kind, file := range map[string]string{
		UnitSystemd: "eidlink.service",
		UnitLaunchd: "eidlink.plist",
	} {
		got, err := Unit(kind, ipc.DefaultName, DefaultExec[kind])
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", file)
		if *update {
			os.WriteFile(golden, got, 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s unit differs from %s (go test -run Golden -update rewrites it):\n%s", kind, golden, got)
		}
	}
}

func TestUnitQuoting(t *testing.T) {
	unit, _ := Unit(UnitSystemd, "eidlink-x", `/opt/e id/eid%link`)
	if !strings.Contains(string(unit), `ExecStart="/opt/e id/eid%%link" service run --name eidlink-x`) ||
		!strings.Contains(string(unit), "RuntimeDirectory=eidlink-x\n") {
		t.Fatalf("unit:\n%s", unit)
	}
	plist, _ := Unit(UnitLaunchd, "a<b", "/x&y")
	var v struct {
		Strings []string `xml:"dict>string"`
		Args    []string `xml:"dict>array>string"`
	}
	if err := xml.Unmarshal(plist, &v); err != nil || v.Strings[0] != "a<b" || v.Args[0] != "/x&y" || v.Args[len(v.Args)-1] != "a<b" {
		t.Fatalf("plist %+v %v:\n%s", v, err, plist)
	}
}
