package ipc

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/eidlink/eidlink/internal/xdg"
)

// DefaultName is the service's name for the service manager, and the name
// of its directories.
const DefaultName = "eidlink"

// Endpoint is where the service listens: a Unix socket or a loopback TCP
// address.
type Endpoint struct {
	Network string // "unix" or "tcp"
	Address string // socket path, or IP:port
}

func (e Endpoint) String() string { return e.Network + ":" + e.Address }

// ParseEndpoint parses "unix:/path" or "tcp:127.0.0.1:PORT". A TCP address
// must be a loopback IP literal.
func ParseEndpoint(s string) (Endpoint, error) {
	network, addr, _ := strings.Cut(s, ":")
	switch network {
	case "unix":
		if !filepath.IsAbs(addr) {
			return Endpoint{}, fmt.Errorf("endpoint %q: the socket path must be absolute", s)
		}
		return Endpoint{network, addr}, nil
	case "tcp":
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().IsLoopback() {
			return Endpoint{}, fmt.Errorf("endpoint %q: want tcp:127.0.0.1:PORT or tcp:[::1]:PORT", s)
		}
		return Endpoint{network, addr}, nil
	}
	return Endpoint{}, fmt.Errorf("endpoint %q: want unix:/path or tcp:127.0.0.1:PORT", s)
}

// Paths locates one service: its secret, where it listens, and its
// runtime directory.
type Paths struct {
	Secret   string // the per-install secret file
	Endpoint Endpoint
	// Run is the service's runtime directory: its single-instance lock,
	// its pid file and the card lock of the processes that drive the card
	// without the service (the socket's directory on Unix).
	Run string
}

// EndpointFile is where a service listening on TCP writes its address,
// for the hosts to find.
func (p Paths) EndpointFile() string {
	return filepath.Join(filepath.Dir(p.Secret), "service.endpoint")
}

// Environment variables that move a service's directories, for test
// profiles and tests: a host started with them dials (and starts) a
// service of its own, never the user's.
const (
	ConfigDirEnv  = "EIDLINK_CONFIG_DIR"  // the directory of the secret (and service.endpoint)
	RuntimeDirEnv = "EIDLINK_RUNTIME_DIR" // Paths.Run: the socket, locks and pid file
)

// PathsFor returns the paths of the user's own service called name: there
// is no system-wide service (see the package documentation).
//
// The secret is NAME/service.key in the user's configuration directory
// ($XDG_CONFIG_HOME or ~/.config, ~/Library/Application Support); the
// socket is NAME/service.sock in $XDG_RUNTIME_DIR or, when that is unset,
// in the user's cache directory ($XDG_CACHE_HOME or ~/.cache,
// ~/Library/Caches). $EIDLINK_CONFIG_DIR and $EIDLINK_RUNTIME_DIR, when
// set to absolute paths, replace the two NAME directories.
//
// On Windows both the secret and service.endpoint, where the service
// writes the 127.0.0.1 port it picked, are in %LocalAppData%\NAME: a
// roaming profile must not carry them to another machine.
func PathsFor(name string) (Paths, error) {
	config, run, err := dirs()
	if err != nil {
		return Paths{}, err
	}
	config, run = xdg.Dir(ConfigDirEnv, filepath.Join(config, name)), xdg.Dir(RuntimeDirEnv, filepath.Join(run, name))
	p := Paths{Secret: filepath.Join(config, "service.key"), Endpoint: Endpoint{"unix", filepath.Join(run, "service.sock")}, Run: run}
	if runtime.GOOS == "windows" {
		p.Endpoint = Endpoint{"tcp", "127.0.0.1:0"}
	}
	return p, nil
}

// dirs returns the user's configuration and runtime directories, by the
// rules of os.UserConfigDir and os.UserCacheDir (both %LocalAppData% on
// Windows), the runtime directory being $XDG_RUNTIME_DIR when set.
func dirs() (config, run string, err error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", "", err
	}
	if runtime.GOOS == "windows" {
		return cache, cache, nil
	}
	config, err = os.UserConfigDir()
	return config, xdg.Dir("XDG_RUNTIME_DIR", cache), err
}
