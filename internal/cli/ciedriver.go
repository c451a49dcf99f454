package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/eidlink/eidlink/internal/cie"
	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/protocol"
)

// EnvCIEDriver chooses how a CIE is used: "eidlink" (the native driver),
// "ipzs" (the IPZS middleware's PKCS#11 module), or unset: the config
// file's "cieDriver" key, else the native driver unless the IPZS module
// is installed.
const EnvCIEDriver = "EIDLINK_CIE_DRIVER"

// cieDriverChoice is EnvCIEDriver, else the config file's "cieDriver".
func cieDriverChoice(configFile string) string {
	if v := os.Getenv(EnvCIEDriver); v != "" {
		return v
	}
	var c struct {
		CIEDriver string `json:"cieDriver"`
	}
	if b, err := os.ReadFile(configFile); err == nil {
		json.Unmarshal(b, &c) // a malformed file is reported by doctor (cryptoki)
	}
	return c.CIEDriver
}

// cieRouter sends a CIE to the native driver, and everything else (or a
// CIE when the IPZS module is preferred) to the PKCS#11 modules. It is
// also the service's slots for eidlink's PKCS#11 module (service.Slots):
// the same cards, by the same paths.
type cieRouter struct {
	pkcs11 *cryptoki.Provider
	native *cie.Provider
	last   *modulesSeen
}

// modulesSeen is what the PKCS#11 modules showed last, answered again
// (nothing, if they were never asked) while a CIE on the native driver is
// in use: a module that probes a card it does not know at each listing
// (OpenSC) would end the CIE's secure session.
type modulesSeen struct {
	mu    sync.Mutex
	slots []cryptoki.Slot
	mods  []protocol.ModuleStatus
	toks  []protocol.TokenStatus
}

func withNativeCIE(pkcs11 *cryptoki.Provider) cieRouter {
	return cieRouter{pkcs11: pkcs11, native: &cie.Provider{}, last: &modulesSeen{}}
}

// nativeFirst reports whether a CIE goes to the native driver now.
func (r cieRouter) nativeFirst() bool {
	file, _ := cryptoki.DefaultConfigFile()
	switch cieDriverChoice(file) {
	case "eidlink":
		return true
	case "ipzs":
		return false
	}
	mods, _ := cryptoki.Discover(file)
	for _, m := range mods {
		if m.Name == protocol.ModuleIPZS || filepath.Base(m.Path) == "libcie-pkcs11.so" {
			if _, err := os.Stat(m.Path); err == nil {
				return false
			}
		}
	}
	return true
}

func (r cieRouter) Open(ctx context.Context) (command.Card, error) {
	if r.nativeFirst() {
		c, err := r.native.Open(ctx)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, cie.ErrNoCIE) {
			return nil, err
		}
	}
	return command.Cards[*cryptoki.Card](r.pkcs11).Open(ctx)
}

func (r cieRouter) Status(ctx context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	l := r.last
	l.mu.Lock()
	mods, toks := l.mods, l.toks
	l.mu.Unlock()
	first := r.nativeFirst()
	if !first || !r.native.InUse() { // else the modules are left alone
		mods, toks = r.pkcs11.Status(ctx)
		l.mu.Lock()
		l.mods, l.toks = mods, toks
		l.mu.Unlock()
	}
	mods = slices.Clone(mods)
	if first {
		m, _ := r.native.Status(ctx)
		mods = append(m, mods...)
	}
	return mods, toks
}

// Slots lists the native driver's CIEs, when it serves them, and the
// PKCS#11 modules' slots, but for the cards the native driver already
// shows (a CIE that the IPZS module sees too).
func (r cieRouter) Slots(ctx context.Context) []cryptoki.Slot {
	l := r.last
	l.mu.Lock()
	all := l.slots
	l.mu.Unlock()
	first := r.nativeFirst()
	if !first || !r.native.InUse() { // else the modules are left alone
		all = r.pkcs11.Slots(ctx)
		l.mu.Lock()
		l.slots = all
		l.mu.Unlock()
	}
	all = slices.Clone(all)
	if !first {
		return all
	}
	native := r.native.Slots(ctx)
	shown := func(s cryptoki.Slot) bool {
		return s.Card != nil && slices.ContainsFunc(native, func(n cryptoki.Slot) bool { return n.Card != nil && n.Card.Cert.Equal(s.Card.Cert) })
	}
	return append(native, slices.DeleteFunc(all, shown)...)
}

// OpenSlot opens the card of a slot of Slots.
func (r cieRouter) OpenSlot(ctx context.Context, key string) (command.Card, error) {
	if cie.OwnsSlot(key) {
		c, err := r.native.OpenSlot(ctx, key)
		if err != nil {
			return nil, err // never a typed nil in the interface
		}
		return c, nil
	}
	c, err := r.pkcs11.OpenSlot(ctx, key)
	if err != nil {
		return nil, err
	}
	return c, nil
}
