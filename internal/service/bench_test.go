package service

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkAuthenticate measures a whole login as a browser makes it:
// spawn eidlink-host, authenticate with the PIN, quit; once relayed to the
// service, once in-process, per iteration. Run with -benchtime=20x.
func BenchmarkServiceAuthenticate(b *testing.B) {
	w := newWorld(b)
	w.startService(b)
	inProcess := &world{card: w.card, env: append(w.env[:len(w.env):len(w.env)], "XDG_CONFIG_HOME="+filepath.Join(b.TempDir(), "none"))}
	v := verifier(b, w.card)
	login := func(w *world, mode string) time.Duration {
		start := time.Now()
		h := w.host(b)
		h.recv()
		h.login(w, v)
		h.quit()
		d := time.Since(start)
		if mode == "in-process" && !strings.Contains(h.stderr.String(), "working in-process") {
			b.Fatalf("the in-process host used the service: %s", h.stderr.String())
		}
		return d
	}
	var service, local time.Duration
	for b.Loop() {
		service += login(w, "service")
		local += login(inProcess, "in-process")
	}
	n := float64(b.N)
	b.ReportMetric(service.Seconds()*1000/n, "ms/login-service")
	b.ReportMetric(local.Seconds()*1000/n, "ms/login-in-process")
	b.ReportMetric(service.Seconds()/local.Seconds(), "service/in-process")
}

// BenchmarkRSS reports resident memory (VmRSS): of the service idle after
// start and after a login, and of the host relaying and in-process after
// a login. Run with -benchtime=1x.
func BenchmarkServiceRSS(b *testing.B) {
	for b.Loop() {
		w := newWorld(b)
		svc := w.startService(b)
		b.ReportMetric(rss(b, svc.cmd.Process.Pid), "KiB-service-idle")
		v := verifier(b, w.card)
		h := w.host(b)
		h.recv()
		h.login(w, v)
		b.ReportMetric(rss(b, h.cmd.Process.Pid), "KiB-host-relay")
		b.ReportMetric(rss(b, svc.cmd.Process.Pid), "KiB-service-after-login")
		h.quit()
		local := &world{card: w.card, env: append(w.env[:len(w.env):len(w.env)], "XDG_CONFIG_HOME="+filepath.Join(b.TempDir(), "none"))}
		h = local.host(b)
		h.recv()
		h.login(local, v)
		b.ReportMetric(rss(b, h.cmd.Process.Pid), "KiB-host-in-process")
		h.quit()
	}
}

// rss reads VmRSS from /proc/PID/status, in KiB.
func rss(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}
