package ipc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"
)

// The host's side of the WebSocket (RFC 6455): a small client of its own,
// so that eidlink-host links neither net/http nor gorilla/websocket
// (linking net/http alone makes a Go program start half again as slow). It speaks what the service's side
// (gorilla/websocket, package ipcserver) needs: one upgrade request,
// masked frames out, unmasked frames in, fragmented messages, ping, pong
// and close. Its method set is gorilla's, so that Conn drives either.

// Message types and close codes (RFC 6455 opcodes and status codes, the
// numbers gorilla/websocket uses too).
const (
	continuationFrame = 0
	textMessage       = 1
	binaryMessage     = 2
	closeMessage      = 8
	pingMessage       = 9
	pongMessage       = 10

	closeNormal          = 1000
	closeGoingAway       = 1001
	closeProtocolError   = 1002
	closeMessageTooLarge = 1009
)

// WebSocket is a WebSocket connection as Conn uses it: the methods of
// gorilla/websocket's Conn (the service's side) and of this package's
// client (the host's side).
type WebSocket interface {
	// NextReader returns the next data message; control frames that come
	// meanwhile go to the handlers. After an error, it fails for good.
	NextReader() (messageType int, r io.Reader, err error)
	WriteMessage(messageType int, data []byte) error
	// WriteControl may be called concurrently with the other methods.
	WriteControl(messageType int, data []byte, deadline time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	SetPingHandler(h func(appData string) error)
	SetPongHandler(h func(appData string) error)
	Close() error
}

// CloseError is the close frame the peer sent: Recv returns it once the
// peer ends the connection.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket: close %d %s", e.Code, e.Text)
}

// formatClose is the payload of a close frame.
func formatClose(code int, text string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), text...)
}

// Bounds of the client.
const (
	maxResponseHead = 4 << 10 // the server's upgrade response, headers included
	readBufferSize  = 4 << 10
	maxControl      = 125 // RFC 6455 5.5
)

// acceptGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func acceptKey(key string) string {
	sum := sha1([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// sha1 is SHA-1 (FIPS 180-4), for Sec-WebSocket-Accept only, where it
// checks that the server read the upgrade request: no security rests on
// it. It is not crypto/sha1, which links the FIPS 140 module (its DRBG,
// AES-GCM and self-tests) into eidlink-host; so does crypto/rand, hence
// math/rand/v2 for the key and the masks, which guard proxies' caches and
// there is no proxy on a local socket.
func sha1(data []byte) [20]byte {
	h := [5]uint32{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}
	n := len(data)
	data = append(data[:n:n], 0x80)
	for len(data)%64 != 56 {
		data = append(data, 0)
	}
	data = binary.BigEndian.AppendUint64(data, uint64(n)*8)
	var w [80]uint32
	for ; len(data) > 0; data = data[64:] {
		for i := range 16 {
			w[i] = binary.BigEndian.Uint32(data[4*i:])
		}
		for i := 16; i < 80; i++ {
			w[i] = bits.RotateLeft32(w[i-3]^w[i-8]^w[i-14]^w[i-16], 1)
		}
		a, b, c, d, e := h[0], h[1], h[2], h[3], h[4]
		for i := range 80 {
			var f, k uint32
			switch {
			case i < 20:
				f, k = b&c|^b&d, 0x5A827999
			case i < 40:
				f, k = b^c^d, 0x6ED9EBA1
			case i < 60:
				f, k = b&c|b&d|c&d, 0x8F1BBCDC
			default:
				f, k = b^c^d, 0xCA62C1D6
			}
			a, b, c, d, e = bits.RotateLeft32(a, 5)+f+e+k+w[i], a, bits.RotateLeft32(b, 30), c, d
		}
		h[0], h[1], h[2], h[3], h[4] = h[0]+a, h[1]+b, h[2]+c, h[3]+d, h[4]+e
	}
	var sum [20]byte
	for i, v := range h {
		binary.BigEndian.PutUint32(sum[4*i:], v)
	}
	return sum
}

// wsClient is the client's connection.
type wsClient struct {
	conn net.Conn

	// Reading: one goroutine at a time.
	buf     []byte // read buffer; buf[r:w] is not read yet
	r, w    int
	limit   int64 // largest message; 0: no limit
	readErr error // sticky
	msg     *messageReader
	onPing  func(string) error
	onPong  func(string) error

	// Writing: frames are written whole, under wmu.
	wmu       sync.Mutex
	wbuf      []byte // cleared once each frame is written: it held a message
	writeDead time.Time
	closeSent bool
}

// errCloseSent is returned for a write after the close frame.
var errCloseSent = errors.New("websocket: close sent")

// wsHandshake sends the upgrade request for path on conn, with the secret
// in SecretHeader, and checks the server's answer: 101, and the
// Sec-WebSocket-Accept of the key sent. A refusal comes as a
// *refusedError naming the server's status. The request buffer, which
// holds the secret, is cleared once written.
func wsHandshake(ctx context.Context, conn net.Conn, host, path string, secret []byte) (*wsClient, error) {
	deadline := time.Now().Add(HandshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	nonce := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, rand.Uint64()), rand.Uint64())
	key := base64.StdEncoding.EncodeToString(nonce)
	head := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + SecretHeader + ": "
	req := make([]byte, 0, len(head)+hex.EncodedLen(len(secret))+4) // never grown: one copy of the secret
	req = append(req, head...)
	req = hex.AppendEncode(req, secret)
	req = append(req, "\r\n\r\n"...)
	_, err := conn.Write(req)
	clear(req)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	c := &wsClient{conn: conn, buf: make([]byte, readBufferSize)}
	resp, err := c.readHead()
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if err := checkUpgrade(resp, acceptKey(key)); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	return c, nil
}

// ctxErr prefers the context's error to the one its cancellation caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readHead reads the response head, up to its blank line, leaving what
// follows (the first frames) in the buffer.
func (c *wsClient) readHead() ([]byte, error) {
	for {
		if i := bytes.Index(c.buf[:c.w], []byte("\r\n\r\n")); i >= 0 {
			c.r = i + 4
			return c.buf[:i+2], nil
		}
		if c.w >= maxResponseHead {
			return nil, errors.New("websocket: the upgrade response is too long")
		}
		n, err := c.conn.Read(c.buf[c.w:maxResponseHead])
		c.w += n
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("websocket: reading the upgrade response: %w", err)
		}
	}
}

// refusedError is an upgrade the server answered with another status.
type refusedError struct{ status string }

func (e *refusedError) Error() string { return "websocket: the server answered " + e.status }

// checkUpgrade checks the response head (status line and headers, each
// line ending in CRLF): 101, Upgrade: websocket, Connection: upgrade and
// the Sec-WebSocket-Accept that answers the key sent.
func checkUpgrade(head []byte, accept string) error {
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n"), "\r\n")
	proto, status, _ := strings.Cut(lines[0], " ")
	if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
		return fmt.Errorf("websocket: not an HTTP response: %.40q", lines[0])
	}
	if code, _, _ := strings.Cut(status, " "); code != "101" {
		return &refusedError{status}
	}
	var upgrade, connection, accepted bool
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("websocket: malformed header line %.40q", l)
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "upgrade":
			upgrade = upgrade || strings.EqualFold(value, "websocket")
		case "connection":
			for _, t := range strings.Split(value, ",") {
				connection = connection || strings.EqualFold(strings.TrimSpace(t), "upgrade")
			}
		case "sec-websocket-accept":
			accepted = value == accept
		case "sec-websocket-extensions", "sec-websocket-protocol":
			return fmt.Errorf("websocket: the server chose %s, which was not offered", name)
		}
	}
	switch {
	case !upgrade || !connection:
		return errors.New("websocket: the server did not upgrade the connection")
	case !accepted:
		return errors.New("websocket: wrong or missing Sec-WebSocket-Accept")
	}
	return nil
}

// SetReadLimit bounds the messages read: a larger one fails the
// connection (close 1009).
func (c *wsClient) SetReadLimit(n int64) { c.limit = n }

func (c *wsClient) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

func (c *wsClient) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	c.writeDead = t
	c.wmu.Unlock()
	return nil
}

func (c *wsClient) SetPingHandler(h func(string) error) { c.onPing = h }
func (c *wsClient) SetPongHandler(h func(string) error) { c.onPong = h }

// Close closes the connection, without a close frame.
func (c *wsClient) Close() error { return c.conn.Close() }

func (c *wsClient) WriteMessage(typ int, data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(typ, data, c.writeDead)
}

func (c *wsClient) WriteControl(typ int, data []byte, deadline time.Time) error {
	if len(data) > maxControl {
		return errors.New("websocket: control frame too long")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(typ, data, deadline)
}

// writeFrameLocked writes one final, masked frame.
func (c *wsClient) writeFrameLocked(op int, data []byte, deadline time.Time) error {
	if c.closeSent {
		return errCloseSent
	}
	n := len(data)
	frame := c.wbuf[:0]
	if need := 14 + n; cap(frame) < need {
		clear(c.wbuf)
		frame = make([]byte, 0, need)
	}
	frame = append(frame, 0x80|byte(op))
	switch {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xFFFF:
		frame = binary.BigEndian.AppendUint16(append(frame, 0x80|126), uint16(n))
	default:
		frame = binary.BigEndian.AppendUint64(append(frame, 0x80|127), uint64(n))
	}
	mask := binary.LittleEndian.AppendUint32(nil, rand.Uint32())
	frame = append(frame, mask...)
	// Masked byte by byte, not copied then masked: a copy (memmove) holds
	// up to 64 bytes of the message in vector registers until some later
	// copy on the thread replaces them, and a signal taken meanwhile (the
	// runtime preempts with SIGURG) saves them on the thread's signal
	// stack, which nothing clears. One byte at a time, no register ever
	// holds more than a byte of a PIN.
	h := len(frame)
	frame = frame[:h+n]
	for i := range n {
		frame[h+i] = data[i] ^ mask[i&3]
	}
	c.wbuf = frame
	c.conn.SetWriteDeadline(deadline)
	_, err := c.conn.Write(frame)
	clear(frame)
	if op == closeMessage {
		c.closeSent = true
	}
	return err
}

// fill reads more into the buffer, moving the unread bytes to its start
// first.
func (c *wsClient) fill() error {
	if c.r > 0 {
		n := copy(c.buf, c.buf[c.r:c.w])
		clear(c.buf[n:c.w])
		c.r, c.w = 0, n
	}
	n, err := c.conn.Read(c.buf[c.w:])
	c.w += n
	if n > 0 {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// need makes n bytes available at c.buf[c.r:].
func (c *wsClient) need(n int) error {
	for c.w-c.r < n {
		if err := c.fill(); err != nil {
			return err
		}
	}
	return nil
}

// header is a frame's header.
type header struct {
	fin bool
	op  int
	len int64
}

// errProtocol is a frame that breaks RFC 6455.
type errProtocol string

func (e errProtocol) Error() string { return "websocket: " + string(e) }

// readHeader reads the next frame's header.
func (c *wsClient) readHeader() (header, error) {
	if err := c.need(2); err != nil {
		return header{}, err
	}
	b0, b1 := c.buf[c.r], c.buf[c.r+1]
	h := header{fin: b0&0x80 != 0, op: int(b0 & 0x0F), len: int64(b1 & 0x7F)}
	n := 2
	switch h.len {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	switch {
	case b0&0x70 != 0:
		return h, errProtocol("reserved bits set")
	case b1&0x80 != 0:
		return h, errProtocol("masked frame from the server")
	}
	if err := c.need(n); err != nil {
		return h, err
	}
	switch h.len {
	case 126:
		h.len = int64(binary.BigEndian.Uint16(c.buf[c.r+2:]))
	case 127:
		u := binary.BigEndian.Uint64(c.buf[c.r+2:])
		if u > 1<<62 {
			return h, errProtocol("frame length out of range")
		}
		h.len = int64(u)
	}
	c.r += n
	switch h.op {
	case continuationFrame, textMessage, binaryMessage:
	case closeMessage, pingMessage, pongMessage:
		if !h.fin || h.len > maxControl {
			return h, errProtocol("fragmented or long control frame")
		}
	default:
		return h, errProtocol(fmt.Sprintf("unknown opcode %d", h.op))
	}
	return h, nil
}

// nextDataFrame reads frames until a data frame's header, handling the
// control frames before it.
func (c *wsClient) nextDataFrame() (header, error) {
	for {
		h, err := c.readHeader()
		if err != nil {
			return h, err
		}
		if h.op < closeMessage {
			return h, nil
		}
		if err := c.need(int(h.len)); err != nil {
			return h, err
		}
		payload := string(c.buf[c.r : c.r+int(h.len)])
		c.r += int(h.len)
		switch h.op {
		case pingMessage:
			if c.onPing != nil {
				err = c.onPing(payload)
			} else {
				err = c.WriteControl(pongMessage, []byte(payload), time.Now().Add(time.Second))
			}
		case pongMessage:
			if c.onPong != nil {
				err = c.onPong(payload)
			}
		case closeMessage:
			return h, c.closed(payload)
		}
		if err != nil {
			return h, err
		}
	}
}

// closed answers the peer's close frame and returns it as a *CloseError.
func (c *wsClient) closed(payload string) error {
	e := &CloseError{Code: 1005} // no status code
	if len(payload) == 1 {
		return errProtocol("close frame of one byte")
	}
	if len(payload) >= 2 {
		e.Code, e.Text = int(binary.BigEndian.Uint16([]byte(payload))), payload[2:]
	}
	c.WriteControl(closeMessage, formatClose(e.Code, ""), time.Now().Add(time.Second))
	return e
}

// fail makes err the connection's error for good, telling the peer why
// when it broke the protocol.
func (c *wsClient) fail(err error) error {
	code := 0
	var pe errProtocol
	switch {
	case errors.Is(err, errTooLarge):
		code = closeMessageTooLarge
	case errors.As(err, &pe):
		code = closeProtocolError
	}
	if code != 0 {
		c.WriteControl(closeMessage, formatClose(code, ""), time.Now().Add(time.Second))
	}
	c.readErr = err
	return err
}

var errTooLarge = errors.New("websocket: message over the read limit")

// NextReader returns the next data message, after the rest of the
// previous one.
func (c *wsClient) NextReader() (int, io.Reader, error) {
	if c.readErr != nil {
		return 0, nil, c.readErr
	}
	if m := c.msg; m != nil {
		c.msg = nil
		if _, err := io.Copy(io.Discard, m); err != nil {
			return 0, nil, err
		}
	}
	h, err := c.nextDataFrame()
	if err == nil && h.op == continuationFrame {
		err = errProtocol("continuation frame without a message")
	}
	if err == nil && c.limit > 0 && h.len > c.limit {
		err = errTooLarge
	}
	if err != nil {
		return 0, nil, c.fail(err)
	}
	c.msg = &messageReader{c: c, left: h.len, fin: h.fin, size: h.len}
	return h.op, c.msg, nil
}

// messageReader reads one message, frame after frame.
type messageReader struct {
	c    *wsClient
	left int64 // in the current frame
	fin  bool  // the current frame is the last
	size int64 // so far, for the limit
}

func (m *messageReader) Read(p []byte) (int, error) {
	c := m.c
	if c.readErr != nil {
		return 0, c.readErr
	}
	for m.left == 0 {
		if m.fin {
			return 0, io.EOF
		}
		h, err := c.nextDataFrame()
		if err == nil && h.op != continuationFrame {
			err = errProtocol("a new message before the end of the previous one")
		}
		if err == nil && c.limit > 0 && h.len > c.limit-m.size {
			err = errTooLarge
		}
		if err != nil {
			return 0, c.fail(err)
		}
		m.left, m.fin, m.size = h.len, h.fin, m.size+h.len
	}
	if c.r == c.w {
		if err := c.fill(); err != nil {
			return 0, c.fail(err)
		}
	}
	n := copy(p, c.buf[c.r:min(c.w, c.r+int(min(m.left, int64(len(p)))))])
	clear(c.buf[c.r : c.r+n])
	c.r += n
	m.left -= int64(n)
	return n, nil
}
