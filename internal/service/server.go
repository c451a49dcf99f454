package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/ipc/ipcserver"
	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/tlsauth"
)

// Config configures a Server.
type Config struct {
	// Command is what each connection runs. Listen wraps its Provider
	// with Queued and its Status hook to report the service.
	Command command.Config
	// Paths: the secret (created when missing), the endpoint to listen
	// on, and the runtime directory (the card lock).
	Paths ipc.Paths
	// Events are sent to every connection; nil for none.
	Events <-chan protocol.EventMessage
	Log    *slog.Logger
	// Refused, when set, is called for each refused connection or request.
	Refused func(ipcserver.Refusal)
	// IdleExit, when not zero, stops the service once no host has been
	// connected for that long: a service started on demand by a host.
	IdleExit time.Duration
	// Slots, when set, are the cards the service presents to eidlink's
	// PKCS#11 module (*cryptoki.Provider, the Provider of Command): the
	// service then answers the module on p11wire.Path, and "unlock".
	Slots Slots
	// TLS configures the unlock: its duration and signatures (0 for
	// tlsauth's defaults).
	TLS tlsauth.Config
	// TLSPINTimeout bounds the wait for the PIN of a TLS signature asked
	// through the extensions; 0 means DefaultTLSPINTimeout.
	TLSPINTimeout time.Duration
}

// Slots lists the slots and cards (tlsauth.Cards) and opens the card of
// one: PKCS11Slots of a *cryptoki.Provider.
type Slots interface {
	tlsauth.Cards
	OpenSlot(ctx context.Context, key string) (command.Card, error)
}

// PKCS11Slots makes Slots of p, whose OpenSlot returns its own card type
// (*cryptoki.Provider), as command.Cards makes a command.Provider.
func PKCS11Slots[C command.Card](p interface {
	tlsauth.Cards
	OpenSlot(ctx context.Context, key string) (C, error)
}) Slots {
	return slotsOf[C]{p}
}

type slotsOf[C command.Card] struct {
	p interface {
		tlsauth.Cards
		OpenSlot(ctx context.Context, key string) (C, error)
	}
}

func (s slotsOf[C]) Slots(ctx context.Context) []cryptoki.Slot { return s.p.Slots(ctx) }

func (s slotsOf[C]) OpenSlot(ctx context.Context, key string) (command.Card, error) {
	c, err := s.p.OpenSlot(ctx, key)
	if err != nil {
		return nil, err // never a typed nil in the interface
	}
	return c, nil
}

// Server is the eidlink service: the card broker behind an ipcserver.Listener.
type Server struct {
	cfg    Config
	ln     *ipcserver.Listener
	hub    hub
	idle   idle
	bridge *tlsauth.Bridge // nil without Config.Slots
}

// Listen creates the secret if needed and listens on cfg.Paths.Endpoint.
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg}
	// The lock file makes the service take turns with the CLI's commands.
	q := newQueued(cfg.Command.Provider, CardLockFile(cfg.Paths))
	s.cfg.Command.Provider = q
	lc := ipcserver.ListenConfig{Paths: cfg.Paths, Version: cfg.Command.Version, Log: cfg.Log, Refused: cfg.Refused}
	if cfg.Slots != nil {
		tc := cfg.TLS
		tc.Cards, tc.Log = cfg.Slots, cfg.Log
		tc.Open = func(ctx context.Context, key string) (tlsauth.Card, error) {
			c, err := q.openSlot(ctx, cfg.Slots, key)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		// In the turn an unlocked card holds: the bridge keeps that turn
		// until this card is closed.
		tc.OpenHeld = func(ctx context.Context, key string) (tlsauth.Card, error) {
			c, err := cfg.Slots.OpenSlot(ctx, key)
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		asker := newTLSAsker(&s.hub, cfg.TLSPINTimeout)
		tc.Ask = asker.ask
		s.bridge = tlsauth.New(tc)
		q.drop = s.bridge.Drop
		s.cfg.Command.Unlocker = unlocker{s.bridge, q, cfg.Slots}
		s.cfg.Command.TLSPIN = asker.answer
		lc.Raw = map[string]func(context.Context, *websocket.Conn){p11wire.Path: s.module}
	}
	ln, err := ipcserver.Listen(lc)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	status, user := cfg.Command.Status, ipc.CurrentUser()
	s.cfg.Command.Status = func(ctx context.Context, st *protocol.Status) {
		st.Mode = "service"
		st.Service = &protocol.ServiceStatus{Running: true, Endpoint: s.ln.Endpoint().String(), Version: cfg.Command.Version, User: user}
		if s.bridge != nil {
			st.TLS = s.bridge.Status()
			st.TLS.Hosts = s.hub.count()
		}
		if status != nil {
			status(ctx, st)
		}
	}
	return s, nil
}

// CardLockFile is the file by which the processes of the user that drive
// the card take turns on it (Queued): the service and the CLI's commands,
// which drive it in their own process. It is in the service's runtime
// directory.
func CardLockFile(p ipc.Paths) string {
	if p.Run == "" {
		return ""
	}
	return filepath.Join(p.Run, "card.lock")
}

// Endpoint is where s listens.
func (s *Server) Endpoint() ipc.Endpoint { return s.ln.Endpoint() }

// Serve serves the hosts until ctx ends (or, with IdleExit, until no host
// has been connected for that long), then closes their connections and
// removes the socket (or the endpoint file).
func (s *Server) Serve(ctx context.Context) error {
	if s.bridge != nil {
		defer s.bridge.Close() // after cancel: what is under way has been told to stop
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cfg.Events != nil {
		go func() {
			for {
				select {
				case ev, ok := <-s.cfg.Events:
					if !ok {
						return
					}
					s.hub.publish(ev)
					if s.bridge != nil {
						s.bridge.Changed(ev.Event)
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if s.cfg.IdleExit > 0 {
		s.idle.start(s.cfg.IdleExit, func() {
			s.cfg.Log.Info("no host for a while: exiting", "idle", s.cfg.IdleExit)
			cancel()
		})
		defer s.idle.stop()
	}
	return s.ln.Serve(ctx, s.session)
}

// unlocker is the Bridge as the command loop's Unlocker.
type unlocker struct {
	b     *tlsauth.Bridge
	q     *queued
	slots Slots
}

// Open opens, in its turn, the card the bridge chooses for name.
func (u unlocker) Open(ctx context.Context, name string) (command.Card, error) {
	key, serial, err := u.b.Choose(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := u.q.openSlot(ctx, u.slots, key)
	if err != nil {
		return nil, err
	}
	if tlsauth.Serial(c.AuthCertificate()) != serial {
		c.Close()
		return nil, protocol.Errorf(protocol.CodeCardRemoved, "the card changed in its reader: try again")
	}
	return c, nil
}

func (u unlocker) Keep(card command.Card, origin string) (*protocol.Unlocked, error) {
	return u.b.Keep(card, origin)
}

// module serves a connection of eidlink's PKCS#11 module: binary
// requests, no hello, no heartbeat (the module never pings, and a
// signature may wait minutes for the PIN).
func (s *Server) module(ctx context.Context, ws *websocket.Conn) {
	s.idle.enter()
	defer s.idle.leave()
	err := p11wire.Serve(ctx, ws, s.bridge)
	s.cfg.Log.Debug("PKCS#11 module disconnected", "err", err)
}

// session runs one host's connection: its own command loop with the
// shared, queued Provider, and the events.
func (s *Server) session(ctx context.Context, c *ipcserver.Conn) {
	s.idle.enter()
	defer s.idle.leave()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := s.hub.subscribe()
	defer s.hub.unsubscribe(events)
	if c.Handshake() != nil { // after subscribing: no event is lost once the host has its hello
		return
	}
	start := time.Now()
	s.cfg.Log.Info("host connected", "version", c.Peer.Version)
	// The reader always reads, so that the host's pings are answered and
	// its silence noticed (heartbeat) even while a command runs.
	in := make(chan protocol.Input, protocol.InputBuffer)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel() // the host is gone or frozen: cancel its request, release the card
		defer close(in)
		for {
			msg, err := c.Recv()
			if err != nil {
				return
			}
			select {
			case in <- protocol.Input{Msg: msg}:
			case <-ctx.Done():
				clear(msg)
				return
			}
		}
	}()
	go func() {
		for {
			select {
			case ev := <-events:
				if c.SendJSON(ev) != nil {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	err := command.Serve(ctx, s.cfg.Command, in, c.SendJSON)
	c.End(err == nil) // after "quit" the host ends too
	cancel()
	c.Close()
	<-readerDone
	s.cfg.Log.Info("host disconnected", "seconds", time.Since(start).Seconds())
}

// idle counts the connected hosts and calls its function once none has
// been connected for its duration.
type idle struct {
	mu    sync.Mutex
	d     time.Duration
	n     int
	timer *time.Timer // nil when not counting
}

func (i *idle) start(d time.Duration, f func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.d, i.timer = d, time.AfterFunc(d, f)
}

func (i *idle) enter() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n++
	if i.timer != nil {
		i.timer.Stop()
	}
}

func (i *idle) leave() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.n--
	if i.timer != nil && i.n == 0 {
		i.timer.Reset(i.d)
	}
}

func (i *idle) stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.timer != nil {
		i.timer.Stop()
	}
}
