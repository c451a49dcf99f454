package install

import (
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/eidlink/eidlink/internal/protocol"
)

// HostName is the native-messaging host name the extension connects to.
const HostName = "it.eidlink.host"

// The extension's ids, as in extension/ids.json (a test keeps them equal).
const (
	ChromeExtensionID  = "fcpomoebdkdilohgapefdlkccodebdef"
	FirefoxExtensionID = "eidlink@eidlink.it"
)

// Browsers lists the browsers eidlink installs for, in install order.
var Browsers = []string{"chrome", "chromium", "edge", "brave", "firefox"}

// Manifest is a browser's native manifest: a native-messaging host
// (Type "stdio") or a PKCS#11 module for Firefox's browser.pkcs11 API
// (Type "pkcs11"). Chromium-family browsers read AllowedOrigins, Firefox
// AllowedExtensions.
type Manifest struct {
	Name              string   `json:"name"`
	Description       string   `json:"description"`
	Path              string   `json:"path"`
	Type              string   `json:"type"`
	AllowedOrigins    []string `json:"allowed_origins,omitempty"`
	AllowedExtensions []string `json:"allowed_extensions,omitempty"`
}

// HostManifest returns the native-messaging host manifest for a browser
// ("firefox" or a Chromium-family name) with hostPath, the absolute path
// of eidlink-host.
func HostManifest(browser, hostPath string) Manifest {
	m := Manifest{Name: HostName, Description: "eidlink: CIE and CNS login", Path: hostPath, Type: "stdio"}
	if browser == "firefox" {
		m.AllowedExtensions = []string{FirefoxExtensionID}
	} else {
		m.AllowedOrigins = []string{"chrome-extension://" + ChromeExtensionID + "/"}
	}
	return m
}

// PKCS11Manifest returns the Firefox manifest that lets the extension
// load the PKCS#11 library libPath with browser.pkcs11.installModule(name).
func PKCS11Manifest(name, libPath string) Manifest {
	desc := "eidlink: " + strings.TrimPrefix(name, "eidlink_") + " card software"
	if name == OwnModuleName {
		desc = "eidlink: CIE and CNS for logins with a client certificate"
	}
	return Manifest{
		Name:              name,
		Description:       desc,
		Path:              libPath,
		Type:              "pkcs11",
		AllowedExtensions: []string{FirefoxExtensionID},
	}
}

// JSON returns the manifest as the browsers read it: indented, with a
// final newline.
func (m Manifest) JSON() []byte {
	b, _ := json.MarshalIndent(m, "", "  ") // strings only: cannot fail
	return append(b, '\n')
}

// ModuleName is the name eidlink registers a PKCS#11 module under, in
// Firefox (the manifest name given to browser.pkcs11.installModule) and
// in NSS databases: "eidlink_" and the module's name in lower case with
// runs of other characters as "_" ("IPZS CIE" is "eidlink_cie", "OpenSC"
// "eidlink_opensc", a module named by its file "libfoo.so"
// "eidlink_libfoo").
func ModuleName(module string) string {
	if module == protocol.ModuleIPZS {
		return "eidlink_cie"
	}
	for _, ext := range []string{".so", ".dll", ".dylib"} {
		module = strings.TrimSuffix(module, ext)
	}
	var b strings.Builder
	b.WriteString("eidlink")
	sep := true
	for _, r := range strings.ToLower(filepath.Base(module)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if sep {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			sep = false
		} else {
			sep = true
		}
	}
	return b.String()
}
