package ipc

import (
	"bufio"
	"bytes"
	"context"
	stdsha1 "crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These tests hold the host's WebSocket client to RFC 6455 against the
// service's library, gorilla/websocket, and against a raw server that
// sends what gorilla would not.

// gorillaServer serves upgrades with up and handle, and returns a dialled
// client.
func gorillaServer(t *testing.T, up websocket.Upgrader, handle func(*websocket.Conn)) *wsClient {
	t.Helper()
	p := serveWS(t, up, handle)
	secret, err := ReadSecret(p.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return dialWS(t, p.Endpoint, secret)
}

func dialWS(t *testing.T, ep Endpoint, secret []byte) *wsClient {
	t.Helper()
	nc, err := net.Dial(ep.Network, ep.Address)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsHandshake(ctx, nc, "localhost", "/", secret)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

// next reads the next message whole.
func next(c *wsClient) (int, []byte, error) {
	typ, r, err := c.NextReader()
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(r)
	return typ, b, err
}

// Messages of every length class (7-, 16- and 64-bit) go both ways.
func TestWebSocketInterop(t *testing.T) {
	c := gorillaServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		for {
			typ, msg, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 300000} {
		msg := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		if err := c.WriteMessage(textMessage, msg); err != nil {
			t.Fatal(err)
		}
		typ, got, err := next(c)
		if err != nil || typ != textMessage || !bytes.Equal(got, msg) {
			t.Fatalf("echo of %d bytes: type %d, %d bytes, %v", n, typ, len(got), err)
		}
	}
}

// The service's messages, fragmented by its small write buffer, come
// whole.
func TestWebSocketFragmented(t *testing.T) {
	msg := []byte(strings.Repeat("0123456789", 100))
	c := gorillaServer(t, websocket.Upgrader{WriteBufferSize: 64}, func(ws *websocket.Conn) {
		w, _ := ws.NextWriter(websocket.TextMessage)
		for i := 0; i < len(msg); i += 100 {
			w.Write(msg[i : i+100])
		}
		w.Close()
		ws.ReadMessage()
	})
	if _, got, err := next(c); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// The client answers the service's ping with its payload, and reports
// its pong to the handler.
func TestWebSocketPing(t *testing.T) {
	pong := make(chan string, 1)
	c := gorillaServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		ws.SetPongHandler(func(s string) error { pong <- s; return nil })
		ws.SetPingHandler(func(s string) error {
			return ws.WriteControl(websocket.PongMessage, []byte(s+" back"), time.Now().Add(time.Second))
		})
		ws.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
		ws.ReadMessage() // reads the pong and the ping
		ws.WriteMessage(websocket.TextMessage, []byte("done"))
		ws.ReadMessage()
	})
	got := make(chan string, 1)
	c.SetPongHandler(func(s string) error { got <- s; return nil })
	if err := c.WriteControl(pingMessage, []byte("ho"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(textMessage, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := next(c); err != nil || string(msg) != "done" {
		t.Fatalf("got %q %v", msg, err)
	}
	if s := <-pong; s != "hi" {
		t.Fatalf("the service's ping came back as %q", s)
	}
	if s := <-got; s != "ho back" {
		t.Fatalf("the pong handler got %q", s)
	}
}

// A message over the read limit fails the connection, whether one frame
// or the sum of its fragments is too long, and the service is told why
// (1009).
func TestWebSocketOversized(t *testing.T) {
	for name, wbuf := range map[string]int{"one frame": 0, "fragments": 64} {
		closed := make(chan int, 1)
		c := gorillaServer(t, websocket.Upgrader{WriteBufferSize: wbuf}, func(ws *websocket.Conn) {
			w, _ := ws.NextWriter(websocket.TextMessage) // fragments when its buffer fills
			for range 11 {
				w.Write(make([]byte, 91))
			}
			w.Close()
			_, _, err := ws.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				closed <- ce.Code
			}
			close(closed)
		})
		c.SetReadLimit(1000)
		if _, _, err := next(c); !errors.Is(err, errTooLarge) {
			t.Errorf("%s: %v, want errTooLarge", name, err)
		}
		if _, _, err := c.NextReader(); !errors.Is(err, errTooLarge) {
			t.Errorf("%s: the next read: %v, want the same error", name, err)
		}
		c.Close() // ends the service's read, had it not got the close
		if code := <-closed; code != websocket.CloseMessageTooBig {
			t.Errorf("%s: the service got close %d", name, code)
		}
	}
}

// rawServer accepts one connection, reads the upgrade request, and
// answers with respond(key), the request's Sec-WebSocket-Key, and then
// frames (a nil frame: it closes there); then it waits for the client to
// close. It returns the client, or its handshake's error.
func rawServer(t *testing.T, respond func(key string) string, frames ...[]byte) (*wsClient, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.WriteString(c, respond(req.Header.Get("Sec-WebSocket-Key")))
		for _, f := range frames {
			if f == nil {
				return
			}
			if _, err := c.Write(f); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := wsHandshake(ctx, nc, "localhost", "/", []byte{1})
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c, nil
}

func upgraded(key string) string {
	sum := stdsha1.Sum([]byte(key + acceptGUID))
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
}

// frame is an unmasked frame from the server.
func frame(b0 byte, payload string) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xFFFF:
		f = binary.BigEndian.AppendUint16(append(f, 126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 127), uint64(n))
	}
	return append(f, payload...)
}

// An upgrade that does not answer the key, or does not upgrade, is
// refused; a refusal names the server's status.
func TestWebSocketHandshake(t *testing.T) {
	for name, respond := range map[string]func(string) string{
		"wrong accept": func(string) string { return upgraded("another key") },
		"no accept": func(k string) string {
			return strings.Replace(upgraded(k), "Sec-WebSocket-Accept", "X-Accept", 1)
		},
		"no upgrade": func(k string) string { return strings.Replace(upgraded(k), "Upgrade: websocket\r\n", "", 1) },
		"extension": func(k string) string {
			return strings.Replace(upgraded(k), "\r\n\r\n", "\r\nSec-WebSocket-Extensions: x\r\n\r\n", 1)
		},
		"not http": func(string) string { return "SSH-2.0-x\r\n\r\n" },
		"long head": func(k string) string {
			return strings.Replace(upgraded(k), "\r\n\r\n", "\r\nX: "+strings.Repeat("a", maxResponseHead)+"\r\n\r\n", 1)
		},
		"cut short": func(string) string { return "HTTP/1.1 101 Switching" },
	} {
		if _, err := rawServer(t, respond); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := rawServer(t, func(string) string { return "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n" })
	var re *refusedError
	if !errors.As(err, &re) || re.status != "401 Unauthorized" {
		t.Fatalf("refused: %v", err)
	}
	// Header names are compared without case, the accept value exactly.
	c, err := rawServer(t, func(k string) string {
		return strings.NewReplacer("Upgrade: websocket", "upgrade: WebSocket", "Connection: Upgrade", "connection: keep-alive, upgrade").Replace(upgraded(k))
	}, frame(0x81, "hello"))
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, msg, err := next(c); err != nil || string(msg) != "hello" {
		t.Fatalf("the frame after the head: %q %v", msg, err)
	}
}

// What breaks RFC 6455 fails the connection; a server that closes in the
// middle of a frame gives an unexpected EOF; a message interleaved with a
// ping arrives whole.
func TestWebSocketServerFrames(t *testing.T) {
	long := strings.Repeat("x", 200)
	for name, tc := range map[string]struct {
		frames [][]byte
		want   string // the message, or the error's text
	}{
		"fragments and ping": {[][]byte{frame(0x01, "ab"), frame(0x89, "p"), frame(0x00, "cd"), frame(0x80, "ef")}, "abcdef"},
		"closes mid-frame":   {[][]byte{frame(0x81, "abcdef")[:5], nil}, io.ErrUnexpectedEOF.Error()},
		"closes mid-header":  {[][]byte{{0x81, 127, 0}, nil}, io.ErrUnexpectedEOF.Error()},
		"masked":             {[][]byte{{0x81, 0x81, 0, 0, 0, 0, 'a'}}, "masked frame"},
		"reserved bits":      {[][]byte{frame(0xC1, "a")}, "reserved bits"},
		"unknown opcode":     {[][]byte{frame(0x83, "a")}, "unknown opcode"},
		"long ping":          {[][]byte{frame(0x89, long)}, "control frame"},
		"fragmented ping":    {[][]byte{frame(0x09, "a")}, "control frame"},
		"lone continuation":  {[][]byte{frame(0x80, "a")}, "continuation frame without a message"},
		"interrupted":        {[][]byte{frame(0x01, "a"), frame(0x81, "b")}, "a new message before the end"},
		"over the limit":     {[][]byte{frame(0x01, long[:60]), frame(0x80, long[:60])}, "over the read limit"},
		"huge length":        {[][]byte{{0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}}, "out of range"},
		"close":              {[][]byte{frame(0x88, "\x03\xe8bye")}, "close 1000 bye"},
		"one-byte close":     {[][]byte{frame(0x88, "\x03")}, "close frame of one byte"},
	} {
		c, err := rawServer(t, upgraded, tc.frames...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c.SetReadLimit(100)
		_, msg, err := next(c)
		if !strings.Contains(string(msg)+errString(err), tc.want) {
			t.Errorf("%s: got %q %v, want %q", name, msg, err, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The host's frame buffer holds no PIN once its frame is sent.
func TestWriteBufferIsCleared(t *testing.T) {
	got := make(chan []byte, 1)
	c := gorillaServer(t, websocket.Upgrader{}, func(ws *websocket.Conn) {
		_, b, _ := ws.ReadMessage()
		got <- b
	})
	msg := []byte(`{"command":"pin","arguments":{"pin":"24681357"}}`)
	if err := (&writer{ws: c}).write(msg); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, msg) {
		t.Fatalf("sent %q", b)
	}
	if len(c.wbuf) < len(msg) || !bytes.Equal(c.wbuf, make([]byte, len(c.wbuf))) {
		t.Fatalf("the frame buffer (%d bytes) was not cleared: %q", len(c.wbuf), c.wbuf)
	}
}

// sha1 is SHA-1.
func TestSHA1(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for n := range len(data) {
		if got, want := sha1(data[:n]), sha1Sum(data[:n]); got != want {
			t.Fatalf("sha1 of %d bytes: %x, want %x", n, got, want)
		}
	}
}

var sha1Sum = stdsha1.Sum

// FuzzFrames feeds the client's frame reader what a server might send:
// it never panics, never returns a message over its limit or more than it
// was sent, and stops at the end of the input.
func FuzzFrames(f *testing.F) {
	f.Add(frame(0x81, "hello"))
	f.Add(append(append(frame(0x01, "ab"), frame(0x89, "p")...), frame(0x80, "cd")...))
	f.Add(frame(0x88, "\x03\xe8"))
	f.Add(frame(0x82, strings.Repeat("b", 300)))
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &wsClient{conn: &fakeConn{r: bytes.NewReader(in)}, buf: make([]byte, readBufferSize), limit: 256}
		total := 0
		for range len(in) + 1 {
			_, msg, err := next(c)
			if err != nil {
				return
			}
			if len(msg) > 256 {
				t.Fatalf("a message of %d bytes, over the limit", len(msg))
			}
			if total += len(msg); total > len(in) {
				t.Fatalf("%d bytes of messages from %d bytes", total, len(in))
			}
		}
		t.Fatal("reading did not stop at the end of the input")
	})
}

// fakeConn reads from r and discards what is written.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
