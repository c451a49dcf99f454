package p11wire

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

type message struct {
	typ int
	b   []byte
}

// pipe is a Conn in memory: the test writes to in, reads from out.
type pipe struct {
	in    chan message
	out   chan []byte
	limit int64
}

func newPipe() *pipe { return &pipe{in: make(chan message), out: make(chan []byte, 8)} }

func (p *pipe) ReadMessage() (int, []byte, error) {
	m, ok := <-p.in
	if !ok {
		return 0, nil, io.EOF
	}
	return m.typ, m.b, nil
}

func (p *pipe) WriteMessage(typ int, b []byte) error {
	if typ != binaryMessage {
		return errors.New("not binary")
	}
	p.out <- b
	return nil
}

func (p *pipe) SetReadLimit(n int64) { p.limit = n }

type handler struct {
	signing  chan struct{}
	canceled chan struct{}
}

func (h *handler) Snapshot(_ context.Context, known uint64) *Response {
	if known == 7 {
		return &Response{Status: StatusUnchanged, Generation: 7}
	}
	return &Response{Generation: 7, Slots: []Slot{{ID: 1}}}
}

func (h *handler) Sign(ctx context.Context, req *SignRequest) *Response {
	if h.signing == nil {
		return &Response{Signature: req.Data}
	}
	close(h.signing)
	<-ctx.Done()
	close(h.canceled)
	return &Response{Status: StatusCancelled}
}

func request(t *testing.T, r *Request) message {
	t.Helper()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return message{binaryMessage, b}
}

func reply(t *testing.T, p *pipe) *Response {
	t.Helper()
	select {
	case b := <-p.out:
		r, err := ParseResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	return nil
}

func serve(p *pipe, h Handler) chan error {
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), p, h) }()
	return done
}

func TestServe(t *testing.T) {
	p := newPipe()
	done := serve(p, &handler{})
	p.in <- request(t, &Request{Version: Version, Op: OpSnapshot})
	if r := reply(t, p); r.Version != Version || r.Status != StatusOK || len(r.Slots) != 1 {
		t.Errorf("snapshot: %+v", r)
	}
	p.in <- request(t, &Request{Version: Version, Op: OpSnapshot, Generation: 7})
	if r := reply(t, p); r.Status != StatusUnchanged {
		t.Errorf("unchanged snapshot: %+v", r)
	}
	p.in <- request(t, &Request{Version: Version, Op: OpSign, Sign: &SignRequest{Slot: 1, KeyID: []byte{1}, Mechanism: CKM_ECDSA, Data: []byte{9}}})
	if r := reply(t, p); r.Status != StatusOK || string(r.Signature) != "\x09" {
		t.Errorf("sign: %+v", r)
	}
	p.in <- request(t, &Request{Version: 2, Op: OpSnapshot})
	if r := reply(t, p); r.Status != StatusVersion || r.Version != Version {
		t.Errorf("another version: %+v", r)
	}
	p.in <- message{binaryMessage, []byte{1, 2, 3}}
	if r := reply(t, p); r.Status != StatusBadRequest {
		t.Errorf("garbage: %+v", r)
	}
	p.in <- request(t, &Request{Version: Version, Op: 9})
	if r := reply(t, p); r.Status != StatusBadRequest {
		t.Errorf("unknown op: %+v", r)
	}
	if p.limit != MaxMessage {
		t.Errorf("read limit %d, want %d", p.limit, MaxMessage)
	}
	p.in <- message{1, []byte("{}")}
	if err := <-done; !errors.Is(err, ErrText) {
		t.Errorf("a text message: %v, want ErrText", err)
	}
}

// A module that goes away while its signature waits (for the PIN)
// cancels the request.
func TestServeCancelsWhenTheModuleLeaves(t *testing.T) {
	p := newPipe()
	h := &handler{signing: make(chan struct{}), canceled: make(chan struct{})}
	done := serve(p, h)
	p.in <- request(t, &Request{Version: Version, Op: OpSign, Sign: &SignRequest{Slot: 1, KeyID: []byte{1}, Mechanism: CKM_ECDSA, Data: []byte{9}}})
	select {
	case <-h.signing:
	case <-time.After(10 * time.Second):
		t.Fatal("the sign request never reached the handler")
	}
	close(p.in)
	select {
	case <-h.canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Errorf("Serve: %v, want io.EOF", err)
	}
}
