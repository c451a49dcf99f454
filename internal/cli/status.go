package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/install"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Status collects what the host sees: the command loop's own status.
func Status(ctx context.Context) *protocol.Status {
	cfg, closeProvider := HostConfig()
	defer closeProvider()
	st := &protocol.Status{Version: cfg.Version, Mode: protocol.ModeInProcess}
	st.Modules, st.Tokens = cfg.Provider.Status(ctx)
	if cfg.Status != nil {
		cfg.Status(ctx, st)
	}
	serviceStatus(ctx, st)
	return st
}

func (e *env) status(args []string) error {
	fs := e.newFlags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	st := Status(context.Background())
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(e.stdout, st)
	return nil
}

func printStatus(w io.Writer, st *protocol.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "eidlink\t%s (%s)\n", st.Version, st.Mode)
	fmt.Fprintf(tw, "service\t%s\n", describeService(st.Service))
	if st.TLS != nil {
		fmt.Fprintf(tw, "TLS logins\t%s\n", describeTLS(st.TLS))
	}
	if st.PCSC != "" {
		fmt.Fprintf(tw, "PC/SC\t%s\n", st.PCSC)
	}
	for _, r := range st.Readers {
		card := "no card"
		if r.CardPresent {
			card = fmt.Sprintf("%s (%s) %s %s", r.CardKind, r.Family, r.Holder, r.CodiceFiscale)
			if r.Problem != "" {
				card += "; " + r.Problem
			}
		}
		fmt.Fprintf(tw, "reader\t%s\t%s\n", r.Name, card)
	}
	for _, m := range st.Modules {
		if !m.Present && m.Source == "builtin" {
			continue
		}
		state := "loaded"
		switch {
		case m.Error != "":
			state = "error: " + m.Error
		case !m.Present:
			state = "missing"
		case !m.Loaded:
			state = "not loaded"
		}
		fmt.Fprintf(tw, "module\t%s\t%s\t%s\n", m.Name, m.Path, state)
	}
	for _, t := range st.Tokens {
		tries := "?"
		if t.TriesLeft >= 0 {
			tries = fmt.Sprint(t.TriesLeft)
		}
		fmt.Fprintf(tw, "card\t%s %q\t%s %s\tPIN tries left: %s\n", t.CardKind, t.Label, t.Holder, t.CodiceFiscale, tries)
	}
	if len(st.Tokens) == 0 {
		fmt.Fprintln(tw, "card\tnone found")
	}
}

// describeService says which service the host talks to (each user's
// own), or why none.
func describeService(s *protocol.ServiceStatus) string {
	switch {
	case s == nil:
		return "not running (a host starts it when needed)"
	case s.Running:
		return fmt.Sprintf("%s's own, running %s at %s", s.User, s.Version, s.Endpoint)
	case s.Reason != "":
		return fmt.Sprintf("none of %s's answers: %s (a host starts it when needed)", s.User, s.Reason)
	}
	return "not running (a host starts it when needed)"
}

// describeTLS says whether the service signs for eidlink's PKCS#11 module
// now, and why it last refused.
func describeTLS(t *protocol.TLSStatus) string {
	d := "nothing unlocked"
	if t.Unlocked {
		d = fmt.Sprintf("a card is unlocked for %d more signatures, %d s", t.SignaturesLeft, t.ExpiresIn)
	}
	if others := t.Hosts - 1; others > 0 { // this command's own connection is one
		d += fmt.Sprintf("; %d extension connection(s) can be asked the PIN", others)
	} else {
		d += "; no extension connected to ask the PIN: a signature needs \"eidlink unlock\" first"
	}
	if t.LastRefusal != "" {
		d += "; last refused at " + t.LastRefusal
	}
	for _, label := range t.TLS12Only {
		d += "; " + label + " logs in only on sites that use TLS 1.2: TLS 1.3 needs an RSA-PSS signature, which this card cannot make (a site that requires TLS 1.3 fails with ERR_SSL_CLIENT_AUTH_NO_COMMON_ALGORITHMS in Chrome, SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT in Firefox)"
	}
	return d
}

// doctor checks each piece eidlink needs and says how to fix what fails.
func (e *env) doctor(args []string) error {
	if err := e.parse(e.newFlags("doctor"), args); err != nil {
		return err
	}
	st := Status(context.Background())
	problems := 0
	check := func(ok bool, what, fix string) {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			problems++
		}
		fmt.Fprintf(e.stdout, "[%s] %s\n", mark, what)
		if !ok && fix != "" {
			fmt.Fprintf(e.stdout, "       fix: %s\n", fix)
		}
	}
	loaded := 0
	for _, m := range st.Modules {
		if m.Loaded {
			loaded++
			check(true, fmt.Sprintf("card software %s (%s)", m.Name, m.Path), "")
		} else if m.Present {
			check(false, fmt.Sprintf("card software %s (%s) does not load: %s", m.Name, m.Path, m.Error),
				"reinstall it, or remove it from EIDLINK_PKCS11_MODULE / the eidlink config file")
		}
	}
	check(loaded > 0, "a PKCS#11 module for CIE or CNS is installed",
		"install the CIE middleware (IPZS) for a CIE, your card's middleware or OpenSC (apt-get install opensc) for a CNS")
	check(st.PCSC == "", "the smart-card service (PC/SC) answers",
		st.PCSC+"; Linux: apt-get install pcscd and start it (systemctl start pcscd.socket); Windows and macOS: it is part of the system")
	if s := st.Service; s != nil && s.Running {
		check(true, "the eidlink service: "+describeService(s), "")
		if st.TLS != nil {
			fmt.Fprintf(e.stdout, "[info] TLS logins (eidlink's PKCS#11 module): %s\n", describeTLS(st.TLS))
		}
	} else {
		fmt.Fprintf(e.stdout, "[info] the eidlink service: %s\n       suggestion: %s\n", describeService(s),
			"start your own with \"eidlink service start\" (after \"eidlink service install\"), or leave it: eidlink-host works without it, "+
				"but TLS logins through eidlink's PKCS#11 module need it (without it the module shows no cards)")
	}
	usable := 0
	for _, t := range st.Tokens {
		if t.HasAuthKey {
			usable++
			check(!t.PINLocked, fmt.Sprintf("%s card of %s %s: PIN tries left %d", t.CardKind, t.Holder, t.CodiceFiscale, t.TriesLeft),
				"the PIN is blocked: unblock it with the PUK using the card's software")
		}
	}
	check(usable > 0, "a card with an authentication certificate is present",
		"insert the CNS in the reader, or lay the CIE on the contactless reader")
	for _, r := range st.Readers {
		if r.Problem != "" {
			check(false, fmt.Sprintf("card in %s (%s)", r.Name, r.Family), r.Problem)
		}
	}
	configFile, _ := cryptoki.DefaultConfigFile()
	for _, f := range install.Check(install.User, ownModule(), Modules(configFile)) {
		if f.Optional && !f.OK {
			fmt.Fprintf(e.stdout, "[info] %s\n       suggestion: %s\n", f.What, f.Fix)
			continue
		}
		check(f.OK, f.What, f.Fix)
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) found", problems)
	}
	fmt.Fprintln(e.stdout, "everything needed for a login is in place")
	return nil
}
