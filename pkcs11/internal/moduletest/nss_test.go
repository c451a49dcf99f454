//go:build linux

package moduletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/testenv"
)

// NSS, the browsers' TLS library, logs in to a server that requires a
// client certificate with the card behind the module: it finds the
// certificate and its key without any password prompt and asks for the
// mechanism the TLS version needs (tls-bridge.md), the service signs.
func TestNSSClientAuth(t *testing.T) {
	testenv.NeedCommand(t, "tstclnt", "libnss3-tools")
	testenv.NeedCommand(t, "modutil", "libnss3-tools")
	modules(t)
	for _, tc := range []struct {
		name     string
		version  uint16
		rsaKey   bool
		rawRSA   bool
		wantMech uint64 // 0: the handshake must fail without a signature
	}{
		{"TLS1.3 RSA raw: PSS", tls.VersionTLS13, true, true, p11wire.CKM_RSA_PKCS_PSS},
		{"TLS1.2 RSA PKCS1 only", tls.VersionTLS12, true, false, p11wire.CKM_RSA_PKCS},
		{"TLS1.3 EC", tls.VersionTLS13, false, false, p11wire.CKM_ECDSA},
		{"TLS1.3 RSA PKCS1 only: no common algorithm", tls.VersionTLS13, true, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCard(t, 1, tc.rsaKey, tc.rawRSA)
			svc := newService(t, c)
			var mechs []uint64
			svc.set(func() {
				svc.sign = func(_ context.Context, req *p11wire.SignRequest) *p11wire.Response {
					svc.mu.Lock()
					mechs = append(mechs, req.Mechanism)
					svc.mu.Unlock()
					return svc.signWithCard(req)
				}
			})
			db := filepath.Join(svc.dir, "nssdb")
			if err := os.Mkdir(db, 0o700); err != nil {
				t.Fatal(err)
			}
			run(t, "certutil", "-N", "-d", "sql:"+db, "--empty-password")
			run(t, "modutil", "-force", "-dbdir", "sql:"+db, "-add", "eidlink", "-libfile", built.plain)

			got := make(chan *x509.Certificate, 1)
			addr := tlsServer(t, tc.version, got)
			host, port, _ := net.SplitHostPort(addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			v := map[uint16]string{tls.VersionTLS12: "tls1.2", tls.VersionTLS13: "tls1.3"}[tc.version]
			cmd := exec.CommandContext(ctx, "tstclnt", "-h", host, "-p", port, "-d", "sql:"+db, "-o", "-Q",
				"-V", v+":"+v, "-n", "CIE di MARIO ROSSI:CIE")
			cmd.Stdin = bytes.NewReader(nil) // a password prompt would read this and fail, not hang
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("tstclnt hung (a prompt?):\n%s", out)
			}
			var cert *x509.Certificate
			select {
			case cert = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("the server saw no handshake")
			}
			svc.mu.Lock()
			seen := append([]uint64(nil), mechs...)
			svc.mu.Unlock()
			if tc.wantMech == 0 {
				if cert != nil || len(seen) != 0 {
					t.Errorf("a PKCS#1-only card in TLS 1.3: client certificate %v, signatures %x; want neither", cert != nil, seen)
				}
				return
			}
			if err != nil {
				t.Logf("tstclnt: %v\n%s", err, out)
			}
			if cert == nil || !cert.Equal(c.cert) {
				t.Fatalf("the server did not get the card's certificate; tstclnt:\n%s", out)
			}
			if len(seen) != 1 || seen[0] != tc.wantMech {
				t.Errorf("mechanisms asked %#x, want [%#x]", seen, tc.wantMech)
			}
		})
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// tlsServer accepts one connection of the given version requiring a
// client certificate, and sends the one it got (nil if none) on got.
func tlsServer(t *testing.T, version uint16, got chan<- *x509.Certificate) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAnyClientCert, MinVersion: version, MaxVersion: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		tc := conn.(*tls.Conn)
		var cert *x509.Certificate
		if tc.Handshake() == nil {
			if peers := tc.ConnectionState().PeerCertificates; len(peers) > 0 {
				cert = peers[0]
			}
		}
		got <- cert
	}()
	return ln.Addr().String()
}
