package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/host/protocol"
	"github.com/eidlink/eidlink/host/service"
)

func TestServiceUnit(t *testing.T) {
	want, _ := service.Unit(service.UnitSystemd, "eidlink", "/usr/bin/eidlink")
	if code, out, errOut := run(t, "", "service", "unit", "--systemd"); code != 0 || out != string(want) || !strings.Contains(out, "ExecStart=/usr/bin/eidlink service run\n") {
		t.Fatalf("unit --systemd: %d %s %s", code, out, errOut)
	}
	if code, out, _ := run(t, "", "service", "unit", "--launchd", "--exec", "/opt/eidlink"); code != 0 || !strings.Contains(out, "<string>/opt/eidlink</string>") {
		t.Fatalf("unit --launchd: %d %s", code, out)
	}
	for _, args := range [][]string{
		{"service"}, {"service", "bogus"}, {"service", "unit"}, {"service", "unit", "--systemd", "--launchd"},
		{"service", "unit", "--systemd", "extra"}, {"service", "status", "--listen", "tcp:127.0.0.1:1"},
		{"service", "run", "--listen", "tcp:8.8.8.8:1"},
	} {
		if code, _, errOut := run(t, "", args...); code != 2 || !strings.HasPrefix(errOut, "eidlink: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestServiceStatus(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_RUNTIME_DIR", filepath.Join(dir, "run"))
	os.Mkdir(filepath.Join(dir, "run"), 0o700)
	if code, _, errOut := run(t, "", "service", "status"); code != 1 || !strings.Contains(errOut, "does not answer") || !strings.Contains(errOut, "hint: ") {
		t.Fatalf("status without a service: %d %s", code, errOut)
	}
	st := &protocol.Status{}
	if serviceStatus(context.Background(), st); st.Service == nil || st.Service.Running {
		t.Fatalf("serviceStatus without a service: %+v", st.Service)
	}
	paths, _ := service.PathsFor(service.DefaultName, false)
	cfg, closeProvider := HostConfig()
	defer closeProvider()
	srv, err := service.Listen(service.Config{Command: cfg, Paths: paths})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	code, out, errOut := run(t, "", "service", "status")
	if code != 0 || !strings.Contains(out, "endpoint\tunix:"+filepath.Join(dir, "run", "eidlink", "service.sock")) || !strings.Contains(out, "version\t"+protocol.Version) {
		t.Fatalf("status with the service: %d %s %s", code, out, errOut)
	}
	st = &protocol.Status{}
	if serviceStatus(context.Background(), st); st.Service == nil || !st.Service.Running || st.Service.Endpoint != srv.Endpoint().String() {
		t.Fatalf("serviceStatus with the service: %+v", st.Service)
	}
}
