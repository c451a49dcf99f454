package service

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
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

// Paths locates one service: its secret and where it listens.
type Paths struct {
	Secret   string // the per-install secret file
	Endpoint Endpoint
}

// endpointFile is where a service listening on TCP writes its address,
// for the hosts to find.
func (p Paths) endpointFile() string {
	return filepath.Join(filepath.Dir(p.Secret), "service.endpoint")
}

// PathsFor returns the paths of the user's own service called name: there
// is no system-wide service (see the package documentation).
//
// The secret is NAME/service.key in the user's configuration directory
// ($XDG_CONFIG_HOME or ~/.config, ~/Library/Application Support); the
// socket is NAME/service.sock in $XDG_RUNTIME_DIR or, when that is unset,
// in the user's cache directory ($XDG_CACHE_HOME or ~/.cache,
// ~/Library/Caches).
//
// On Windows both the secret and service.endpoint, where the service
// writes the 127.0.0.1 port it picked, are in %LocalAppData%\NAME: a
// roaming profile must not carry them to another machine.
func PathsFor(name string) (Paths, error) {
	config, run, err := dirs()
	if err != nil {
		return Paths{}, err
	}
	p := Paths{Secret: filepath.Join(config, name, "service.key"), Endpoint: Endpoint{"unix", filepath.Join(run, name, "service.sock")}}
	if runtime.GOOS == "windows" {
		p.Endpoint = Endpoint{"tcp", "127.0.0.1:0"}
	}
	return p, nil
}

// dirs returns the user's configuration and runtime directories.
func dirs() (config, run string, err error) {
	if runtime.GOOS == "windows" {
		config, err = os.UserCacheDir()
		return config, "", err
	}
	home, err := homeDir()
	if err != nil {
		return "", "", err
	}
	if runtime.GOOS == "darwin" {
		return filepath.Join(home, "Library/Application Support"), filepath.Join(home, "Library/Caches"), nil
	}
	return xdg("XDG_CONFIG_HOME", filepath.Join(home, ".config")),
		xdg("XDG_RUNTIME_DIR", xdg("XDG_CACHE_HOME", filepath.Join(home, ".cache"))), nil
}

// xdg is $env when it holds an absolute path, else def.
func xdg(env, def string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	return def
}

// CardLockFile is the file by which the eidlink-hosts of the user that
// drive the card themselves (no service) take turns on it (Queued): in
// the user's runtime directory, beside the service's socket (in the cache
// directory on Windows). It is "" when there is no home.
func CardLockFile() string {
	config, run, err := dirs()
	if err != nil {
		return ""
	}
	if run == "" {
		run = config
	}
	return filepath.Join(run, DefaultName, "card.lock")
}

// homeDir is $HOME, or the home directory in the user database when
// services start without one (SysV's "service" clears the environment).
func homeDir() (string, error) {
	if h := os.Getenv("HOME"); h != "" {
		return h, nil
	}
	u, err := user.Current()
	if err != nil {
		return "", fmt.Errorf("no home directory: %w", err)
	}
	if u.HomeDir == "" {
		return "", errors.New("no home directory")
	}
	return u.HomeDir, nil
}

// listen opens e. A Unix socket goes in a directory only the user can
// enter (created 0700 if missing, refused if others can reach it), with
// mode 0600; a stale socket left by a crash is replaced, a live one means
// the service already runs.
func listen(e Endpoint) (net.Listener, error) {
	if e.Network != "unix" {
		return net.Listen(e.Network, e.Address)
	}
	dir := filepath.Dir(e.Address)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if err := private(fi, dir); err != nil {
		return nil, err
	}
	if c, err := net.Dial("unix", e.Address); err == nil {
		c.Close()
		return nil, fmt.Errorf("another eidlink service already listens on %s", e)
	}
	os.Remove(e.Address)
	l, err := net.Listen("unix", e.Address)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(e.Address, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
