// Package nativemsg implements the browsers' native-messaging framing: each
// message is a 4-byte little-endian length followed by that many bytes of
// UTF-8 JSON. Chrome and Firefox use the same framing on every platform
// eidlink ships for (all little-endian).
package nativemsg

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

const (
	// MaxIncoming is the largest message the host accepts from the
	// browser. The largest legitimate one, "sign", carries a certificate
	// and a hash: a few KiB.
	MaxIncoming = 64 << 10
	// MaxOutgoing is Chrome's limit for a message from a native host.
	MaxOutgoing = 1 << 20
)

// ErrTooLarge is returned for a frame over the size limit. Reading stops:
// the stream cannot be resynchronised without reading the body.
var ErrTooLarge = errors.New("nativemsg: message too large")

// ErrEmpty is returned for a zero-length frame.
var ErrEmpty = errors.New("nativemsg: empty message")

// Reader reads framed messages.
type Reader struct {
	r   io.Reader
	max uint32
}

// NewReader returns a Reader that refuses messages over max bytes
// (MaxIncoming when max is 0).
func NewReader(r io.Reader, max uint32) *Reader {
	if max == 0 {
		max = MaxIncoming
	}
	return &Reader{r: r, max: max}
}

// Read returns the next message in a new slice the caller owns. It returns
// io.EOF at a clean end of stream (the browser closed the port),
// io.ErrUnexpectedEOF for a truncated frame and an error wrapping
// ErrTooLarge without reading or allocating an oversized body.
func (r *Reader) Read() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n > r.max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, n, r.max)
	}
	if n == 0 {
		return nil, ErrEmpty
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r.r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

// Write writes msg as one frame with a single Write call.
func Write(w io.Writer, msg []byte) error {
	if len(msg) > MaxOutgoing {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(msg), MaxOutgoing)
	}
	buf := make([]byte, 4+len(msg))
	binary.LittleEndian.PutUint32(buf, uint32(len(msg)))
	copy(buf[4:], msg)
	_, err := w.Write(buf)
	return err
}

// WriteJSON marshals v and writes it as one frame.
func WriteJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return Write(w, b)
}
