package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/gorilla/websocket"
)

// Refusal says why the service turned a connection or a request away.
type Refusal string

// Refusals.
const (
	RefusedPeer    Refusal = "peer"    // a process of another user
	RefusedOrigin  Refusal = "origin"  // an HTTP request with an Origin header: a web page
	RefusedSecret  Refusal = "secret"  // no secret, or a wrong one
	RefusedVersion Refusal = "version" // a host of another major protocol version
)

// Config configures a Server.
type Config struct {
	// Command is what each connection runs. Listen wraps its Provider
	// with Queued and its Status hook to report the service.
	Command command.Config
	// Paths: the secret (created when missing) and the endpoint to listen
	// on. A TCP endpoint is written to service.endpoint next to the
	// secret for the hosts to find.
	Paths Paths
	// Events are sent to every connection; nil for none.
	Events <-chan protocol.EventMessage
	Log    *slog.Logger
	// Refused, when set, is called for each refused connection or request.
	Refused func(Refusal)
}

// Server is the eidlink service's IPC server.
type Server struct {
	cfg      Config
	ln       net.Listener
	endpoint Endpoint
	secret   []byte
	uid      int    // the only user served (Unix sockets)
	user     string // its name, for status
	hub      hub
	mu       sync.Mutex
	closing  bool // no new sessions
	sessions sync.WaitGroup
}

// Listen creates the secret if needed and listens on cfg.Paths.Endpoint.
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	secret, err := ensureSecret(cfg.Paths.Secret)
	if err != nil {
		return nil, fmt.Errorf("service secret: %w", err)
	}
	ln, err := listen(cfg.Paths.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Paths.Endpoint, err)
	}
	s := &Server{cfg: cfg, ln: ln, endpoint: cfg.Paths.Endpoint, secret: secret, uid: os.Geteuid(), user: currentUser()}
	if s.endpoint.Network == "tcp" {
		s.endpoint.Address = ln.Addr().String()
		if err := os.WriteFile(cfg.Paths.endpointFile(), []byte(s.endpoint.String()+"\n"), 0o600); err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.cfg.Command.Provider = Queued(cfg.Command.Provider, "")
	status := cfg.Command.Status
	s.cfg.Command.Status = func(ctx context.Context, st *protocol.Status) {
		st.Mode = "service"
		st.Service = &protocol.ServiceStatus{Running: true, Endpoint: s.endpoint.String(), Version: cfg.Command.Version, User: s.user}
		if status != nil {
			status(ctx, st)
		}
	}
	return s, nil
}

// Endpoint is where s listens.
func (s *Server) Endpoint() Endpoint { return s.endpoint }

// Serve accepts connections until ctx ends, then closes them all and
// removes the socket (or the endpoint file).
func (s *Server) Serve(ctx context.Context) error {
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
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	upgrader := websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		ReadBufferSize:   1, // its own small buffer, which scrubConn clears
		CheckOrigin:      func(r *http.Request) bool { return r.Header["Origin"] == nil },
	}
	hs := &http.Server{
		ReadHeaderTimeout: handshakeTimeout,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Browsers send Origin with every WebSocket handshake and
			// cross-origin request: whatever carries one is a web page.
			if r.Header["Origin"] != nil {
				s.refuse(RefusedOrigin, "origin", r.Header.Get("Origin"))
				http.Error(w, "eidlink: requests from web pages are refused", http.StatusForbidden)
				return
			}
			if !secretMatches(r.Header.Get(SecretHeader), s.secret) {
				s.refuse(RefusedSecret)
				http.Error(w, "eidlink: missing or wrong "+SecretHeader, http.StatusUnauthorized)
				return
			}
			s.mu.Lock()
			if s.closing {
				s.mu.Unlock()
				http.Error(w, "eidlink: the service is stopping", http.StatusServiceUnavailable)
				return
			}
			s.sessions.Add(1)
			s.mu.Unlock()
			defer s.sessions.Done()
			if ws, err := upgrader.Upgrade(w, r, nil); err == nil {
				s.session(ctx, ws)
			}
		}),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(peerListener{s.ln, s}) }()
	var err error
	select {
	case <-ctx.Done():
		hs.Close()
		<-errc
	case err = <-errc:
		hs.Close()
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	cancel()
	s.sessions.Wait()
	if s.endpoint.Network == "tcp" {
		os.Remove(s.cfg.Paths.endpointFile())
	} else {
		os.Remove(filepath.Dir(s.endpoint.Address)) // only if empty
	}
	return err
}

func (s *Server) refuse(r Refusal, args ...any) {
	s.cfg.Log.Warn("refused a connection", append([]any{"reason", string(r)}, args...)...)
	if s.cfg.Refused != nil {
		s.cfg.Refused(r)
	}
}

// peerListener refuses Unix-socket peers of another user and wraps every
// connection in a scrubConn.
type peerListener struct {
	net.Listener
	s *Server
}

func (l peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uc, ok := c.(*net.UnixConn); ok {
			if uid, err := peerUID(uc); err != nil || uid != l.s.uid {
				l.s.refuse(RefusedPeer, "uid", uid, "err", err)
				c.Close()
				continue
			}
		}
		return &scrubConn{Conn: c}, nil
	}
}

// session runs one host's connection: hellos, then its own command loop
// with the shared, queued Provider, and the events.
func (s *Server) session(ctx context.Context, ws *websocket.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer ws.Close()
	context.AfterFunc(ctx, func() { ws.Close() }) // ends a blocked read
	sc, _ := ws.NetConn().(*scrubConn)
	if sc != nil {
		sc.arm()
	}
	ws.SetReadLimit(nativemsg.MaxIncoming)
	w := &writer{ws: ws}
	events := s.hub.subscribe()
	defer s.hub.unsubscribe(events)
	if w.writeJSON(helloMessage{&Hello{ProtocolVersion, s.cfg.Command.Version}}) != nil {
		return
	}
	peer, err := readHello(ws, true)
	if err != nil {
		var ve *VersionError
		if errors.As(err, &ve) {
			s.refuse(RefusedVersion, "protocol", ve.Theirs)
			w.writeJSON(protocol.ErrorMessage{Error: protocol.Errorf(protocol.CodeFatal, "%v", ve)})
			w.close(websocket.ClosePolicyViolation, "protocol version")
		}
		return
	}
	start := time.Now()
	s.cfg.Log.Info("host connected", "version", peer.Version)
	// The reader always reads, so that the host's pings are answered and
	// its silence noticed (heartbeat) even while a command runs.
	beat := heartbeat(ws, ctx.Done())
	in := make(chan command.Input, command.InputBuffer)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel() // the host is gone or frozen: cancel its request, release the card
		defer close(in)
		for {
			msg, err := beat.read()
			if err != nil {
				return
			}
			select {
			case in <- command.Input{Msg: msg}:
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
				if w.writeJSON(ev) != nil {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	err = command.Serve(ctx, s.cfg.Command, in, w.writeJSON)
	if err == nil {
		w.close(websocket.CloseNormalClosure, "") // "quit": the host ends too
	} else {
		w.close(websocket.CloseGoingAway, "")
	}
	cancel()
	<-readerDone
	if sc != nil {
		sc.scrub()
	}
	s.cfg.Log.Info("host disconnected", "seconds", time.Since(start).Seconds())
}
