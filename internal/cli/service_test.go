package cli

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/osservice"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/service"
)

func TestServiceUnit(t *testing.T) {
	want, _ := osservice.Unit(osservice.UnitSystemd, "eidlink", "/usr/bin/eidlink")
	if code, out, errOut := run(t, "", "service", "unit", "--systemd"); code != 0 || out != string(want) || !strings.Contains(out, "ExecStart=/usr/bin/eidlink service run\n") {
		t.Fatalf("unit --systemd: %d %s %s", code, out, errOut)
	}
	if code, out, _ := run(t, "", "service", "unit", "--launchd", "--exec", "/opt/eidlink"); code != 0 || !strings.Contains(out, "<string>/opt/eidlink</string>") {
		t.Fatalf("unit --launchd: %d %s", code, out)
	}
	for _, args := range [][]string{
		{"service"}, {"service", "bogus"}, {"service", "unit"}, {"service", "unit", "--systemd", "--launchd"},
		{"service", "unit", "--systemd", "extra"}, {"service", "status", "--listen", "tcp:127.0.0.1:1"},
		{"service", "run", "--listen", "tcp:8.8.8.8:1"}, {"service", "unit", "--systemd-system"},
		{"service", "start", "--system"}, {"service", "stop", "--system"},
	} {
		if code, _, errOut := run(t, "", args...); code != 2 || !strings.HasPrefix(errOut, "eidlink: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// There is no system-wide service to run: a unit of an older version
// that asks for one gets a clear error.
func TestServiceRunSystem(t *testing.T) {
	if code, _, errOut := run(t, "", "service", "run", "--system"); code != 1 || !strings.Contains(errOut, "there is no system-wide eidlink service: each user runs their own") {
		t.Fatalf("service run --system: %d %s", code, errOut)
	}
}

// status and doctor say whose service the host talks to (the user's own,
// the only kind), or why none answers.
func TestServiceStatus(t *testing.T) {
	me := currentUserName(t)
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Mkdir(filepath.Join(dir, "run"), 0o700)
	if code, _, errOut := run(t, "", "service", "status"); code != 1 || !strings.Contains(errOut, "does not answer") || !strings.Contains(errOut, "hint: ") {
		t.Fatalf("status without a service: %d %s", code, errOut)
	}
	st := &protocol.Status{}
	if serviceStatus(context.Background(), st); st.Service == nil || st.Service.Running || st.Service.User != me {
		t.Fatalf("serviceStatus without a service: %+v", st.Service)
	}
	key := filepath.Join(dir, "config", "eidlink", "service.key")
	saysService(t, "none of "+me+"'s answers: no eidlink service has run for this user (no "+key+")", "[info] the eidlink service: none of "+me+"'s answers")
	paths, _ := ipc.PathsFor(ipc.DefaultName)
	cfg, closeProvider := HostConfig()
	defer closeProvider()
	srv, err := service.Listen(service.Config{Command: cfg, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop()
	code, out, errOut := run(t, "", "service", "status")
	if code != 0 || !strings.Contains(out, "endpoint\tunix:"+filepath.Join(dir, "run", "eidlink", "service.sock")) || !strings.Contains(out, "version\t"+protocol.Version) {
		t.Fatalf("status with the service: %d %s %s", code, out, errOut)
	}
	st = &protocol.Status{}
	if serviceStatus(context.Background(), st); st.Service == nil || !st.Service.Running || st.Service.Endpoint != srv.Endpoint().String() || st.Service.User != me {
		t.Fatalf("serviceStatus with the service: %+v", st.Service)
	}
	saysService(t, me+"'s own, running "+protocol.Version+" at "+srv.Endpoint().String(), "[ok  ] the eidlink service: "+me+"'s own")
	stop()
	saysService(t, "none of "+me+"'s answers: no eidlink service listens on "+srv.Endpoint().String(), "[info] the eidlink service: none of")
}

// saysService checks the service line of "eidlink status" and of
// "eidlink doctor".
func saysService(t *testing.T, status, doctor string) {
	t.Helper()
	if _, out, _ := run(t, "", "status"); !strings.Contains(out, status) {
		t.Errorf("status says:\n%s\nwant the service: %s", out, status)
	}
	if _, out, _ := run(t, "", "doctor"); !strings.Contains(out, doctor) {
		t.Errorf("doctor says:\n%s\nwant: %s", out, doctor)
	}
}

func currentUserName(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
