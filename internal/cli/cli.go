// Package cli implements the eidlink command line (cmd/eidlink) and the
// configuration shared with the native host (cmd/eidlink-host).
//
// Output rules: results go to stdout (JSON where a program reads them);
// everything for the person goes to stderr, prefixed "eidlink: ", lower
// case, no trailing period; hints say what to do next as "eidlink: hint: ".
// Exit status 0 is success, 1 a failure, 2 a usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/logging"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/reader"
)

const usage = `eidlink: sign in to Italian public services with your CIE or CNS

Usage:
  eidlink authenticate --origin ORIGIN --nonce NONCE   sign a login challenge, print the token
  eidlink unlock [--card CARD] [--origin ORIGIN] [--wait DURATION]
                                                       unlock the card for a TLS login (eidlink's PKCS#11
                                                       module): a minute, a few signatures; CARD (kind,
                                                       slot or label) chooses among several cards
  eidlink verify --origin ORIGIN --nonce NONCE --ca FILE [TOKEN_FILE|-]
                                                       check a token, print the holder
  eidlink status [--json]                              readers, cards and card software
  eidlink doctor                                       check the installation, say what to fix
  eidlink install [--user|--system] [--browsers LIST] [--policies] [--dry-run]
                                                       let the browsers find eidlink and the card
  eidlink uninstall [--user|--system] [--dry-run]      remove what install wrote
  eidlink testcard init --dir DIR [--type cie|cns] [--pin PIN]
                        [--given-name NAME --surname NAME --cf CODICEFISCALE]
                                                       create a virtual card (SoftHSM2)
  eidlink service install|uninstall|start|stop|status|run|unit [--system]
                                                       your own card service; --system: for every user
  eidlink cie check [--reader NAME]                     the native CIE driver's login steps that spend
                                                       no PIN try, with what the card answered
  eidlink dev-profile --browser chromium|firefox --dir DIR [--host mock|real|none] [--scenario NAME] [--card-dir DIR]
                                                       a browser profile with the extension and a mock or virtual-card host
  eidlink version

Environment:
  EIDLINK_PKCS11_MODULE    PKCS#11 module(s) to use first (list separated by ':' or ';')
  EIDLINK_DEVELOPER_MODE   1 to accept http://localhost origins
  EIDLINK_CONFIG_DIR       the service's secret here, not in ~/.config/eidlink (test profiles)
  EIDLINK_RUNTIME_DIR      the service's socket, pid and locks here, not in $XDG_RUNTIME_DIR/eidlink
  EIDLINK_LOG              debug, info, warn (default) or error
  EIDLINK_CIE_DRIVER       eidlink: the native CIE driver; ipzs: the IPZS module (default: native unless IPZS is installed)
  EIDLINK_APDU_TRACE       FILE: append the native CIE driver's APDUs (PIN bytes and MACs redacted)
`

// Main runs the command line and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmds := map[string]func([]string) error{
		"authenticate": e.authenticate,
		"unlock":       e.unlock,
		"verify":       e.verify,
		"status":       e.status,
		"doctor":       e.doctor,
		"install":      e.install,
		"uninstall":    e.uninstall,
		"testcard":     e.testcard,
		"dev-profile":  e.devProfile,
		"service":      e.service,
		"cie":          e.cie,
		"version":      func([]string) error { fmt.Fprintln(stdout, protocol.Version); return nil },
	}
	run, ok := cmds[args[0]]
	if !ok {
		if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(stdout, usage)
			return 0
		}
		e.errorf("unknown command %q", args[0])
		e.hint("run \"eidlink help\" for the commands")
		return 2
	}
	err := run(args[1:])
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		e.errorf("%v", err)
		return 2
	}
	e.report(err)
	return 1
}

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "eidlink: "+format+"\n", args...)
}

func (e *env) hint(format string, args ...any) {
	fmt.Fprintf(e.stderr, "eidlink: hint: "+format+"\n", args...)
}

// report prints err and, for known codes, what to do about it.
func (e *env) report(err error) {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		e.errorf("%v", err)
		return
	}
	if pe.TriesLeft != nil && *pe.TriesLeft > 0 {
		e.errorf("%s: %d tries left", pe.Message, *pe.TriesLeft)
	} else {
		e.errorf("%s", pe.Message)
	}
	if h, ok := hints[pe.Code]; ok {
		e.hint("%s", h)
	}
}

var hints = map[protocol.Code]string{
	protocol.CodeNoModule:      "install the card software (CIE: the IPZS \"CIE middleware\"; CNS: your card's middleware or OpenSC), or set EIDLINK_PKCS11_MODULE; \"eidlink doctor\" shows what was searched",
	protocol.CodeNoCard:        "insert the card (CNS) or lay it on the contactless reader (CIE), then try again",
	protocol.CodeNoReader:      "connect a card reader; a CIE needs a contactless (NFC) reader",
	protocol.CodePINBlocked:    "unblock the PIN with the PUK using your card's software",
	protocol.CodeCardRemoved:   "keep the card in the reader until the operation ends, then try again",
	protocol.CodeCardError:     "keep the card in the reader until the operation ends, then try again; if it fails again, run \"eidlink doctor\"",
	protocol.CodeUserTimeout:   "run the command again and type the PIN within 5 minutes",
	protocol.CodeCardAmbiguous: "take out the cards not needed, or name the one to unlock: \"eidlink unlock --card KIND|SLOT|LABEL\" (cie or cns, a slot number or part of a label above)",
	protocol.CodePINIncorrect:  "check the PIN before trying again: the card blocks after 3 wrong tries",
}

// newFlags returns a FlagSet that reports errors through parse.
func (e *env) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("eidlink "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args: -h prints the flags, other flag errors become usage
// errors.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stderr, "Usage of %s:\n", fs.Name())
		fs.SetOutput(e.stderr)
		fs.PrintDefaults()
	} else if err != nil {
		return usageError{err}
	}
	return err
}

// HostConfig is the configuration of the native host and of the CLI's
// in-process commands: PKCS#11 discovery, developer mode and logging from
// the environment. The returned function releases the PKCS#11 modules.
func HostConfig() (command.Config, func()) {
	cfg, r := hostConfig()
	return cfg, func() { r.pkcs11.Close() }
}

// hostConfig is HostConfig with its card paths, which the service also
// presents to eidlink's PKCS#11 module (serviceConfig).
func hostConfig() (command.Config, cieRouter) {
	log := logging.New(os.Stderr)
	r := withNativeCIE(cryptoki.NewProvider(cryptoki.Config{Logger: log, Tries: reader.Tries}))
	return command.Config{
		Provider: r,
		Version:  protocol.Version,
		Options:  protocol.Options{AllowLoopbackHTTP: os.Getenv("EIDLINK_DEVELOPER_MODE") == "1"},
		Status: func(ctx context.Context, st *protocol.Status) {
			st.Readers, st.PCSC = reader.ScanKnown(ctx, st.Modules, st.Tokens, r.native.Known)
		},
		Check: reader.Check,
		Log:   log,
	}, r
}
