package demosite

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/eidlink/eidlink/relyingparty"
	"github.com/redis/go-redis/v9"
)

// Options configures Run.
type Options struct {
	Addr   string   // listen address, "127.0.0.1:8443"
	Origin string   // the site's origin; "" derives it from Addr
	CAs    []string // PEM files of trusted card CAs
	HTTP   bool     // plain HTTP (the extension's developer mode)
	// CertOut, if set, receives the generated self-signed TLS certificate
	// (PEM) so clients can trust it.
	CertOut string
	// NonceStore is "memory" (or "") for an in-memory store, or a Redis
	// URL, redis://[:password@]host:port/db, shared by several sites.
	NonceStore string
	Log        *slog.Logger
	// Ready, if set, is called with the origin once the site listens.
	Ready func(origin string)
}

// Run serves the demo site until ctx is done.
func Run(ctx context.Context, o Options) error {
	roots, err := relyingparty.LoadCertPool(o.CAs...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	scheme := "https"
	if o.HTTP {
		scheme = "http"
	}
	if o.Origin == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		o.Origin = fmt.Sprintf("%s://localhost:%s", scheme, port)
	}
	v, err := relyingparty.New(relyingparty.Config{Roots: roots, AllowLoopbackHTTP: o.HTTP})
	if err != nil {
		ln.Close()
		return err
	}
	nonces, closeNonces, err := openNonceStore(ctx, o.NonceStore)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeNonces()
	srv := &http.Server{Handler: New(o.Origin, v, nonces, o.Log).Handler(), ReadHeaderTimeout: 10 * time.Second}
	if !o.HTTP {
		cert, err := selfSigned(o.CertOut)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if o.Ready != nil {
		o.Ready(o.Origin)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openNonceStore opens the store spec names (see Options.NonceStore) and
// returns the function that closes it. A Redis that does not answer now
// is a configuration error; one that stops answering later fails logins
// closed.
func openNonceStore(ctx context.Context, spec string) (relyingparty.NonceStore, func(), error) {
	if spec == "" || spec == "memory" {
		return relyingparty.NewMemoryNonceStore(0), func() {}, nil
	}
	if !strings.HasPrefix(spec, "redis://") && !strings.HasPrefix(spec, "rediss://") {
		return nil, nil, fmt.Errorf("nonce store %q: want memory or redis://host:port/db", spec)
	}
	opt, err := redis.ParseURL(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("nonce store: %w", err)
	}
	c := redis.NewClient(opt)
	ping, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(ping).Err(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("nonce store %s: Redis does not answer: %w", opt.Addr, err)
	}
	return relyingparty.NewRedisNonceStore(c, 0, "eidlink-demo:nonce:"), func() { c.Close() }, nil
}

// selfSigned makes a TLS certificate for localhost, 127.0.0.1 and ::1,
// written as PEM to out when out is not empty.
func selfSigned(out string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "eidlink demo (localhost)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if out != "" {
		if err := os.WriteFile(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
