package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/osservice"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/reader"
	"github.com/eidlink/eidlink/internal/service"
)

const serviceUsage = `usage: eidlink service install|uninstall|status [--system] [--name NAME]
       eidlink service start|stop [--name NAME]
       eidlink service run [--name NAME] [--listen unix:PATH|tcp:127.0.0.1:PORT] [--idle-exit DURATION]
       eidlink service unit --systemd|--launchd [--exec PATH] [--name NAME]
The service is each user's own; --system (as root) installs it for every user.`

// errNoSystemService answers "service run --system", which older
// versions had: an instance that serves every user does not exist.
var errNoSystemService = errors.New("there is no system-wide eidlink service: each user runs their own " +
	"(\"eidlink service install --system\" installs it for every user)")

// service implements "eidlink service": the long-running card service,
// each user's own.
func (e *env) service(args []string) error {
	if len(args) == 0 {
		return usagef("%s", serviceUsage)
	}
	fs := e.newFlags("service " + args[0])
	var o osservice.Options
	fs.StringVar(&o.Name, "name", ipc.DefaultName, "the service's name")
	switch args[0] {
	case "unit":
		return e.serviceUnit(fs, args[1:], o)
	case "run", "install", "uninstall", "start", "stop", "status":
	default:
		return usagef("%s", serviceUsage)
	}
	fs.BoolVar(&o.System, "system", false, "install, uninstall, status: the service installed for every user")
	var run runOptions
	fs.StringVar(&run.listen, "listen", "", "run: where to listen (unix:PATH or tcp:127.0.0.1:PORT)")
	fs.DurationVar(&run.idleExit, "idle-exit", 0, "run: exit once no host has been connected for this long (a service started on demand)")
	fs.IntVar(&run.readyFD, "ready-fd", -1, "run: a pipe to close once listening (set by eidlink-host)")
	if err := e.parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 || run != (runOptions{readyFD: -1}) && args[0] != "run" || o.System && (args[0] == "start" || args[0] == "stop") {
		return usagef("%s", serviceUsage)
	}
	if args[0] == "run" {
		if o.System {
			return errNoSystemService
		}
		return e.serviceRun(o, run)
	}
	m, err := osservice.NewManager(o)
	if err != nil {
		return err
	}
	scope := "your own"
	if o.System {
		scope = "every user's own"
	}
	switch args[0] {
	case "install":
		if err := m.Install(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "eidlink: installed the %s service (%s, %s)\n", o.Name, m.Platform(), scope)
		if o.System {
			e.hint("it starts at each user's next login; a user logged in now starts theirs with \"eidlink service start\"%s", flagsOf(o))
		} else {
			e.hint("start it with \"eidlink service start\"%s", flagsOf(o))
		}
	case "uninstall":
		if err := m.Uninstall(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "eidlink: uninstalled the %s service (%s)\n", o.Name, scope)
	case "start":
		if err := m.Start(); err != nil {
			return err
		}
		if _, err := awaitService(m, 5*time.Second); err != nil {
			return fmt.Errorf("the service started but does not answer: %w", err)
		}
		fmt.Fprintf(e.stderr, "eidlink: your %s service is running\n", o.Name)
	case "stop":
		if state, _ := m.State(); state == "running" {
			if err := m.Stop(); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "eidlink: stopped your %s service\n", o.Name)
			return nil
		}
		// A service a host started: no service manager's.
		p, err := m.Paths()
		if err != nil {
			return err
		}
		ran, err := service.Stop(p, 10*time.Second)
		if err != nil {
			return err
		}
		if ran {
			fmt.Fprintf(e.stderr, "eidlink: stopped your %s service\n", o.Name)
		} else {
			fmt.Fprintf(e.stderr, "eidlink: your %s service is not running\n", o.Name)
		}
	case "status":
		state, err := m.State()
		if err != nil {
			state = "unknown: " + err.Error()
		}
		fmt.Fprintf(e.stdout, "service\t%s (%s, %s)\nstate\t%s\n", o.Name, m.Platform(), scope, state)
		if o.System {
			if state == "not installed" {
				e.hint("install it with \"sudo eidlink service install --system\"%s", flagsOf(o))
				return errors.New("the service is not installed for every user")
			}
			return nil
		}
		c, err := awaitService(m, 0)
		if err != nil {
			e.hint("start it with \"eidlink service start\"%s, or run it in the foreground with \"eidlink service run\"%[1]s", flagsOf(o))
			return fmt.Errorf("your service does not answer: %w", err)
		}
		fmt.Fprintf(e.stdout, "endpoint\t%s\nversion\t%s\n", c.Endpoint, c.Peer.Version)
	}
	return nil
}

func flagsOf(o osservice.Options) string {
	if o.Name != ipc.DefaultName {
		return " --name " + o.Name
	}
	return ""
}

// awaitService connects to m's service, trying for up to wait.
func awaitService(m *osservice.Manager, wait time.Duration) (*ipc.Conn, error) {
	p, err := m.Paths()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := ipc.Dial(ctx, p)
		cancel()
		if err == nil {
			c.Close()
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runOptions are the flags of "service run".
type runOptions struct {
	listen   string
	idleExit time.Duration
	readyFD  int // -1: none
}

// serviceRun runs the service in the foreground (or under the service
// manager, or detached by the host that started it) until SIGINT or
// SIGTERM, or with --idle-exit until no host has been connected for that
// long. A second service of the same user (same runtime directory) exits
// at once, without error, and its ready pipe is closed as soon as the
// first one listens: the host that started it dials that one.
func (e *env) serviceRun(o osservice.Options, run runOptions) error {
	var ready *os.File
	if run.readyFD >= 0 {
		ready = os.NewFile(uintptr(run.readyFD), "ready")
		defer ready.Close()
	}
	paths, err := ipc.PathsFor(o.Name)
	if err != nil {
		return err
	}
	if run.listen != "" {
		if paths.Endpoint, err = ipc.ParseEndpoint(run.listen); err != nil {
			return usageError{err}
		}
	}
	inst, err := service.Claim(paths)
	if errors.Is(err, service.ErrRunning) {
		fmt.Fprintf(e.stderr, "eidlink: your %s service already runs\n", o.Name)
		return nil
	}
	if err != nil {
		return err
	}
	defer inst.Release()
	cfg, closeProvider := serviceConfig(paths)
	defer closeProvider()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg.Events = reader.Events(ctx)
	cfg.IdleExit = run.idleExit
	srv, err := service.Listen(cfg)
	if err != nil {
		return err
	}
	if err := inst.Started(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "eidlink: service listening on %s\n", srv.Endpoint())
	if ready != nil {
		ready.Write([]byte("1"))
		ready.Close()
	}
	return osservice.Run(o, srv.Serve)
}

// serviceConfig is the service's configuration: the host's commands, and
// the same cards for eidlink's PKCS#11 module.
func serviceConfig(paths ipc.Paths) (service.Config, func()) {
	cfg, r := hostConfig()
	return service.Config{Command: cfg, Paths: paths, Log: cfg.Log, Slots: r}, func() { r.pkcs11.Close() }
}

// serviceUnit prints a unit file for packages to install.
func (e *env) serviceUnit(fs *flag.FlagSet, args []string, o osservice.Options) error {
	kinds := map[string]*bool{}
	for _, k := range []string{osservice.UnitSystemd, osservice.UnitLaunchd} {
		kinds[k] = fs.Bool(k, false, "print the "+k+" unit")
	}
	exec := fs.String("exec", "", "the eidlink executable (default: where the packages install it)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	kind, n := "", 0
	for k, set := range kinds {
		if *set {
			kind, n = k, n+1
		}
	}
	if n != 1 || fs.NArg() > 0 {
		return usagef("%s", serviceUsage)
	}
	if *exec == "" {
		*exec = osservice.DefaultExec[kind]
	}
	unit, err := osservice.Unit(kind, o.Name, *exec)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(unit)
	return err
}

// serviceStatus completes a status report with the service as this
// process sees it: whether one answers, where, and its version. A report
// made by the service itself already says so and is left alone. It is the
// Status hook of HostConfig.
func serviceStatus(ctx context.Context, st *protocol.Status) {
	if st.Service != nil {
		return
	}
	c, err := ipc.DialDefault(ctx)
	if err != nil {
		st.Service = ipc.Probe(ctx) // says why
		return
	}
	defer c.Close()
	st.Service = &protocol.ServiceStatus{Running: true, Endpoint: c.Endpoint.String(), Version: c.Peer.Version, User: ipc.CurrentUser()}
	st.TLS = tlsStatus(ctx, c)
}

// tlsStatus asks the service on c for the state of TLS logins through
// eidlink's PKCS#11 module; nil when it does not say.
func tlsStatus(ctx context.Context, c *ipc.Conn) *protocol.TLSStatus {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if c.Send([]byte(`{"command":"status"}`)) != nil {
		return nil
	}
	for {
		msg, err := c.Recv()
		if err != nil {
			return nil
		}
		var m struct {
			Event string
			TLS   *protocol.TLSStatus
		}
		if json.Unmarshal(msg, &m) == nil && m.Event == "" {
			return m.TLS
		}
	}
}
