// Package install puts eidlink where browsers look for it, and takes it
// away again.
//
// Install writes, for the chosen scope (one user, or the whole system):
//
//   - the native-messaging host manifests that let the extension start
//     eidlink-host, in every location Chrome, Chromium, Edge, Brave and
//     Firefox read on Linux and macOS, and as files named by registry
//     keys (HKCU or HKLM) on Windows;
//   - a Firefox PKCS#11 manifest for eidlink's own PKCS#11 module
//     (libeidlink-pkcs11.so, pkcs11/), named OwnModuleName, so the
//     extension can load it with browser.pkcs11.installModule("eidlink")
//     and Firefox can use the card for TLS client authentication;
//   - on Linux, the same module registered in the user's NSS databases,
//     where Chrome and Chromium look for client certificates;
//   - optionally, for system installs only, policies: Chromium-family
//     AutoSelectCertificateForUrls for the site profiles' hosts, and
//     Firefox's SecurityDevices;
//   - optionally, for user installs, Firefox's remembered choice of a
//     card's certificate on the site profiles' hosts (firefox.go).
//
// eidlink's module presents the cards the service sees, whatever their
// card software, so the card software's own modules (IPZS CIE, OpenSC,
// CNS vendors) are never registered: a certificate offered twice makes
// the browsers ask which one. What older eidlink versions registered for
// them is removed by Install; what the person registered is left alone
// and reported by Check.
//
// Every change is recorded in a small state file, so Uninstall reverts
// exactly what Install did: files and registry values it wrote, NSS
// entries it added, policy keys it set, and directories and registry keys
// it created (removed only when empty). Installing twice changes nothing
// the second time. Check reports what is in place for "eidlink doctor".
package install

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Parts selects what Install writes.
type Parts struct {
	Hosts    bool // native-messaging host manifests
	PKCS11   bool // Firefox PKCS#11 manifests
	NSS      bool // NSS database entries (Linux, user scope)
	Policies bool // browser policies (system scope)
}

// DefaultParts is what Install writes unless told otherwise: host and
// PKCS#11 manifests, plus the NSS entries for a user.
func DefaultParts(s Scope) Parts { return Parts{Hosts: true, PKCS11: true, NSS: s == User} }

// Options says what Install and Uninstall do.
type Options struct {
	Scope Scope
	// Browsers to install for, a subset of Browsers; nil means all.
	// Uninstall with Browsers set removes only what was installed for them.
	Browsers []string
	Parts    Parts
	// HostPath is the absolute path of eidlink-host.
	HostPath string
	// UserDataDir, for user installs, is a Chromium-family profile
	// directory (as given to --user-data-dir): the host manifest of each
	// Chromium-family browser goes in UserDataDir/NativeMessagingHosts
	// instead of the browser's default profile.
	UserDataDir string
	// Module is the absolute path of eidlink's own PKCS#11 module
	// (FindModule). When it is not a file nothing is registered for it.
	Module string
	// Vendor is the card software found on the machine. It is never
	// registered; Install notes where it is registered already.
	Vendor     []Module
	AutoSelect AutoSelect
	// FirefoxCerts are card certificates that Firefox, in each of the
	// user's profiles, sends without asking to the site profiles' hosts
	// for their card kind (and, with AutoSelect.Dev, test certificates to
	// the demo hosts), as if the person had chosen them there and ticked
	// "Remember this decision". User installs only, Firefox closed.
	FirefoxCerts []*x509.Certificate
	// Root, for system installs on Linux and macOS, stages the files under
	// Root (a package build) and does nothing else: no state, no NSS.
	Root   string
	DryRun bool
}

// Module is a card's PKCS#11 library, as cryptoki.Discover lists them.
type Module struct {
	Name string // "IPZS CIE", "OpenSC", ...
	Path string // absolute path of the library
}

// Error is an install failure that needs the person to act.
type Error struct {
	Message string // what went wrong
	Fix     string // what to do about it
}

func (e *Error) Error() string { return e.Message }

// Install makes the changes o describes, writing one line per change to
// w (with DryRun, only the lines). It returns notes for the person about
// what it could not do (an NSS database missing, a module already there).
func Install(o Options, w io.Writer) (notes []string, err error) {
	defer func() { err = needAdmin(err) }()
	if err := o.validate(); err != nil {
		return nil, err
	}
	d, err := envDirs()
	if err != nil {
		return nil, err
	}
	return install(o, locate(runtime.GOOS, o.Scope, d), ownerFor(o.Scope, d.home), w)
}

func install(o Options, l layout, own owner, w io.Writer) ([]string, error) {
	acts, notes := plan(o, l, runtime.GOOS)
	if o.Root != "" {
		return notes, stage(o.Root, acts, w, o.DryRun)
	}
	a, err := newApplier(l.state, own)
	if err != nil {
		return notes, err
	}
	if !o.DryRun {
		if err := a.mkdirs(filepath.Dir(l.state), ""); err != nil {
			return notes, err
		}
	}
	var kept []record
	for _, r := range a.st.Records {
		if !r.vendorModule() {
			kept = append(kept, r)
		}
	}
	for _, r := range slices.Backward(a.st.Records) {
		if !r.vendorModule() {
			continue
		}
		fmt.Fprintf(w, "%s (eidlink's own module replaces it)\n", r)
		if o.DryRun {
			continue
		}
		if err := a.revert(r); err != nil {
			return notes, errors.Join(err, a.save())
		}
	}
	if !o.DryRun {
		a.st.Records = kept
	}
	for _, act := range acts {
		fmt.Fprintln(w, act)
		if o.DryRun {
			continue
		}
		note, err := a.apply(act)
		if note != "" {
			notes = append(notes, note)
		}
		if err != nil {
			return notes, errors.Join(err, a.save())
		}
	}
	if o.Parts.NSS {
		for _, db := range l.nssDBs {
			for _, m := range doubles(db, o.Module, o.Vendor) {
				notes = append(notes, fmt.Sprintf("NSS database %s also has %q (%s): %s", db, m.Name, m.Path, doubleFix(db, m.Name)))
			}
		}
	}
	if o.DryRun {
		return notes, nil
	}
	return notes, a.save()
}

// Uninstall reverts what Install recorded for o.Scope (only what it did
// for o.Browsers when that is set), writing one line per change to w.
func Uninstall(o Options, w io.Writer) (err error) {
	defer func() { err = needAdmin(err) }()
	if err := o.validateScope(); err != nil {
		return err
	}
	d, err := envDirs()
	if err != nil {
		return err
	}
	return uninstall(o, locate(runtime.GOOS, o.Scope, d), ownerFor(o.Scope, d.home), w)
}

func uninstall(o Options, l layout, own owner, w io.Writer) error {
	a, err := newApplier(l.state, own)
	if err != nil {
		return err
	}
	if len(a.st.Records) == 0 {
		fmt.Fprintf(w, "nothing to remove: eidlink has no %s install recorded in %s\n", o.Scope, l.state)
		return nil
	}
	all := o.Browsers == nil
	if all && !o.DryRun {
		if err := os.Remove(l.state); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	var keep []record
	var errs []error
	for _, r := range slices.Backward(a.st.Records) {
		if !all && (r.Browser == "" || !slices.Contains(o.Browsers, r.Browser)) {
			keep = append(keep, r)
			continue
		}
		fmt.Fprintln(w, r)
		if o.DryRun {
			continue
		}
		if err := a.revert(r); err != nil {
			errs = append(errs, err)
			keep = append(keep, r)
		} else if r.Op == opDir && !all && isNotEmpty(r.Path) {
			keep = append(keep, r) // still holds what other browsers use
		}
	}
	if o.DryRun {
		return nil
	}
	slices.Reverse(keep)
	a.st.Records = keep
	if len(keep) > 0 {
		if err := a.mkdirs(filepath.Dir(l.state), ""); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, a.save())
	}
	return errors.Join(errs...)
}

// needAdmin turns a permission error into an Error that says how to fix it.
func needAdmin(err error) error {
	var ie *Error
	if errors.Is(err, fs.ErrPermission) && !errors.As(err, &ie) {
		return &Error{Message: err.Error(), Fix: "run the command as administrator (with sudo on Linux and macOS)"}
	}
	return err
}

func (o *Options) validateScope() error {
	if o.Scope != User && o.Scope != System {
		return fmt.Errorf("unknown scope %q", o.Scope)
	}
	for _, b := range o.Browsers {
		if !slices.Contains(Browsers, b) {
			return &Error{Message: fmt.Sprintf("unknown browser %q", b), Fix: "choose among " + strings.Join(Browsers, ", ")}
		}
	}
	return nil
}

func (o *Options) validate() error {
	if err := o.validateScope(); err != nil {
		return err
	}
	if o.Browsers == nil {
		o.Browsers = Browsers
	}
	if !filepath.IsAbs(o.HostPath) {
		return &Error{Message: fmt.Sprintf("the host path %q is not absolute", o.HostPath), Fix: "give --host-path an absolute path"}
	}
	if o.Root != "" {
		if o.Scope != System || runtime.GOOS == "windows" {
			return &Error{Message: "a staging root needs a system install on Linux or macOS", Fix: "add --system"}
		}
		return nil
	}
	if fi, err := os.Stat(o.HostPath); err != nil || fi.IsDir() {
		return &Error{Message: fmt.Sprintf("eidlink-host is not at %s", o.HostPath), Fix: "put eidlink-host next to eidlink, or give its path with --host-path"}
	}
	if o.Parts.Policies && o.Scope != System {
		return &Error{Message: "policies apply to every user of the machine", Fix: "add --system (as administrator)"}
	}
	if o.UserDataDir != "" && (o.Scope != User || !filepath.IsAbs(o.UserDataDir)) {
		return &Error{Message: "the profile directory needs a user install and an absolute path", Fix: "use --user with an absolute --user-data-dir"}
	}
	return nil
}

// stage writes the file actions under root, for a package build.
func stage(root string, acts []action, w io.Writer, dry bool) error {
	for _, act := range acts {
		if act.op != opFile {
			continue
		}
		p := filepath.Join(root, act.path)
		fmt.Fprintf(w, "write %s (%s)\n", p, act.what)
		if dry {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, act.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// state is the record of one scope's install, kept as JSON.
type state struct {
	Records []record `json:"records"`
}

// record is one change Install made, with what Uninstall needs to revert it.
type record struct {
	Op      string   `json:"op"` // opDir, opFile, opJSON, opRegKey, opReg, opNSS, opRemember
	Browser string   `json:"browser,omitempty"`
	Path    string   `json:"path"`           // directory, file, registry key, NSS database
	Name    string   `json:"name,omitempty"` // registry value, NSS module
	Keys    []string `json:"keys,omitempty"` // opJSON: the key set
	Created bool     `json:"created,omitempty"`
	// Prev, for opJSON, is the value the key had before, put back by
	// Uninstall; for opRemember, the values the entry keys had before
	// (an object, key to value).
	Prev json.RawMessage `json:"prev,omitempty"`
}

// vendorModule reports whether r registered a card software's own module
// (as eidlink did before it had its own): an NSS entry, a Firefox PKCS#11
// manifest or its registry key, a Firefox SecurityDevices entry, all named
// "eidlink_..." (ModuleName), or the global Firefox certificate
// auto-selection that went with them.
func (r record) vendorModule() bool {
	vendor := func(name string) bool { return strings.HasPrefix(name, "eidlink_") }
	switch r.Op {
	case opNSS:
		return vendor(r.Name)
	case opFile:
		base := r.Path[strings.LastIndexAny(r.Path, `/\`)+1:] // Windows paths too
		return vendor(base) && strings.HasSuffix(base, ".json")
	case opReg, opRegKey:
		_, name, ok := strings.Cut(r.Path, `\PKCS11Modules\`)
		return ok && vendor(name)
	case opJSON:
		return len(r.Keys) == 4 && r.Keys[1] == "SecurityDevices" && vendor(r.Keys[3]) ||
			len(r.Keys) == 3 && r.Keys[1] == "Preferences" && r.Keys[2] == "security.default_personal_cert"
	}
	return false
}

func (r record) String() string {
	switch r.Op {
	case opDir:
		return "remove directory " + r.Path + " if empty"
	case opJSON:
		return fmt.Sprintf("remove %s from %s", strings.Join(r.Keys, "."), r.Path)
	case opRegKey:
		return `remove registry key ` + r.Path + " if empty"
	case opReg:
		return fmt.Sprintf("delete registry value %s", regName(r.Path, r.Name))
	case opNSS:
		return fmt.Sprintf("unregister %s from NSS database %s", r.Name, r.Path)
	case opRemember:
		return "forget in " + r.Path + " the certificate choice eidlink remembered"
	}
	return "remove " + r.Path
}

func loadState(file string) (*state, error) {
	st := &state{}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("install record %s: %w", file, err)
	}
	return st, nil
}

// add records r once.
func (st *state) add(r record) {
	for _, have := range st.Records {
		if have.Op == r.Op && have.Path == r.Path && have.Name == r.Name && slices.Equal(have.Keys, r.Keys) {
			return
		}
	}
	st.Records = append(st.Records, r)
}
