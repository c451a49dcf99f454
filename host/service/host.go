package service

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"

	"github.com/eidlink/eidlink/host/command"
	"github.com/eidlink/eidlink/host/nativemsg"
	"github.com/eidlink/eidlink/host/protocol"
)

// ServeHost serves one browser port, framed as native messaging on r and
// w, the way eidlink-host does. It writes the version message, then
// relays every message to the service dial connects to; when dial fails
// it runs the commands in-process with cfg, as command.ServeStream does.
//
// When the service is lost, the request in flight, if any, is answered
// with ERR_EIDLINK_SERVICE_RESTARTED (retryable) and the next message
// dials again, or falls back to in-process. The relay never parses the
// browser's messages (they may carry a PIN) and clears each one once
// sent.
func ServeHost(ctx context.Context, cfg command.Config, dial func(context.Context) (*Conn, error), r io.Reader, w io.Writer) error {
	var mu sync.Mutex
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return nativemsg.Write(w, b)
	}
	out := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return write(b)
	}
	if err := out(cfg.Hello()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := command.ReadFrames(ctx, r, out)
	conn, err := dial(ctx)
	var pending []byte // a message that arrived after the service was lost
	for err == nil {
		var lost bool
		lost, err = relay(ctx, conn, pending, in, write, out)
		if !lost || err != nil {
			return err
		}
		var ok bool
		if pending, ok = <-in; !ok {
			return nil
		}
		conn, err = dial(ctx)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var ve *VersionError
	if errors.As(err, &ve) {
		cfg.Log.Warn("eidlink service of another version: working in-process", "err", err)
	} else {
		cfg.Log.Info("eidlink service not reachable: working in-process", "err", err)
	}
	status, reason := cfg.Status, err.Error()
	cfg.Status = func(ctx context.Context, st *protocol.Status) {
		if status != nil {
			status(ctx, st)
		}
		if st.Service == nil {
			st.Service = &protocol.ServiceStatus{User: currentUser(), Reason: reason}
		}
	}
	if pending != nil {
		in = prepend(ctx, pending, in)
	}
	return command.Serve(ctx, cfg, in, out)
}

// relay forwards first (if not nil) and the messages from in to conn, and
// conn's messages to write, until the browser closes the port, the
// service ends the session ("quit") or the service is lost (lost true).
func relay(ctx context.Context, conn *Conn, first []byte, in <-chan []byte, write func([]byte) error, out func(any) error) (lost bool, err error) {
	defer conn.Close()
	replies := make(chan []byte)
	var recvErr error
	go func() {
		defer close(replies)
		for {
			msg, err := conn.Recv()
			if err != nil {
				recvErr = err
				return
			}
			select {
			case replies <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	var f flight
	send := func(msg []byte) error {
		f.outstanding++
		err := conn.Send(msg)
		clear(msg)
		return err
	}
	if first != nil && send(first) != nil {
		return f.lost(out)
	}
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case msg, ok := <-in:
			if !ok {
				return false, nil
			}
			if send(msg) != nil {
				return f.lost(out)
			}
		case rep, ok := <-replies:
			if !ok {
				if Ended(recvErr) {
					return false, nil
				}
				return f.lost(out)
			}
			f.saw(rep)
			err := write(rep)
			clear(rep)
			if err != nil {
				return false, err
			}
		}
	}
}

// flight tracks whether the browser waits for an answer: a message sent
// and not yet answered, or a PIN request pending.
type flight struct {
	outstanding int
	pinPending  bool
}

func (f *flight) saw(rep []byte) {
	var m struct {
		Event       json.RawMessage `json:"event"`
		PINRequest  json.RawMessage `json:"pinRequest"`
		CardRequest json.RawMessage `json:"cardRequest"`
		Error       *protocol.Error `json:"error"`
	}
	if json.Unmarshal(rep, &m) != nil || m.Event != nil {
		return
	}
	f.outstanding = max(f.outstanding-1, 0)
	switch {
	case m.PINRequest != nil || m.CardRequest != nil: // the holder is asked: the request goes on
		f.pinPending = true
	case m.Error != nil && f.pinPending && (m.Error.Code == protocol.CodeBusy || m.Error.Code == protocol.CodeMalformedMessage || m.Error.Code == protocol.CodeInvalidArgument):
		// a message refused during the PIN wait: the wait goes on
	default:
		f.pinPending = false
	}
}

// lost answers the request in flight, if any, with CodeServiceRestarted.
func (f *flight) lost(out func(any) error) (bool, error) {
	if f.outstanding == 0 && !f.pinPending {
		return true, nil
	}
	e := protocol.Errorf(protocol.CodeServiceRestarted, "the eidlink service stopped during the request: send it again")
	e.Retryable = true
	return true, out(protocol.ErrorMessage{Error: e})
}

// prepend returns a channel that yields first, then what in yields.
func prepend(ctx context.Context, first []byte, in <-chan []byte) <-chan []byte {
	c := make(chan []byte)
	go func() {
		defer close(c)
		for msg, ok := first, true; ok; msg, ok = <-in {
			select {
			case c <- msg:
			case <-ctx.Done():
				clear(msg)
				return
			}
		}
	}()
	return c
}
