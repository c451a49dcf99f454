package osservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/ipc/ipcserver"
	kservice "github.com/kardianos/service"
)

// Options name the service to manage or run.
type Options struct {
	Name string // DefaultName when empty
	// System installs the user's own service for every user of the
	// machine, as root: a systemd user unit in /etc/systemd/user enabled
	// with "systemctl --global", or a launchd agent in
	// /Library/LaunchAgents. Each user's instance starts at their login
	// and serves only them: there is no system-wide instance.
	System bool
	Exec   string // the eidlink executable the service runs; this one when empty
}

func (o Options) normal() (Options, error) {
	if o.Name == "" {
		o.Name = ipc.DefaultName
	}
	if o.Exec == "" {
		exe, err := os.Executable()
		if err != nil {
			return o, err
		}
		o.Exec = exe
	}
	return o, nil
}

// config is the kardianos configuration of the user's own service: the
// systemd unit and launchd agent that Unit renders.
func (o Options) config() (*kservice.Config, error) {
	c := &kservice.Config{
		Name:        o.Name,
		DisplayName: displayName,
		Description: description,
		Executable:  o.Exec,
		Arguments:   runArgs(o.Name),
		Option:      kservice.KeyValue{"UserService": true},
	}
	for option, kind := range map[string]string{"SystemdScript": UnitSystemd, "LaunchdConfig": UnitLaunchd} {
		unit, err := Unit(kind, o.Name, o.Exec)
		if err != nil {
			return nil, err
		}
		c.Option[option] = string(unit)
	}
	return c, nil
}

// Manager installs and controls the service through the OS service
// manager.
type Manager struct {
	o        Options
	svc      kservice.Service
	platform string // as kardianos names it; tests set another
	root     string // where System installs its unit: "/" but in tests
}

// NewManager returns the Manager of the service o names.
func NewManager(o Options) (*Manager, error) {
	o, err := o.normal()
	if err != nil {
		return nil, err
	}
	c, err := o.config()
	if err != nil {
		return nil, err
	}
	svc, err := kservice.New(nopProgram{}, c)
	if err != nil {
		return nil, err
	}
	return &Manager{o: o, svc: svc, platform: svc.Platform(), root: "/"}, nil
}

type nopProgram struct{}

func (nopProgram) Start(kservice.Service) error { return nil }
func (nopProgram) Stop(kservice.Service) error  { return nil }

// Platform names the service manager, as kardianos/service does
// ("linux-systemd", "unix-systemv", "darwin-launchd", "windows-service").
func (m *Manager) Platform() string { return m.platform }

// supported fails where the service manager has no per-user services
// (SysV, OpenRC, Upstart, the Windows SCM): the service is never
// installed there; the hosts start it when they need it, or a user runs
// it in their session with "eidlink service run".
func (m *Manager) supported() error {
	if strings.HasSuffix(m.platform, "systemd") || strings.HasSuffix(m.platform, "launchd") {
		return nil
	}
	return fmt.Errorf("%s has no per-user services, and eidlink has no system-wide one: "+
		"each user's eidlink-host starts the service when it needs it; to keep one for your session, start \"eidlink service run\" with it", m.platform)
}

// Paths are the service's secret and endpoint for the user running this
// process.
func (m *Manager) Paths() (ipc.Paths, error) { return ipc.PathsFor(m.o.Name) }

// Install creates the secret, then installs the user's own service to
// start at login; with System, installs it for every user (it starts at
// each one's next login). It does not start it.
func (m *Manager) Install() error {
	if err := m.supported(); err != nil {
		return err
	}
	if m.o.System {
		return m.allUsers().install()
	}
	p, err := m.Paths()
	if err != nil {
		return err
	}
	if _, err := ipcserver.EnsureSecret(p.Secret); err != nil {
		return err
	}
	return m.svc.Install()
}

// errOwnOnly refuses to start or stop "every user's" service: each
// user's instance is theirs.
var errOwnOnly = errors.New("start and stop act on your own service: each user's instance starts at their login")

// Start starts the user's installed service.
func (m *Manager) Start() error {
	if m.o.System {
		return errOwnOnly
	}
	if err := m.supported(); err != nil {
		return err
	}
	return m.svc.Start()
}

// Stop stops the user's service.
func (m *Manager) Stop() error {
	if m.o.System {
		return errOwnOnly
	}
	if err := m.supported(); err != nil {
		return err
	}
	return m.svc.Stop()
}

// State is "running", "stopped" or "not installed", as the service
// manager sees the user's service; with System, "enabled for every user",
// "installed, not enabled" or "not installed".
func (m *Manager) State() (string, error) {
	if m.supported() != nil {
		return "not installed", nil
	}
	if m.o.System {
		return m.allUsers().state(), nil
	}
	st, err := m.svc.Status()
	switch {
	case st == kservice.StatusRunning:
		return "running", nil
	case st == kservice.StatusStopped:
		return "stopped", nil
	case errors.Is(err, kservice.ErrNotInstalled):
		return "not installed", nil
	}
	return "", err
}

// Uninstall stops the user's service and removes what Install and the
// service created: the service definition, the secret and the service's
// directories when empty. With System, it removes the unit installed for
// every user; the instances running stop at logout.
func (m *Manager) Uninstall() error {
	if err := m.supported(); err != nil {
		return err
	}
	if m.o.System {
		return m.allUsers().uninstall()
	}
	if st, _ := m.State(); st == "running" {
		if err := m.Stop(); err != nil {
			return err
		}
	}
	err := m.svc.Uninstall()
	p, perr := m.Paths()
	if perr != nil {
		return errors.Join(err, perr)
	}
	os.Remove(p.Secret)
	os.Remove(p.EndpointFile())
	os.Remove(filepath.Dir(p.Secret))
	if p.Endpoint.Network == "unix" {
		os.Remove(p.Endpoint.Address)
		os.Remove(filepath.Dir(p.Endpoint.Address))
	}
	return err
}

// allUsers is the user's own service installed for every user: a unit
// file that each user's service manager reads at login, and for systemd
// its "systemctl --global" enablement.
type allUsers struct {
	name, file string
	kind, exec string   // the unit's
	systemctl  []string // systemctl's options; nil for launchd
}

func (m *Manager) allUsers() allUsers {
	a := allUsers{name: m.o.Name, file: filepath.Join(m.root, "Library/LaunchAgents", m.o.Name+".plist"), kind: UnitLaunchd, exec: m.o.Exec}
	if strings.HasSuffix(m.platform, "systemd") {
		a.kind = UnitSystemd
		a.file = filepath.Join(m.root, "etc/systemd/user", m.o.Name+".service")
		a.systemctl = []string{"--global", "--root=" + m.root}
	}
	return a
}

func (a allUsers) run(verb string) (string, error) {
	unit := filepath.Base(a.file)
	out, err := exec.Command("systemctl", append(a.systemctl, verb, unit)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("systemctl --global %s %s: %w: %s", verb, unit, err, bytes.TrimSpace(out))
	}
	return string(bytes.TrimSpace(out)), nil
}

func (a allUsers) install() error {
	unit, err := Unit(a.kind, a.name, a.exec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.file), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(a.file, unit, 0o644); err != nil {
		return err
	}
	if a.systemctl == nil {
		return nil
	}
	if _, err := a.run("enable"); err != nil {
		os.Remove(a.file)
		return err
	}
	return nil
}

func (a allUsers) uninstall() error {
	if a.systemctl != nil {
		if _, err := os.Stat(a.file); err == nil {
			if _, err := a.run("disable"); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(a.file); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (a allUsers) state() string {
	if _, err := os.Stat(a.file); err != nil {
		return "not installed"
	}
	if a.systemctl != nil {
		if out, _ := a.run("is-enabled"); out != "enabled" {
			return "installed, not enabled"
		}
	}
	return "enabled for every user"
}

// Run runs serve as the user's service o names, in the foreground (the
// user's service manager or session started it), until SIGINT or SIGTERM
// (which end serve's context) or until serve returns on its own. It
// returns serve's error.
func Run(o Options, serve func(context.Context) error) error {
	o, err := o.normal()
	if err != nil {
		return err
	}
	c, err := o.config()
	if err != nil {
		return err
	}
	p := &program{serve: serve, done: make(chan struct{})}
	c.Option["RunWait"] = p.wait
	svc, err := kservice.New(p, c)
	if err != nil {
		return err
	}
	if err := svc.Run(); err != nil {
		return err
	}
	return p.err
}

type program struct {
	serve func(context.Context) error
	stop  func()
	done  chan struct{}
	err   error
}

func (p *program) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		p.err = p.serve(ctx)
		close(p.done)
	}()
	return nil
}

func (p *program) Stop(kservice.Service) error {
	p.stop()
	<-p.done
	return p.err
}

// wait returns on SIGINT, SIGTERM, or when the server stops on its own.
func (p *program) wait() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-p.done:
	}
}
