package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"syscall"

	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Conn is a connection between a host and the service, on either side.
// Send and Recv carry one protocol message each; Send may be called
// concurrently with Recv.
type Conn struct {
	ws       WebSocket
	w        writer
	beat     *beat
	closed   chan struct{} // stops the heartbeat
	close    sync.Once
	Endpoint Endpoint
	Peer     Hello // the other side's hello
}

// NewConn wraps the service's side of a new connection, on ep, whose
// hellos are still to exchange (Accept).
func NewConn(ws WebSocket, ep Endpoint) *Conn {
	return &Conn{ws: ws, w: writer{ws: ws}, Endpoint: ep, closed: make(chan struct{})}
}

// Accept exchanges hellos on the service's side, the service's first
// (version is eidlink's), and starts the heartbeat. It fails for a host
// that is gone, and with a *VersionError for one of another major
// protocol version, which the caller tells why.
func (c *Conn) Accept(version string) error {
	if err := c.w.writeJSON(helloMessage{&Hello{ProtocolVersion, version}}); err != nil {
		return err
	}
	peer, err := readHello(c.ws, true)
	if err != nil {
		return err
	}
	c.Peer = *peer
	c.beat = heartbeat(c.ws, c.closed)
	return nil
}

// Dial connects to the service that p locates (the endpoint in
// service.endpoint when that file exists) and exchanges hellos. Its errors
// say why no service answers; it fails with a *VersionError when the
// service speaks another major version.
func Dial(ctx context.Context, p Paths) (*Conn, error) {
	secret, err := ReadSecret(p.Secret)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no eidlink service has run for this user (no %s)", p.Secret)
	}
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	ep := p.Endpoint
	if b, err := os.ReadFile(p.EndpointFile()); err == nil {
		if ep, err = ParseEndpoint(strings.TrimSpace(string(b))); err != nil {
			return nil, err
		}
	}
	if strings.HasSuffix(ep.Address, ":0") {
		return nil, fmt.Errorf("no eidlink service runs for this user (no %s)", p.EndpointFile())
	}
	return dial(ctx, ep, secret)
}

// DialDefault dials the user's own service: the only one a host uses.
func DialDefault(ctx context.Context) (*Conn, error) {
	p, err := PathsFor(DefaultName)
	if err != nil {
		return nil, err
	}
	return Dial(ctx, p)
}

func dial(ctx context.Context, ep Endpoint, secret []byte) (*Conn, error) {
	nc, err := new(net.Dialer).DialContext(ctx, ep.Network, ep.Address)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, fmt.Errorf("no eidlink service listens on %s", ep)
	}
	if err != nil {
		return nil, err
	}
	// The secret goes only to this user's own service.
	if uc, ok := nc.(*net.UnixConn); ok {
		if uid, err := PeerUID(uc); err != nil || uid != os.Geteuid() {
			nc.Close()
			return nil, fmt.Errorf("%s is served by another user (uid %d): a host talks only to its own user's service", ep, uid)
		}
	}
	host := "localhost"
	if ep.Network == "tcp" {
		host = ep.Address
	}
	ws, err := wsHandshake(ctx, nc, host, "/", secret)
	if err != nil {
		nc.Close()
		var re *refusedError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s refused the connection: %s", ep, re.status)
		}
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	ws.SetReadLimit(nativemsg.MaxOutgoing)
	c := &Conn{ws: ws, w: writer{ws: ws}, Endpoint: ep, closed: make(chan struct{})}
	h, err := readHello(ws, false)
	if err == nil {
		err = c.w.writeJSON(helloMessage{&Hello{ProtocolVersion, protocol.Version}})
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	c.Peer = *h
	c.beat = heartbeat(ws, c.closed)
	return c, nil
}

// Send sends one message. The caller clears msg afterwards; the frame's
// buffer is cleared once sent (on the host's side).
func (c *Conn) Send(msg []byte) error { return c.w.write(msg) }

// SendJSON sends v as one message.
func (c *Conn) SendJSON(v any) error { return c.w.writeJSON(v) }

// End tells the peer that the session is over: normally (after "quit",
// see Ended) or not. Close the connection after.
func (c *Conn) End(normal bool) {
	if normal {
		c.w.close(closeNormal, "")
	} else {
		c.w.close(closeGoingAway, "")
	}
}

// Recv returns the next message. It fails when the peer closes the
// connection: after "quit" with a *CloseError of code 1000 (see
// Ended); and when the peer has not answered
// the heartbeat for a few seconds (frozen). Keep one goroutine in Recv for
// as long as the connection is used: it answers the peer's pings.
func (c *Conn) Recv() ([]byte, error) { return c.beat.read() }

// Close closes the connection.
func (c *Conn) Close() error {
	c.close.Do(func() { close(c.closed) })
	return c.ws.Close()
}

// Ended reports whether err from Recv means the service ended the session
// normally (after "quit").
func Ended(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce) && ce.Code == closeNormal
}

// Probe reports whether the user's own service answers, where, and its
// version, or why it does not.
func Probe(ctx context.Context) *protocol.ServiceStatus {
	st := &protocol.ServiceStatus{User: CurrentUser()}
	c, err := DialDefault(ctx)
	if err != nil {
		st.Reason = err.Error()
		return st
	}
	defer c.Close()
	st.Running, st.Endpoint, st.Version = true, c.Endpoint.String(), c.Peer.Version
	return st
}

// CurrentUser names the user this process runs as: the only user its
// service serves.
func CurrentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return fmt.Sprint("uid ", os.Geteuid())
}
