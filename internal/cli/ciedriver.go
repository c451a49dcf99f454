package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

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
// CIE when the IPZS module is preferred) to the PKCS#11 modules.
type cieRouter struct {
	pkcs11, native command.Provider
}

func withNativeCIE(pkcs11 command.Provider) command.Provider {
	return cieRouter{pkcs11: pkcs11, native: command.Cards[*cie.Token](&cie.Provider{})}
}

// native reports whether a CIE goes to the native driver now.
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
		if err == nil || !errors.Is(err, cie.ErrNoCIE) {
			return c, err
		}
	}
	return r.pkcs11.Open(ctx)
}

func (r cieRouter) Status(ctx context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	mods, toks := r.pkcs11.Status(ctx)
	if r.nativeFirst() {
		m, _ := r.native.Status(ctx)
		mods = append(m, mods...)
	}
	return mods, toks
}
