package nativemsg

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func frame(n uint32, body []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, n)
	return append(b, body...)
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, m := range []string{`{"command":"status"}`, `{"a":"è"}`} {
		if err := Write(&buf, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf, 0)
	for _, want := range []string{`{"command":"status"}`, `{"a":"è"}`} {
		got, err := r.Read()
		if err != nil || string(got) != want {
			t.Fatalf("Read = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("Read at end = %v, want io.EOF", err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"oversized header, no body", frame(MaxIncoming+1, nil), ErrTooLarge},
		{"4 GiB header", frame(0xffffffff, []byte("{}")), ErrTooLarge},
		{"empty frame", frame(0, nil), ErrEmpty},
		{"truncated header", []byte{1, 0}, io.ErrUnexpectedEOF},
		{"truncated body", frame(10, []byte("{}")), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.in), 0).Read()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
		})
	}
}

// An oversized length must be refused before the body is read, so a
// hostile length never turns into an allocation or a blocking read.
func TestOversizedNotRead(t *testing.T) {
	r := &countingReader{r: bytes.NewReader(frame(1<<30, make([]byte, 100)))}
	if _, err := NewReader(r, 0).Read(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if r.n != 4 {
		t.Fatalf("read %d bytes, want only the 4-byte header", r.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestWriteLimit(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, make([]byte, MaxOutgoing+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if buf.Len() != 0 {
		t.Fatal("an oversized message was partly written")
	}
	if err := Write(&buf, make([]byte, MaxOutgoing)); err != nil {
		t.Fatal(err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(frame(2, []byte("{}")))
	f.Add(frame(0, nil))
	f.Add(frame(MaxIncoming+1, nil))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 0)
		for {
			msg, err := r.Read()
			if err != nil {
				return
			}
			if len(msg) == 0 || len(msg) > MaxIncoming {
				t.Fatalf("bad message length %d", len(msg))
			}
		}
	})
}
