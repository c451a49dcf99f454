// Package ipcserver is the service's side of package ipc: it listens on
// the user's endpoint, refuses other users, web pages and requests
// without the secret, and hands each host's connection to a session as an
// ipc.Conn. It is the only side that links net/http, through
// gorilla/websocket: eidlink-host dials with ipc's own client.
package ipcserver

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

	"github.com/gorilla/websocket"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
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

// ListenConfig configures a Listener.
type ListenConfig struct {
	// Paths: the secret (created when missing) and the endpoint to listen
	// on. A TCP endpoint is written to service.endpoint next to the
	// secret for the hosts to find.
	Paths   ipc.Paths
	Version string // eidlink's version, for the hello
	Log     *slog.Logger
	// Refused, when set, is called for each refused connection or request.
	Refused func(Refusal)
	// Raw serves the WebSocket upgrades of other paths than the hosts',
	// after the same refusals, with none of the hosts' hello, heartbeat
	// or message limits: eidlink's PKCS#11 module (p11wire.Path), which
	// speaks binary messages. The function returns when the connection
	// is done with; its context ends when the service stops.
	Raw map[string]func(context.Context, *websocket.Conn)
}

// Listener is the service's side of the IPC: it accepts the hosts of its
// own user that hold the secret, and refuses the rest.
type Listener struct {
	cfg      ListenConfig
	ln       net.Listener
	endpoint ipc.Endpoint
	secret   []byte
	uid      int // the only user served (Unix sockets)
	mu       sync.Mutex
	closing  bool // no new sessions
	sessions sync.WaitGroup
}

// Listen creates the secret if needed and listens on cfg.Paths.Endpoint.
func Listen(cfg ListenConfig) (*Listener, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	secret, err := EnsureSecret(cfg.Paths.Secret)
	if err != nil {
		return nil, fmt.Errorf("service secret: %w", err)
	}
	ln, err := listen(cfg.Paths.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Paths.Endpoint, err)
	}
	l := &Listener{cfg: cfg, ln: ln, endpoint: cfg.Paths.Endpoint, secret: secret, uid: os.Geteuid()}
	if l.endpoint.Network == "tcp" {
		l.endpoint.Address = ln.Addr().String()
		if err := os.WriteFile(cfg.Paths.EndpointFile(), []byte(l.endpoint.String()+"\n"), 0o600); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return l, nil
}

// Endpoint is where l listens.
func (l *Listener) Endpoint() ipc.Endpoint { return l.endpoint }

// Serve accepts connections until ctx ends and runs session on each, on
// its own goroutine, with a context that ends with ctx. The session
// calls Handshake first (once it is ready for what the host may send the
// moment it has the service's hello). Then Serve closes them all, waits
// for their sessions to return and removes the socket (or the endpoint
// file).
func (l *Listener) Serve(ctx context.Context, session func(context.Context, *Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	upgrader := websocket.Upgrader{
		HandshakeTimeout: ipc.HandshakeTimeout,
		ReadBufferSize:   1, // its own small buffer, which scrubConn clears
		CheckOrigin:      func(r *http.Request) bool { return r.Header["Origin"] == nil },
	}
	hs := &http.Server{
		ReadHeaderTimeout: ipc.HandshakeTimeout,
		ErrorLog:          slog.NewLogLogger(l.cfg.Log.Handler(), slog.LevelDebug),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Browsers send Origin with every WebSocket handshake and
			// cross-origin request: whatever carries one is a web page.
			if r.Header["Origin"] != nil {
				l.refuse(RefusedOrigin, "origin", r.Header.Get("Origin"))
				http.Error(w, "eidlink: requests from web pages are refused", http.StatusForbidden)
				return
			}
			if !secretMatches(r.Header.Get(ipc.SecretHeader), l.secret) {
				l.refuse(RefusedSecret)
				http.Error(w, "eidlink: missing or wrong "+ipc.SecretHeader, http.StatusUnauthorized)
				return
			}
			l.mu.Lock()
			if l.closing {
				l.mu.Unlock()
				http.Error(w, "eidlink: the service is stopping", http.StatusServiceUnavailable)
				return
			}
			l.sessions.Add(1)
			l.mu.Unlock()
			defer l.sessions.Done()
			ws, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			if raw := l.cfg.Raw[r.URL.Path]; raw != nil {
				stop := context.AfterFunc(ctx, func() { ws.Close() }) // ends a blocked read
				raw(ctx, ws)
				stop()
				ws.Close()
				return
			}
			c := l.accept(ctx, ws)
			session(ctx, c)
			c.Close()
			c.scrub()
		}),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(peerListener{l.ln, l}) }()
	var err error
	select {
	case <-ctx.Done():
		hs.Close()
		<-errc
	case err = <-errc:
		hs.Close()
	}
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	cancel()
	l.sessions.Wait()
	if l.endpoint.Network == "tcp" {
		os.Remove(l.cfg.Paths.EndpointFile())
	} else {
		os.Remove(filepath.Dir(l.endpoint.Address)) // only if empty
	}
	return err
}

// Conn is a host's connection on the service's side.
type Conn struct {
	*ipc.Conn
	ws *websocket.Conn
	sc *scrubConn
	l  *Listener
}

// accept wraps a new connection, whose hellos are still to exchange.
func (l *Listener) accept(ctx context.Context, ws *websocket.Conn) *Conn {
	sc, _ := ws.NetConn().(*scrubConn)
	if sc != nil {
		sc.arm()
	}
	ws.SetReadLimit(nativemsg.MaxIncoming)
	c := &Conn{Conn: ipc.NewConn(ws, l.endpoint), ws: ws, sc: sc, l: l}
	context.AfterFunc(ctx, func() { c.Close() }) // ends a blocked read
	return c
}

// Handshake exchanges hellos, the service's first, and starts the
// heartbeat. It fails for a host it refuses (another major protocol
// version, which is told why) and for one that is gone.
func (c *Conn) Handshake() error {
	err := c.Accept(c.l.cfg.Version)
	var ve *ipc.VersionError
	if errors.As(err, &ve) {
		c.l.refuse(RefusedVersion, "protocol", ve.Theirs)
		c.SendJSON(protocol.ErrorMessage{Error: protocol.Errorf(protocol.CodeFatal, "%v", ve)})
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "protocol version"), time.Now().Add(time.Second))
	}
	return err
}

// scrub clears what was read, once the connection is read no more.
func (c *Conn) scrub() {
	if c.sc != nil {
		c.sc.scrub()
	}
}

func (l *Listener) refuse(r Refusal, args ...any) {
	l.cfg.Log.Warn("refused a connection", append([]any{"reason", string(r)}, args...)...)
	if l.cfg.Refused != nil {
		l.cfg.Refused(r)
	}
}

// peerListener refuses Unix-socket peers of another user and wraps every
// connection in a scrubConn.
type peerListener struct {
	net.Listener
	l *Listener
}

func (l peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uc, ok := c.(*net.UnixConn); ok {
			if uid, err := ipc.PeerUID(uc); err != nil || uid != l.l.uid {
				l.l.refuse(RefusedPeer, "uid", uid, "err", err)
				c.Close()
				continue
			}
		}
		return &scrubConn{Conn: c}, nil
	}
}

// listen opens e. A Unix socket goes in a directory only the user can
// enter (created 0700 if missing, refused if others can reach it), with
// mode 0600; a stale socket left by a crash is replaced, a live one means
// the service already runs.
func listen(e ipc.Endpoint) (net.Listener, error) {
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
	if err := ipc.Private(fi, dir); err != nil {
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

// scrubConn is the service's side of a connection. Once armed (after the
// upgrade), it remembers the buffer of its first read, which is gorilla's
// read buffer, for scrub to clear once the connection is no longer read:
// that buffer holds the frames (masked PINs among them) until overwritten.
type scrubConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool
	buf   []byte
}

func (c *scrubConn) arm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
}

func (c *scrubConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if c.armed && c.buf == nil {
		c.buf = p[:cap(p)]
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *scrubConn) scrub() {
	c.mu.Lock()
	clear(c.buf)
	c.mu.Unlock()
}
