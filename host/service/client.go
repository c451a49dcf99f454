package service

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/eidlink/eidlink/host/nativemsg"
	"github.com/eidlink/eidlink/host/protocol"
	"github.com/gorilla/websocket"
)

// Conn is a host's connection to the service. Send and Recv carry one
// protocol message each; Send may be called concurrently with Recv.
type Conn struct {
	ws       *websocket.Conn
	w        writer
	Endpoint Endpoint
	Service  Hello // the service's hello
}

// Dial connects to the service that p locates (the endpoint in
// service.endpoint when that file exists) and exchanges hellos. It fails
// with a *VersionError when the service speaks another major version.
func Dial(ctx context.Context, p Paths) (*Conn, error) {
	secret, err := readSecret(p.Secret)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	ep := p.Endpoint
	if b, err := os.ReadFile(p.endpointFile()); err == nil {
		if ep, err = ParseEndpoint(strings.TrimSpace(string(b))); err != nil {
			return nil, err
		}
	}
	return dial(ctx, ep, secret)
}

// DialDefault dials each of DefaultPaths in turn.
func DialDefault(ctx context.Context) (*Conn, error) {
	var errs []error
	for _, p := range DefaultPaths() {
		c, err := Dial(ctx, p)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func dial(ctx context.Context, ep Endpoint, secret []byte) (*Conn, error) {
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := new(net.Dialer).DialContext(ctx, ep.Network, ep.Address)
			if err != nil {
				return nil, err
			}
			// The secret goes only to a service of this user (or root).
			if uc, ok := c.(*net.UnixConn); ok {
				if uid, err := peerUID(uc); err != nil || uid != os.Geteuid() && uid != 0 {
					c.Close()
					return nil, fmt.Errorf("%s is served by another user (uid %d)", ep, uid)
				}
			}
			return c, nil
		},
		HandshakeTimeout: handshakeTimeout,
		WriteBufferPool:  zeroingPool{},
	}
	host := "localhost"
	if ep.Network == "tcp" {
		host = ep.Address
	}
	ws, resp, err := d.DialContext(ctx, "ws://"+host+"/", http.Header{SecretHeader: {hex.EncodeToString(secret)}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s refused the connection: %s", ep, resp.Status)
		}
		return nil, err
	}
	ws.SetReadLimit(nativemsg.MaxOutgoing)
	c := &Conn{ws: ws, w: writer{ws: ws}, Endpoint: ep}
	h, err := readHello(ws, false)
	if err == nil {
		err = c.w.writeJSON(helloMessage{&Hello{ProtocolVersion, protocol.Version}})
	}
	if err != nil {
		ws.Close()
		return nil, fmt.Errorf("%s: %w", ep, err)
	}
	c.Service = *h
	return c, nil
}

// Send sends one message. The caller clears msg afterwards; the frame's
// buffer is cleared once sent.
func (c *Conn) Send(msg []byte) error { return c.w.write(msg) }

// Recv returns the next message. It fails when the service closes the
// connection: after "quit" with a *websocket.CloseError of code
// CloseNormalClosure (see Ended).
func (c *Conn) Recv() ([]byte, error) { return readMessage(c.ws) }

// Close closes the connection.
func (c *Conn) Close() error { return c.ws.Close() }

// Ended reports whether err from Recv means the service ended the session
// normally (after "quit").
func Ended(err error) bool { return websocket.IsCloseError(err, websocket.CloseNormalClosure) }

// Probe reports whether the default service answers, where, and its
// version.
func Probe(ctx context.Context) *protocol.ServiceStatus {
	c, err := DialDefault(ctx)
	if err != nil {
		return &protocol.ServiceStatus{}
	}
	defer c.Close()
	return &protocol.ServiceStatus{Running: true, Endpoint: c.Endpoint.String(), Version: c.Service.Version}
}
