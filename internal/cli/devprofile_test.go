package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/install"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/testenv"
)

// devProfile runs "eidlink dev-profile --json" and decodes its output.
func devProfile(t *testing.T, args ...string) DevProfile {
	t.Helper()
	code, out, errOut := run(t, "", append([]string{"dev-profile", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("dev-profile %v: %d %s", args, code, errOut)
	}
	var p DevProfile
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("dev-profile printed %q: %v", out, err)
	}
	return p
}

// spawnStatus starts the host a manifest registers, as a browser does,
// and returns its answer to "status".
func spawnStatus(t *testing.T, manifest string) protocol.Status {
	t.Helper()
	var m install.Manifest
	js, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(js, &m)
	cmd := exec.Command(m.Path, "chrome-extension://"+install.ChromeExtensionID+"/")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	r := nativemsg.NewReader(stdout, nativemsg.MaxOutgoing)
	if _, err := r.Read(); err != nil { // the version
		t.Fatalf("the registered host did not start: %v", err)
	}
	nativemsg.Write(stdin, []byte(`{"command":"status"}`))
	b, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	var st protocol.Status
	json.Unmarshal(b, &st)
	return st
}

func TestDevProfileRegistersTheMockHost(t *testing.T) {
	tmp := t.TempDir()
	mock := filepath.Join(tmp, "eidlink-mockhost")
	if out, err := exec.Command("go", "build", "-o", mock, "../../cmd/eidlink-mockhost").CombinedOutput(); err != nil {
		t.Fatalf("building the mock host: %v\n%s", err, out)
	}
	ext := filepath.Join(tmp, "ext")
	os.MkdirAll(ext, 0o755)
	os.WriteFile(filepath.Join(ext, "manifest.json"), []byte("{}"), 0o644)
	dir := filepath.Join(tmp, "profile")
	common := []string{"--dir", dir, "--extension", ext, "--host-bin", mock, "--card", "cns"}

	p := devProfile(t, append([]string{"--browser", "chromium"}, common...)...)
	var m install.Manifest
	js, _ := os.ReadFile(filepath.Join(dir, "NativeMessagingHosts", "it.eidlink.host.json"))
	if err := json.Unmarshal(js, &m); err != nil || m.Path != p.Wrapper || len(m.AllowedOrigins) != 1 || m.AllowedOrigins[0] != "chrome-extension://"+install.ChromeExtensionID+"/" {
		t.Fatalf("Chromium manifest %s (%v)", js, err)
	}
	if p.Card == nil || p.Card.Kind != eidcert.CNS || p.Card.PIN != "12345678" || !strings.Contains(strings.Join(p.Launch.Args, " "), "--load-extension="+ext) {
		t.Fatalf("profile %+v", p)
	}
	if st := spawnStatus(t, p.Manifest); st.Mode != "mock" || len(st.Tokens) != 1 || st.Tokens[0].Holder != "MARIO ROSSI" || st.Tokens[0].CardKind != string(eidcert.CNS) {
		t.Fatalf("status through the registered wrapper: %+v", st)
	}

	// Running it again switches the scenario and keeps the card.
	p2 := devProfile(t, append([]string{"--browser", "chromium", "--scenario", "no-card"}, common...)...)
	if p2.Card.CAFile != p.Card.CAFile {
		t.Fatal("the card was made again")
	}
	if st := spawnStatus(t, p.Manifest); len(st.Tokens) != 0 || len(st.Readers) != 1 || st.Readers[0].CardPresent {
		t.Fatalf("no-card status: %+v", st)
	}
	if log, _ := os.ReadFile(p.Log); !strings.Contains(string(log), "scenario=no-card") {
		t.Errorf("the host log does not name the scenario: %q", log)
	}

	devProfile(t, append([]string{"--browser", "chromium", "--host", "none"}, common...)...)
	if _, err := os.Stat(p.Manifest); !os.IsNotExist(err) {
		t.Fatalf("--host none left the manifest: %v", err)
	}

	f := devProfile(t, append([]string{"--browser", "firefox"}, common...)...)
	js, _ = os.ReadFile(filepath.Join(dir, ".mozilla", "native-messaging-hosts", "it.eidlink.host.json"))
	if err := json.Unmarshal(js, &m); err != nil || len(m.AllowedExtensions) != 1 || m.AllowedExtensions[0] != install.FirefoxExtensionID || f.Launch.Env["HOME"] != dir {
		t.Fatalf("Firefox manifest %s, launch %+v", js, f.Launch)
	}
}

func TestDevProfileRealHostMakesAVirtualCard(t *testing.T) {
	testenv.NeedSoftHSM(t)
	tmp := t.TempDir()
	ext := filepath.Join(tmp, "ext")
	os.MkdirAll(ext, 0o755)
	os.WriteFile(filepath.Join(ext, "manifest.json"), []byte("{}"), 0o644)
	host := filepath.Join(tmp, "eidlink-host")
	os.WriteFile(host, nil, 0o755)
	p := devProfile(t, "--browser", "chromium", "--dir", filepath.Join(tmp, "p"), "--host", "real", "--extension", ext, "--host-bin", host)
	env, _ := os.ReadFile(p.EnvFile)
	if p.Card == nil || p.Card.Kind != eidcert.CIE || !strings.Contains(string(env), "SOFTHSM2_CONF="+filepath.Join(p.Card.Dir, "softhsm2.conf")+"\n") {
		t.Fatalf("profile %+v, env %s", p, env)
	}
	if wrapper, _ := os.ReadFile(p.Wrapper); !strings.Contains(string(wrapper), "exec "+host+" ") {
		t.Fatalf("wrapper %s", wrapper)
	}
	// The profile's host has a service of its own, in the profile.
	for k, v := range p.ServiceEnv {
		if !strings.HasPrefix(v, p.Dir+"/") || !strings.Contains(string(env), k+"="+v+"\n") {
			t.Fatalf("service env %s=%s, env file %s", k, v, env)
		}
	}
	if len(p.ServiceEnv) != 2 || strings.Contains(string(env), "EIDLINK_SERVICE=") {
		t.Fatalf("service env %v, env file %s", p.ServiceEnv, env)
	}
}

func TestDevProfileUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--dir", "x"},
		{"--browser", "safari", "--dir", "x"},
		{"--browser", "chromium"},
		{"--browser", "chromium", "--dir", "x", "--host", "real", "--scenario", "ok"},
		{"--browser", "chromium", "--dir", "x", "--scenario", "nope"},
	} {
		if code, _, _ := run(t, "", append([]string{"dev-profile"}, args...)...); code != 2 {
			t.Errorf("dev-profile %v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := run(t, "", "dev-profile", "--browser", "chromium", "--dir", t.TempDir(), "--extension", t.TempDir()); code != 1 || !strings.Contains(errOut, "make extension") {
		t.Errorf("missing extension: %d %s", code, errOut)
	}
}
