package cie_test

import (
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/virtualcard"
)

// The native driver on the virtual CIE through pcscd and vpcd: APDUs and
// time of the first login in a process (nothing cached), of a login with
// the family's domain and the chip key cached after reading the
// certificate on a new connection (as the provider does; the read is not
// counted), and of each further signature (ns/op). The IPZS middleware needs about 20 APDUs for a login
// and 19 for every signature (cie-protocol.md §10).
func BenchmarkCIE(b *testing.B) {
	c, _, _, h := open(b, "cie-nxp", virtualcard.Options{})
	cie.ForgetCaches()
	metrics := map[string]float64{} // reported after the loop, which resets them
	login := func(c *cie.Card, what string) {
		start, n := time.Now(), c.APDUs()
		if err := c.Login([]byte(pin)); err != nil {
			b.Fatal(err)
		}
		metrics[what+"-ms"] = float64(time.Since(start).Microseconds()) / 1000
		metrics[what+"-apdus"] = float64(c.APDUs() - n)
	}
	login(c, "first-login")
	c.Close()
	c, err := cie.New(h)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Certificate(); err != nil {
		b.Fatal(err)
	}
	login(c, "login")
	di := digestInfo("bench")
	n := c.APDUs()
	for b.Loop() {
		if _, err := c.Sign(di); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.APDUs()-n)/float64(b.N), "sign-apdus")
	for unit, v := range metrics {
		b.ReportMetric(v, unit)
	}
}
