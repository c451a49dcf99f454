package protocol_test

import (
	"os/exec"
	"strings"
	"testing"
)

// layers ranks the module's packages: a package imports only packages of
// a lower rank. Hardware and transport boundaries sit low and know
// nothing of the command loop, the service or the CLI that use them
// (interfaces live with their consumers); the public relying-party
// package needs nothing of the host side. A new package needs a rank.
var layers = map[string]int{
	"internal/bounded": 0, "internal/eidcert": 0, "internal/logging": 0, "internal/nativemsg": 0,
	"internal/p11wire": 0, "internal/testenv": 0, "internal/iasecc": 0, "internal/webinput": 0, "internal/pcsc/pcsctest": 0,
	"internal/xdg": 0,

	"internal/pcsc": 1, "internal/protocol": 1, "relyingparty": 1, "internal/virtualcard": 1,
	"internal/redistest": 1,

	"internal/card": 2, "internal/cryptoki": 2, "internal/install": 2, "internal/ipc": 2,
	"internal/authtoken": 2, "internal/virtualcard/virtualcardtest": 2, "internal/demosite": 2,
	"internal/tlsreplica": 2,

	"internal/reader": 3, "internal/ipc/ipcserver": 3, "internal/cie": 3, "internal/command": 3, "internal/tlsauth": 3,

	"internal/mockhost": 4, "internal/service": 4, "internal/osservice": 4,

	"internal/cli": 5,
}

func TestLayers(t *testing.T) {
	const mod = "github.com/eidlink/eidlink/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", mod+"internal/...", mod+"relyingparty/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		rank, ok := layers[pkg]
		if !ok {
			t.Errorf("%s has no rank in layers: place it", pkg)
			continue
		}
		for _, imp := range f[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if r, ok := layers[dep]; ok && r >= rank {
				t.Errorf("%s (rank %d) imports %s (rank %d): an arrow that points up or sideways", pkg, rank, dep, r)
			}
		}
	}
}
