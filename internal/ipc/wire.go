package ipc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ProtocolVersion is the version of the host-service protocol, MAJOR.MINOR.
// A side refuses a peer with another major version; minor versions only
// add what older peers may ignore.
const ProtocolVersion = "1.0"

// Hello is the first message each side sends.
type Hello struct {
	Protocol string `json:"protocol"` // ProtocolVersion
	Version  string `json:"version"`  // eidlink's version
}

type helloMessage struct {
	Hello *Hello `json:"hello"`
}

// VersionError is returned when the peer speaks another major version.
type VersionError struct {
	Ours, Theirs string
	Service      bool // the service refused the host
}

func (e *VersionError) Error() string {
	if e.Service {
		return fmt.Sprintf("the eidlink service refused this host: it speaks protocol %s, the host %s; update eidlink", e.Ours, e.Theirs)
	}
	return fmt.Sprintf("the eidlink service speaks protocol %s, this host %s; update eidlink and restart the service", e.Theirs, e.Ours)
}

func major(v string) string { m, _, _ := strings.Cut(v, "."); return m }

// readHello reads the peer's hello and checks its major version.
func readHello(ws WebSocket, service bool) (*Hello, error) {
	ws.SetReadDeadline(time.Now().Add(HandshakeTimeout))
	defer ws.SetReadDeadline(time.Time{})
	msg, err := readMessage(ws)
	if err != nil {
		return nil, err
	}
	var m helloMessage
	if err := json.Unmarshal(msg, &m); err != nil || m.Hello == nil {
		return nil, fmt.Errorf("expected a hello, got %.100q", msg)
	}
	if major(m.Hello.Protocol) != major(ProtocolVersion) {
		return m.Hello, &VersionError{Ours: ProtocolVersion, Theirs: m.Hello.Protocol, Service: service}
	}
	return m.Hello, nil
}

// HandshakeTimeout bounds each side's upgrade and hello.
const HandshakeTimeout = 3 * time.Second

const writeTimeout = 10 * time.Second

// The heartbeat: each side pings the other every pingPeriod, and takes a
// peer it hears nothing from (no message, ping or pong) for pongWait as
// frozen or gone. Pongs come from the peer's read loop, which runs even
// while a command waits for the card or for a PIN for minutes: silence
// means the peer itself is stuck (stopped, swapping, deadlocked). A
// control frame that cannot be written for pongWait (the peer reads
// nothing) breaks the connection too. Tests shorten them.
var (
	pingPeriod = 2 * time.Second
	pongWait   = 6 * time.Second
)

// heartbeat pings ws's peer until done is closed, answers its pings, and
// makes reads on ws fail once the peer has been silent for pongWait. Call
// it once the hellos are exchanged, and keep one goroutine in its read
// all the time. Pongs are written from the heartbeat's goroutine, not the
// reader's: a reader waiting to write would stop reading, and two peers
// both writing could then wait on each other.
func heartbeat(ws WebSocket, done <-chan struct{}) *beat {
	b := &beat{ws: ws, period: pingPeriod, wait: pongWait}
	b.alive()
	pongs := make(chan string, 1)
	ws.SetPongHandler(func(string) error { return b.alive() })
	ws.SetPingHandler(func(data string) error {
		b.alive()
		select {
		case pongs <- data:
		default: // a pong is on its way already
		}
		return nil
	})
	go func() {
		t := time.NewTicker(b.period)
		defer t.Stop()
		for {
			// Failed writes are no news: the read deadline decides.
			select {
			case <-done:
				return
			case data := <-pongs:
				ws.WriteControl(pongMessage, []byte(data), time.Now().Add(b.wait))
			case <-t.C:
				ws.WriteControl(pingMessage, nil, time.Now().Add(b.wait))
			}
		}
	}()
	return b
}

// beat is a connection under heartbeat.
type beat struct {
	ws           WebSocket
	period, wait time.Duration
}

// alive pushes back the read deadline: the peer was just heard from.
func (b *beat) alive() error { return b.ws.SetReadDeadline(time.Now().Add(b.wait)) }

// read reads the next message. The silence counts from now: a reader held
// back (its messages not yet taken) did not hear the peer meanwhile but
// has no reason to doubt it.
func (b *beat) read() ([]byte, error) {
	b.alive()
	return readMessage(b.ws)
}

// readMessage reads one text message into a buffer it owns, zeroing every
// smaller buffer it outgrows: a message may carry a PIN.
func readMessage(ws WebSocket) ([]byte, error) {
	typ, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	if typ != textMessage {
		return nil, errors.New("unexpected binary message")
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			bigger := make([]byte, len(buf), 2*cap(buf))
			copy(bigger, buf)
			clear(buf)
			buf = bigger
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			clear(buf)
			return nil, err
		}
	}
}

// writer serialises writes to ws.
type writer struct {
	mu sync.Mutex
	ws WebSocket
}

func (w *writer) write(msg []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return w.ws.WriteMessage(textMessage, msg)
}

func (w *writer) writeJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.write(b)
}

func (w *writer) close(code int, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ws.WriteControl(closeMessage, formatClose(code, text), time.Now().Add(time.Second))
}
