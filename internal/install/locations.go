package install

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/eidlink/eidlink/internal/xdg"
)

// Scope says whose browsers an install serves: the user's own (files under
// the home directory, HKCU) or every user's (system directories, HKLM).
type Scope string

// The scopes.
const (
	User   Scope = "user"
	System Scope = "system"
)

// dirs holds the directories locations depend on, read from the
// environment so that HOME=$(mktemp -d) installs into a scratch home.
type dirs struct {
	home, configHome, dataHome, stateHome string // Unix; XDG defaults applied
	localAppData, programData, appData    string // Windows
}

func envDirs() (dirs, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return dirs{}, err
	}
	if !filepath.IsAbs(home) {
		return dirs{}, errors.New("the home directory is not an absolute path")
	}
	return dirs{
		home:         home,
		configHome:   xdg.Dir("XDG_CONFIG_HOME", filepath.Join(home, ".config")),
		dataHome:     xdg.Dir("XDG_DATA_HOME", filepath.Join(home, ".local", "share")),
		stateHome:    xdg.Dir("XDG_STATE_HOME", filepath.Join(home, ".local", "state")),
		localAppData: os.Getenv("LOCALAPPDATA"),
		programData:  os.Getenv("ProgramData"),
		appData:      os.Getenv("APPDATA"),
	}, nil
}

// layout is where one OS and scope keeps what eidlink installs. On Linux
// and macOS manifests are files in directories; on Windows they are files
// in fileDir named by registry keys, whose subkey <name> has the file's
// path as its default value.
type layout struct {
	hostDirs   map[string][]string // browser: host manifest directories
	hostKeys   map[string][]string // browser: registry keys (Windows)
	pkcs11Dirs []string            // Firefox PKCS#11 manifest directories
	pkcs11Keys []string            // Firefox PKCS#11 registry keys (Windows)
	fileDir    string              // manifest files (Windows)
	state      string              // the record of what was installed
	nssDBs     []string            // NSS databases Chromium-family browsers read (Linux)
	// System policies: AutoSelectCertificateForUrls as a managed policy
	// file (Linux) or under a registry policy key (Windows), and
	// Firefox's policies.json (Linux).
	policyFiles     map[string]string
	policyKeys      map[string]string
	firefoxPolicies string
	// firefoxProfiles are the directories that hold the user's Firefox
	// profiles (user scope).
	firefoxProfiles []string
}

// locate returns the layout of goos for scope. It is plain data, so every
// OS's layout is tested everywhere; only applying it is OS-specific.
func locate(goos string, s Scope, d dirs) layout {
	var l layout
	switch goos {
	case "windows":
		root, base := "HKCU", d.localAppData
		if s == System {
			root, base = "HKLM", d.programData
			l.policyKeys = map[string]string{
				"chrome":   `HKLM\Software\Policies\Google\Chrome`,
				"chromium": `HKLM\Software\Policies\Chromium`,
				"edge":     `HKLM\Software\Policies\Microsoft\Edge`,
			}
		}
		if s == User && d.appData != "" {
			l.firefoxProfiles = []string{winJoin(d.appData, `Mozilla\Firefox\Profiles`)}
		}
		l.fileDir = winJoin(base, "eidlink")
		l.state = winJoin(l.fileDir, "installed.json")
		l.pkcs11Keys = []string{root + `\Software\Mozilla\PKCS11Modules`}
		l.hostKeys = map[string][]string{
			"chrome":   {root + `\Software\Google\Chrome\NativeMessagingHosts`},
			"chromium": {root + `\Software\Chromium\NativeMessagingHosts`},
			"edge":     {root + `\Software\Microsoft\Edge\NativeMessagingHosts`},
			"brave":    {root + `\Software\BraveSoftware\Brave-Browser\NativeMessagingHosts`},
			"firefox":  {root + `\Software\Mozilla\NativeMessagingHosts`},
		}
	case "darwin":
		if s == System {
			l.hostDirs = map[string][]string{
				"chrome":   {"/Library/Google/Chrome/NativeMessagingHosts"},
				"chromium": {"/Library/Application Support/Chromium/NativeMessagingHosts"},
				"edge":     {"/Library/Microsoft/Edge/NativeMessagingHosts"},
				"firefox":  {"/Library/Application Support/Mozilla/NativeMessagingHosts"},
			}
			l.pkcs11Dirs = []string{"/Library/Application Support/Mozilla/PKCS11Modules"}
			l.state = "/Library/Application Support/eidlink/installed.json"
			break
		}
		as := path.Join(d.home, "Library/Application Support")
		l.hostDirs = map[string][]string{
			"chrome":   {as + "/Google/Chrome/NativeMessagingHosts"},
			"chromium": {as + "/Chromium/NativeMessagingHosts"},
			"edge":     {as + "/Microsoft Edge/NativeMessagingHosts"},
			"brave":    {as + "/BraveSoftware/Brave-Browser/NativeMessagingHosts"},
			"firefox":  {as + "/Mozilla/NativeMessagingHosts"},
		}
		l.pkcs11Dirs = []string{as + "/Mozilla/PKCS11Modules"}
		l.firefoxProfiles = []string{as + "/Firefox/Profiles"}
		l.state = as + "/eidlink/installed.json"
	default: // Linux and the other Unix systems
		if s == System {
			l.hostDirs = map[string][]string{
				"chrome":   {"/etc/opt/chrome/native-messaging-hosts"},
				"chromium": {"/etc/chromium/native-messaging-hosts"},
				"edge":     {"/etc/opt/edge/native-messaging-hosts"},
				"firefox":  {"/usr/lib/mozilla/native-messaging-hosts", "/usr/lib64/mozilla/native-messaging-hosts"},
			}
			l.pkcs11Dirs = []string{"/usr/lib/mozilla/pkcs11-modules", "/usr/lib64/mozilla/pkcs11-modules"}
			l.state = "/var/lib/eidlink/installed.json"
			l.policyFiles = map[string]string{
				"chrome":   "/etc/opt/chrome/policies/managed/eidlink.json",
				"chromium": "/etc/chromium/policies/managed/eidlink.json",
				"edge":     "/etc/opt/edge/policies/managed/eidlink.json",
			}
			l.firefoxPolicies = "/etc/firefox/policies/policies.json"
			break
		}
		c := d.configHome
		l.hostDirs = map[string][]string{
			"chrome":   {path.Join(c, "google-chrome/NativeMessagingHosts")},
			"chromium": {path.Join(c, "chromium/NativeMessagingHosts")},
			"edge":     {path.Join(c, "microsoft-edge/NativeMessagingHosts")},
			"brave":    {path.Join(c, "BraveSoftware/Brave-Browser/NativeMessagingHosts")},
			"firefox":  {path.Join(d.home, ".mozilla/native-messaging-hosts")},
		}
		l.pkcs11Dirs = []string{path.Join(d.home, ".mozilla/pkcs11-modules")}
		l.state = path.Join(d.stateHome, "eidlink/installed.json")
		l.nssDBs = []string{path.Join(d.home, ".pki/nssdb"), path.Join(d.dataHome, "pki/nssdb")}
		// Firefox keeps its profiles in ~/.mozilla/firefox when that exists,
		// else (since Firefox 147, measured with ESR 153 in a fresh home) in
		// $XDG_CONFIG_HOME/mozilla/firefox.
		l.firefoxProfiles = []string{path.Join(d.home, ".mozilla/firefox"), path.Join(d.configHome, "mozilla/firefox")}
	}
	return l
}

// winJoin joins Windows path elements with backslashes on any OS, so the
// Windows layout reads the same in tests on Linux.
func winJoin(elem ...string) string {
	return strings.ReplaceAll(strings.Join(elem, `\`), "/", `\`)
}
