// Command eidlink-demo runs the demo relying party: a local site styled
// after the MyINPS login page (marked as a demo, not INPS) whose CIE and
// CNS tabs log in with eidlink.
//
//	eidlink-demo --ca card/ca.pem [--addr 127.0.0.1:8443] [--http] [--cert-out FILE]
//	             [--nonce-store memory|redis://host:port/db]
//	eidlink-demo --tls-replicas --ca card/ca.pem [--cie-ca FILE] [--cns-ca FILE] [--cert-out server-ca.pem]
//
// --tls-replicas serves instead the local replicas of the TLS
// client-certificate logins (package tlsreplica: the CIE identity
// provider's "Prosegui con computer", INPS's CNS "Procedi") and prints
// their addresses as one JSON line; --cert-out receives their server CA.
// The --ca CAs are trusted by both sites, --cie-ca and --cns-ca by one.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/eidlink/eidlink/internal/demosite"
	"github.com/eidlink/eidlink/internal/tlsreplica"
)

func main() {
	var o demosite.Options
	var cas, cieCAs, cnsCAs multi
	flag.StringVar(&o.Addr, "addr", "127.0.0.1:8443", "listen address")
	flag.StringVar(&o.Origin, "origin", "", "the site's origin (default: from --addr, host localhost)")
	flag.Var(&cas, "ca", "PEM file of trusted card CAs (repeatable), e.g. a test card's ca.pem")
	flag.BoolVar(&o.HTTP, "http", false, "serve plain HTTP (needs the extension's developer mode)")
	flag.StringVar(&o.CertOut, "cert-out", "", "write the generated TLS certificate (PEM) here")
	flag.StringVar(&o.NonceStore, "nonce-store", "memory", "where challenge nonces live: memory, or redis://host:port/db to share them between instances")
	flag.Var(&cieCAs, "cie-ca", "with --tls-replicas: a CA file trusted by the CIE identity provider only (repeatable)")
	flag.Var(&cnsCAs, "cns-ca", "with --tls-replicas: a CA file trusted by INPS's CNS login only (repeatable)")
	replicas := flag.Bool("tls-replicas", false, "serve the replicas of the TLS client-certificate logins instead (CIE identity provider, INPS CNS)")
	flag.Parse()
	if len(cas) == 0 && (!*replicas || len(cieCAs)+len(cnsCAs) == 0) {
		fmt.Fprintln(os.Stderr, "eidlink-demo: --ca is required (the test card's ca.pem, or your CA file)")
		os.Exit(2)
	}
	o.CAs = cas
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.Ready = func(origin string) { fmt.Printf("eidlink-demo: serving %s\n", origin) }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := func() error { return demosite.Run(ctx, o) }
	if *replicas {
		run = func() error {
			return tlsreplica.Run(ctx, tlsreplica.Options{CAs: cas, CIECAs: cieCAs, CNSCAs: cnsCAs, CAOut: o.CertOut, Log: o.Log, Ready: func(s tlsreplica.Sites) {
				j, _ := json.Marshal(s)
				fmt.Printf("eidlink-demo: tls replicas %s\n", j)
			}})
		}
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "eidlink-demo:", err)
		os.Exit(1)
	}
}

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
