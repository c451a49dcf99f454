//go:build unix

package service

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/ipc/ipcserver"
	"github.com/eidlink/eidlink/internal/testenv"
)

// A web page in a real browser cannot open a WebSocket to the service.
func TestBrowserIsRefused(t *testing.T) {
	testenv.NeedFile(t, "/usr/bin/chromium", "chromium")
	ts := startService(t, nil, nil, "tcp:127.0.0.1:0")
	results := make(chan string, 1)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/result" {
			select {
			case results <- r.URL.Query().Get("r"):
			default:
			}
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>probe</title><script>
let opened = false;
const ws = new WebSocket("ws://%s/");
ws.onopen = () => { opened = true; fetch("/result?r=open"); };
ws.onclose = (e) => { if (!opened) fetch("/result?r=closed-" + e.code); };
</script>`, ts.Endpoint().Address)
	}))
	defer page.Close()
	profile, err := os.MkdirTemp("", "eidlink-chromium")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, page.URL+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Killed, Chromium leaves its singleton directory in TMPDIR: keep it
	// in the profile, which goes.
	cmd.Env = append(os.Environ(), "TMPDIR="+profile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium (apt-get install chromium): %v", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		os.RemoveAll(profile)
	}()
	select {
	case r := <-results:
		if r != "closed-1006" {
			t.Fatalf("the page's WebSocket: %s, want closed-1006 (refused)", r)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the page reported nothing; chromium said: %s", stderr.String())
	}
	if r := ts.refused.list(); !slices.Contains(r, ipcserver.RefusedOrigin) || slices.Contains(r, ipcserver.RefusedSecret) {
		t.Fatalf("refusals %v: want the Origin header refused (before the secret is checked)", r)
	}
}
