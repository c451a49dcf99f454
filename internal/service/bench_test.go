package service

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkServiceAuthenticate measures a whole login as a browser makes
// it: spawn eidlink-host, authenticate with the PIN, quit, through the
// service (which the first host starts). Run with -benchtime=20x.
func BenchmarkServiceAuthenticate(b *testing.B) {
	w := newWorld(b)
	v := verifier(b, w.card)
	var total time.Duration
	for b.Loop() {
		start := time.Now()
		h := w.host(b)
		h.recv()
		h.login(w, v)
		h.quit()
		total += time.Since(start)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/login")
}

// BenchmarkServiceRSS reports resident memory (VmRSS): of the service idle
// after start and after a login, and of the host relaying after a login.
// Run with -benchtime=1x.
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
