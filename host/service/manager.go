package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	kservice "github.com/kardianos/service"
)

// Options name the service to manage or run.
type Options struct {
	Name string // DefaultName when empty
	// System selects the system-wide service instead of the user's own.
	// Windows has only system services (the SCM): it is implied there.
	System bool
	Exec   string // the eidlink executable the service runs; this one when empty
}

func (o Options) normal() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if runtime.GOOS == "windows" {
		o.System = true
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

// config is the kardianos configuration. Per-user systemd units and
// launchd agents are the ones Unit renders; system-wide, the systemd unit
// too, and kardianos's own files elsewhere (SysV script, launchd daemon).
func (o Options) config() (*kservice.Config, error) {
	c := &kservice.Config{
		Name:        o.Name,
		DisplayName: displayName,
		Description: description,
		Executable:  o.Exec,
		Arguments:   runArgs(o.Name, o.System),
		Option:      kservice.KeyValue{"UserService": !o.System},
	}
	kind := UnitSystemd
	if o.System {
		kind = UnitSystemdSystem
	}
	unit, err := Unit(kind, o.Name, o.Exec)
	if err != nil {
		return nil, err
	}
	c.Option["SystemdScript"] = string(unit)
	if !o.System {
		plist, err := Unit(UnitLaunchd, o.Name, o.Exec)
		if err != nil {
			return nil, err
		}
		c.Option["LaunchdConfig"] = string(plist)
	}
	return c, nil
}

// Manager installs and controls the service through the OS service
// manager.
type Manager struct {
	o   Options
	svc kservice.Service
	// noUser is set for a per-user service where the service manager has
	// none (SysV, OpenRC, Upstart): it can only be run in the foreground.
	noUser error
}

// NewManager returns the Manager of the service o names. Where the
// service manager has no per-user services (SysV, OpenRC, Upstart), the
// per-user service is never installed and only runs in the foreground:
// use System there.
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
	m := &Manager{o: o, svc: svc}
	if p := svc.Platform(); !o.System && !strings.HasSuffix(p, "systemd") && !strings.HasSuffix(p, "launchd") {
		m.noUser = fmt.Errorf("%s has no per-user services: install the service system-wide with --system", p)
	}
	return m, nil
}

type nopProgram struct{}

func (nopProgram) Start(kservice.Service) error { return nil }
func (nopProgram) Stop(kservice.Service) error  { return nil }

// Platform names the service manager, as kardianos/service does
// ("linux-systemd", "unix-systemv", "darwin-launchd", "windows-service").
func (m *Manager) Platform() string { return m.svc.Platform() }

// Paths are the service's secret and endpoint.
func (m *Manager) Paths() (Paths, error) { return PathsFor(m.o.Name, m.o.System) }

// Install creates the secret, then installs the service to start at boot
// (system) or login (per user). It does not start it.
func (m *Manager) Install() error {
	p, err := m.Paths()
	if err != nil {
		return err
	}
	if m.noUser != nil {
		return m.noUser
	}
	if _, err := ensureSecret(p.Secret); err != nil {
		return err
	}
	return m.svc.Install()
}

// Start starts the installed service.
func (m *Manager) Start() error {
	if m.noUser != nil {
		return m.noUser
	}
	return m.svc.Start()
}

// Stop stops the service.
func (m *Manager) Stop() error {
	if m.noUser != nil {
		return m.noUser
	}
	return m.svc.Stop()
}

// State is "running", "stopped" or "not installed", as the service
// manager sees it.
func (m *Manager) State() (string, error) {
	if m.noUser != nil {
		return "not installed", nil
	}
	st, err := m.svc.Status()
	switch {
	case st == kservice.StatusRunning:
		return "running", nil
	case st == kservice.StatusStopped:
		return "stopped", nil
	case errors.Is(err, kservice.ErrNotInstalled):
		return "not installed", nil
	case m.sysv():
		// "service NAME status" fails both when stopped and when unknown.
		if _, err := os.Stat(m.initScript()); err != nil {
			return "not installed", nil
		}
		return "stopped", nil
	}
	return "", err
}

// Uninstall stops the service and removes what Install and the service
// created: the service definition, SysV's rc links, log and PID files,
// the secret and the service's directories when empty.
func (m *Manager) Uninstall() error {
	if m.noUser != nil {
		return m.noUser
	}
	if st, _ := m.State(); st == "running" {
		if err := m.Stop(); err != nil {
			return err
		}
	}
	err := m.svc.Uninstall()
	if m.sysv() {
		m.cleanSysV()
	}
	p, perr := m.Paths()
	if perr != nil {
		return errors.Join(err, perr)
	}
	os.Remove(p.Secret)
	os.Remove(p.endpointFile())
	os.Remove(filepath.Dir(p.Secret))
	if p.Endpoint.Network == "unix" {
		os.Remove(p.Endpoint.Address)
		os.Remove(filepath.Dir(p.Endpoint.Address))
	}
	return err
}

func (m *Manager) sysv() bool         { return m.svc.Platform() == "unix-systemv" }
func (m *Manager) initScript() string { return "/etc/init.d/" + m.o.Name }

// cleanSysV removes what kardianos's SysV support leaves behind: the rc
// links to the init script, its logs and its PID file.
func (m *Manager) cleanSysV() {
	links, _ := filepath.Glob("/etc/rc[0-6S].d/[SK][0-9][0-9]" + m.o.Name)
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && t == m.initScript() {
			os.Remove(l)
		}
	}
	for _, f := range []string{"/var/log/" + m.o.Name + ".log", "/var/log/" + m.o.Name + ".err", "/var/run/" + m.o.Name + ".pid"} {
		os.Remove(f)
	}
}

// Run runs srv as the service o names: under the service manager when it
// started this process (the Windows SCM), else in the foreground until
// SIGINT or SIGTERM. It returns when srv stops, with srv's error.
func Run(o Options, srv *Server) error {
	o, err := o.normal()
	if err != nil {
		return err
	}
	c, err := o.config()
	if err != nil {
		return err
	}
	p := &program{srv: srv, done: make(chan struct{})}
	c.Option["RunWait"] = p.wait
	svc, err := kservice.New(p, c)
	if err != nil {
		return err
	}
	return svc.Run()
}

type program struct {
	srv  *Server
	stop func()
	done chan struct{}
	err  error
}

func (p *program) Start(kservice.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	go func() {
		p.err = p.srv.Serve(ctx)
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
