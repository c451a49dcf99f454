// Command eidlink-vcard plays a virtual CIE or CNS card in a vpcd reader
// of pcscd (package vsmartcard-vpcd), for tests and demos.
//
//	eidlink-vcard --type cns-incard [--vpcd 127.0.0.1:35963] [--pin 12345678]
//	              [--cert-dir DIR] [--ca-out FILE] [--control SOCKET]
//	              [--cie-behaviour protected-files,status-outside-sm,...]
//
// The card is inserted at start (unless --removed). SIGUSR1 inserts it,
// SIGUSR2 removes it; so do the lines "insert" and "remove" written to the
// --control Unix socket, which answers each line with one line ("ok
// inserted", "ok removed", or "error: ..."); "status" answers "inserted" or
// "removed" and the PIN tries left.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/virtualcard"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "eidlink-vcard:", err)
		os.Exit(1)
	}
}

func run() error {
	names := virtualcard.TypeNames()
	var (
		typ     = flag.String("type", "", "card type: "+strings.Join(names, ", "))
		addr    = flag.String("vpcd", virtualcard.DefaultAddr, "vpcd `host:port` (35963: Virtual PCD 00 00, 35964: 00 01)")
		pin     = flag.String("pin", "12345678", "the card's PIN")
		puk     = flag.String("puk", "87654321", "the card's PUK")
		cieB    = flag.String("cie-behaviour", "", "CIE answers where real cards may differ: comma-separated protected-files, status-outside-sm, pin-per-signature, no-tries-query, dh-in-cie")
		atr     = flag.String("atr", "", "answer with this ATR (hex) instead of the type's")
		dir     = flag.String("cert-dir", "", "load key.pem, cert.pem, ca.pem from `DIR`, or generate and save them there")
		caOut   = flag.String("ca-out", "", "write the issuing test CA certificate (PEM) to `FILE`")
		control = flag.String("control", "", "control Unix `socket`: lines insert, remove, status")
		removed = flag.Bool("removed", false, "start with the card removed")
		noQA    = flag.Bool("no-quickack", false, "do not set TCP_QUICKACK (slow: ~40 ms per APDU)")
		holder  = eidcert.TestHolder
	)
	flag.StringVar(&holder.GivenName, "given-name", holder.GivenName, "holder's given name, in a generated certificate")
	flag.StringVar(&holder.Surname, "surname", holder.Surname, "holder's surname, in a generated certificate")
	flag.StringVar(&holder.CodiceFiscale, "cf", holder.CodiceFiscale, "holder's codice fiscale, in a generated certificate")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	t, ok := virtualcard.LookupType(*typ)
	if !ok {
		return fmt.Errorf("--type must be one of: %s", strings.Join(names, ", "))
	}
	opts := virtualcard.Options{PIN: []byte(*pin), PUK: []byte(*puk)}
	var err error
	if opts.CIE, err = virtualcard.ParseCIEBehaviour(*cieB); err != nil {
		return err
	}
	if *atr != "" {
		if opts.ATR, err = hex.DecodeString(strings.ReplaceAll(*atr, " ", "")); err != nil {
			return fmt.Errorf("--atr: %w", err)
		}
	}
	id, err := identity(*dir, t.Kind, holder)
	if err != nil {
		return err
	}
	opts.Identity = id
	if *caOut != "" {
		if err := os.WriteFile(*caOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.CA.Raw}), 0o644); err != nil {
			return err
		}
	}
	card, err := virtualcard.New(t.Name, opts)
	if err != nil {
		return err
	}
	slot := &virtualcard.Slot{Card: card, Addr: *addr, NoQuickAck: *noQA, Log: log}
	defer slot.Remove()
	if !*removed {
		if err := slot.Insert(); err != nil {
			return err
		}
	}
	log.Info("virtual card ready", "type", t.Name, "atr", fmt.Sprintf("%X", card.ATR()), "vpcd", *addr,
		"inserted", slot.Inserted(), "holder", id.Holder.CodiceFiscale)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *control != "" {
		l, err := listen(*control)
		if err != nil {
			return err
		}
		defer l.Close()
		go serveControl(l, slot)
	}
	sig := make(chan os.Signal, 1)
	for s := range signals {
		signal.Notify(sig, s)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-sig:
			log.Info(command(slot, signals[s]))
		}
	}
}

// identity loads the card's identity from dir, or generates one (and
// saves it in dir when dir is set).
func identity(dir string, kind eidcert.Kind, h eidcert.Holder) (*eidcert.TestIdentity, error) {
	if dir != "" {
		id, err := eidcert.LoadTestIdentity(dir, kind)
		if !errors.Is(err, fs.ErrNotExist) {
			return id, err
		}
	}
	id, err := eidcert.NewTestIdentity(kind, h)
	if err != nil || dir == "" {
		return id, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return id, id.Save(dir)
}

// listen opens the control socket, replacing a stale one.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path)
	return net.Listen("unix", path)
}

func serveControl(l net.Listener, slot *virtualcard.Slot) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				fmt.Fprintln(c, command(slot, strings.TrimSpace(sc.Text())))
			}
		}()
	}
}

// command runs one control command and returns the answer line.
func command(slot *virtualcard.Slot, cmd string) string {
	switch cmd {
	case "insert":
		if err := slot.Insert(); err != nil {
			return "error: " + err.Error()
		}
		return "ok inserted"
	case "remove":
		slot.Remove()
		return "ok removed"
	case "status":
		state := "removed"
		if slot.Inserted() {
			state = "inserted"
		}
		return fmt.Sprintf("%s tries=%d", state, slot.Card.TriesLeft())
	}
	return fmt.Sprintf("error: unknown command %q (insert, remove, status)", cmd)
}
