package cli

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/install"
	"github.com/eidlink/eidlink/internal/protocol"
)

func (e *env) install(args []string) error {
	fs := e.newFlags("install")
	scope := scopeFlags(fs)
	browsers := fs.String("browsers", "", "browsers, comma separated (default all): "+strings.Join(install.Browsers, ","))
	parts := fs.String("parts", "", "what to write, comma separated: hosts,pkcs11,nss,policies (default hosts,pkcs11 and, for --user, nss)")
	policies := fs.Bool("policies", false, "also write the certificate auto-selection policies (with --system)")
	hostPath := fs.String("host-path", "", "absolute path of eidlink-host (default: next to eidlink)")
	module := fs.String("pkcs11-module", "", "absolute path of eidlink's PKCS#11 module (default: next to eidlink, else where the packages put it)")
	userDataDir := fs.String("user-data-dir", "", "Chromium-family profile directory (as --user-data-dir) to install the host manifest into")
	var issuers []string
	fs.Func("issuer-cn", "auto-select only certificates from this issuer CN (repeatable; default from the config file, else any)", func(s string) error {
		issuers = append(issuers, s)
		return nil
	})
	var firefoxCerts []string
	fs.Func("firefox-cert", "a card's certificate (PEM or DER file) that Firefox sends without asking to the sites of its card kind (repeatable; --user, Firefox closed)", func(s string) error {
		firefoxCerts = append(firefoxCerts, s)
		return nil
	})
	firefoxCards := fs.Bool("firefox-cards", false, "as --firefox-cert, with the authentication certificates of the cards inserted now (no PIN, no file)")
	testCA := fs.Bool("test-ca", false, "with the policies, also auto-select certificates of eidlink's test CAs on 127.0.0.1 and localhost (development and tests)")
	root := fs.String("root", "", "stage a --system install's files under this directory (package builds)")
	dryRun := fs.Bool("dry-run", false, "print what would change, change nothing")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	o, err := installOptions(scope, *browsers, *dryRun)
	if err != nil {
		return err
	}
	o.Parts = install.DefaultParts(o.Scope)
	if *parts != "" {
		o.Parts = install.Parts{}
		for _, p := range strings.Split(*parts, ",") {
			switch p {
			case "hosts":
				o.Parts.Hosts = true
			case "pkcs11":
				o.Parts.PKCS11 = true
			case "nss":
				o.Parts.NSS = true
			case "policies":
				o.Parts.Policies = true
			default:
				return usagef("unknown part %q in --parts: choose among hosts, pkcs11, nss, policies", p)
			}
		}
	}
	o.Parts.Policies = o.Parts.Policies || *policies
	o.HostPath, o.UserDataDir, o.Root = *hostPath, *userDataDir, *root
	if o.HostPath == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.HostPath = filepath.Join(filepath.Dir(exe), "eidlink-host"+filepath.Ext(exe))
	}
	if o.Module = *module; o.Module == "" {
		o.Module = ownModule()
	}
	configFile, _ := cryptoki.DefaultConfigFile()
	o.Vendor = Modules(configFile)
	if o.AutoSelect, err = install.LoadAutoSelect(configFile); err != nil {
		return err
	}
	if issuers != nil {
		o.AutoSelect.IssuerCNs = issuers
	}
	o.AutoSelect.Dev = *testCA
	for _, f := range firefoxCerts {
		cert, err := readCertificate(f)
		if err != nil {
			return usagef("--firefox-cert %s: %v", f, err)
		}
		o.FirefoxCerts = append(o.FirefoxCerts, cert)
	}
	if *firefoxCards {
		certs, err := e.cardCertificates(context.Background())
		if err != nil {
			return err
		}
		o.FirefoxCerts = append(o.FirefoxCerts, certs...)
	}
	notes, err := install.Install(o, e.stdout)
	for _, n := range notes {
		e.errorf("note: %s", n)
	}
	if err != nil {
		return e.installError("install", err)
	}
	if o.DryRun {
		e.errorf("dry run: nothing changed")
	} else if o.Root == "" {
		e.hint("restart the browsers so that they see the changes")
	}
	return nil
}

func (e *env) uninstall(args []string) error {
	fs := e.newFlags("uninstall")
	scope := scopeFlags(fs)
	browsers := fs.String("browsers", "", "remove only what was installed for these browsers, comma separated")
	dryRun := fs.Bool("dry-run", false, "print what would change, change nothing")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	o, err := installOptions(scope, *browsers, *dryRun)
	if err != nil {
		return err
	}
	if err := install.Uninstall(o, e.stdout); err != nil {
		return e.installError("uninstall", err)
	}
	if o.DryRun {
		e.errorf("dry run: nothing changed")
	}
	return nil
}

// ownModule is where eidlink's own PKCS#11 module is for this eidlink
// program (install.FindModule).
func ownModule() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return install.FindModule(runtime.GOOS, filepath.Dir(exe))
}

// Modules lists the card software's PKCS#11 modules present on this
// machine, as install and install.Check take them.
func Modules(configFile string) []install.Module {
	found, _ := cryptoki.Discover(configFile)
	var mods []install.Module
	for _, m := range found {
		if m.Present {
			mods = append(mods, install.Module{Name: m.Name, Path: m.Path})
		}
	}
	return mods
}

type scopeFlag struct{ user, system *bool }

func scopeFlags(fs *flag.FlagSet) scopeFlag {
	return scopeFlag{
		user:   fs.Bool("user", false, "for the current user (the default)"),
		system: fs.Bool("system", false, "for every user of the machine (as administrator)"),
	}
}

func installOptions(s scopeFlag, browsers string, dryRun bool) (install.Options, error) {
	o := install.Options{Scope: install.User, DryRun: dryRun}
	switch {
	case *s.user && *s.system:
		return o, usagef("choose --user or --system, not both")
	case *s.system:
		o.Scope = install.System
	}
	if browsers != "" {
		o.Browsers = strings.Split(browsers, ",")
	}
	return o, nil
}

// installError prints an install.Error with its fix.
func (e *env) installError(cmd string, err error) error {
	var ie *install.Error
	if !errors.As(err, &ie) {
		return err
	}
	e.errorf("%s", ie.Message)
	e.hint("%s", ie.Fix)
	if runtime.GOOS != "windows" && os.Geteuid() != 0 && strings.Contains(ie.Fix, "administrator") {
		e.hint("on Linux and macOS: sudo eidlink %s --system", cmd)
	}
	return fmt.Errorf("%s did not finish", cmd)
}

// readCertificate reads an X.509 certificate from a PEM or DER file.
func readCertificate(file string) (*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	return x509.ParseCertificate(data)
}

// cardCertificates reads the authentication certificates of the cards
// inserted now through the card code "eidlink status" uses: no PIN, as
// the certificate is public. A card in a reader that shows it only after
// its PIN is left out with a note.
func (e *env) cardCertificates(ctx context.Context) ([]*x509.Certificate, error) {
	cfg, r := hostConfig()
	defer r.pkcs11.Close()
	var certs []*x509.Certificate
	for _, s := range r.Slots(ctx) {
		if s.Card != nil && !slices.ContainsFunc(certs, s.Card.Cert.Equal) {
			certs = append(certs, s.Card.Cert)
		}
	}
	st := &protocol.Status{}
	st.Modules, st.Tokens = r.Status(ctx)
	cfg.Status(ctx, st) // the readers, and the cards in them
	for _, rd := range st.Readers {
		shown := slices.ContainsFunc(certs, func(c *x509.Certificate) bool {
			return rd.CodiceFiscale != "" && eidcert.HolderOf(c).CodiceFiscale == rd.CodiceFiscale
		})
		if rd.CardPresent && (rd.CardKind == string(eidcert.CIE) || rd.CardKind == string(eidcert.CNS)) && !shown {
			e.errorf("note: the %s in %s shows no authentication certificate without its PIN: left out", strings.ToUpper(rd.CardKind), rd.Name)
		}
	}
	if len(certs) == 0 {
		e.hint("insert the CNS in the reader, or lay the CIE on the contactless reader, and run the command again")
		return nil, errors.New("--firefox-cards: no card with an authentication certificate is inserted")
	}
	return certs, nil
}
