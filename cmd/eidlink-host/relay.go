package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

// serve serves one browser port, framed as native messaging on r and w,
// once the version message is written (by main, first of all: the
// browser waits for it). It relays every message to the user's service,
// which connect reaches (starting it when none answers).
//
// The relay reads from the browser and from the service on separate
// goroutines, so neither side's backlog ever stops the other: the
// service's answers are written as they come, and the browser's messages
// wait in a small buffer (then in the browser's pipe) while the service
// is slow to take them. A frame that cannot be read is answered in its
// turn, after the answers to the messages before it.
//
// When the service is lost (gone, or silent past the heartbeat's bound),
// each request in flight, and a pending PIN request, is answered with
// ERR_EIDLINK_SERVICE_RESTARTED (retryable) and the next message connects
// again. While no service can be reached, each message is answered by the
// host itself: "status" with the reason, any other with
// ERR_EIDLINK_SERVICE_UNAVAILABLE. The relay never parses the browser's
// messages beyond their command (they may carry a PIN) and clears each
// one once sent.
func serve(ctx context.Context, log *slog.Logger, connect func(context.Context) (*ipc.Conn, error), r io.Reader, w io.Writer) error {
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := protocol.ReadFrames(ctx, r)
	conn, err := connect(ctx)
	var pending []protocol.Input // a message that arrived after the service was lost
	for {
		if err == nil {
			var lost bool
			lost, err = relay(ctx, conn, pending, in, write)
			pending = nil
			if !lost || err != nil {
				return err
			}
		} else {
			log.Warn("no eidlink service", "err", err)
			for _, it := range pending {
				answer, quit := unavailable(it, err)
				if err := out(answer); err != nil || quit {
					return err
				}
			}
			pending = nil
		}
		for pending == nil {
			var it protocol.Input
			var ok bool
			select {
			case it, ok = <-in:
			case <-ctx.Done():
				return ctx.Err()
			}
			if !ok {
				return nil
			}
			if it.Err != nil {
				if err := out(protocol.ErrorMessage{Error: it.Err}); err != nil {
					return err
				}
				continue
			}
			pending = []protocol.Input{it}
		}
		conn, err = connect(ctx)
	}
}

// hello writes the version message: this host's, not the service's, so
// that it never waits for the service.
func hello(w io.Writer) error {
	b, err := json.Marshal(protocol.Hello(protocol.Version))
	if err != nil {
		return err
	}
	return nativemsg.Write(w, b)
}

// unavailable is the host's own answer to a message while no service
// answers: why, in a status; an empty answer to "quit", after which the
// host ends (quit); or ERR_EIDLINK_SERVICE_UNAVAILABLE.
func unavailable(it protocol.Input, why error) (answer any, quit bool) {
	defer clear(it.Msg)
	var m struct {
		Command string `json:"command"`
	}
	json.Unmarshal(it.Msg, &m)
	switch m.Command {
	case protocol.CmdStatus:
		return protocol.Status{Version: protocol.Version, Mode: protocol.ModeNoService,
			Service: &protocol.ServiceStatus{User: ipc.CurrentUser(), Reason: why.Error()},
			Modules: []protocol.ModuleStatus{}, Tokens: []protocol.TokenStatus{}, Readers: []protocol.ReaderStatus{}}, false
	case protocol.CmdQuit:
		return struct{}{}, true
	}
	return protocol.ErrorMessage{Error: protocol.Errorf(protocol.CodeServiceUnavailable, "the eidlink service does not answer: %v", why)}, false
}

// relay forwards first and the messages from in to conn, and conn's
// messages to write, until the browser closes the port, the service ends
// the session ("quit") or the service is lost (lost true). Each direction
// has its own goroutine: this one sends, another receives.
func relay(ctx context.Context, conn *ipc.Conn, first []protocol.Input, in <-chan protocol.Input, write func([]byte) error) (lost bool, err error) {
	f := &flight{write: write, settled: make(chan struct{}, 1)}
	type ending struct {
		err     error
		browser bool // writing to the browser failed
	}
	recvd := make(chan ending, 1)
	go func() {
		for {
			msg, err := conn.Recv()
			if err != nil {
				conn.Close() // unblocks a Send waiting on a frozen service
				recvd <- ending{err: err}
				return
			}
			err = f.reply(msg)
			clear(msg)
			if err != nil {
				conn.Close()
				recvd <- ending{err: err, browser: true}
				return
			}
		}
	}()
	// stop closes the connection and waits for the receiving goroutine.
	var end *ending
	stop := func() ending {
		if end == nil {
			conn.Close()
			e := <-recvd
			end = &e
		}
		return *end
	}
	forward := func(it protocol.Input) (sendErr, writeErr error) {
		if it.Err != nil {
			return nil, f.local(it.Err)
		}
		f.sent()
		err := conn.Send(it.Msg)
		clear(it.Msg)
		return err, nil
	}
	for _, it := range first {
		if serr, werr := forward(it); werr != nil {
			stop()
			return false, werr
		} else if serr != nil {
			stop()
			return true, f.lost()
		}
	}
	endedByError := false // the last item was a frame that could not be read
	for {
		select {
		case <-ctx.Done():
			stop()
			return false, ctx.Err()
		case it, ok := <-in:
			if !ok && endedByError && !f.isSettled() {
				// A frame that cannot be read ended the input, not the
				// browser: it waits for the answers in flight first.
				in = nil
				continue
			}
			if !ok { // the browser closed the port: nobody waits for answers
				stop()
				return false, f.flushLocal()
			}
			endedByError = it.Err != nil
			serr, werr := forward(it)
			if werr != nil {
				stop()
				return false, werr
			}
			if serr != nil {
				if e := stop(); e.browser {
					return false, e.err
				}
				return true, f.lost()
			}
		case <-f.settled:
			if in == nil && f.isSettled() { // the input ended, and now every answer is written
				stop()
				return false, f.flushLocal()
			}
		case e := <-recvd:
			end = &e
			switch {
			case e.browser:
				return false, e.err
			case ipc.Ended(e.err): // after "quit"
				return false, nil
			}
			return true, f.lost()
		}
	}
}

// flight pairs the service's answers with the browser's messages: each
// message the browser sends gets exactly one answer that is not an event
// (a PIN request counts as the answer to the message that caused it). It
// holds the relay's own answers (to frames that could not be read) until
// the messages before them are answered, and knows what the browser
// still waits for when the service is lost.
type flight struct {
	mu    sync.Mutex
	write func([]byte) error
	// queue is in request order: nil for a message sent to the service and
	// not answered yet, else a local answer held behind those. Its head is
	// never a local answer: those are written as soon as they reach it.
	queue      []*protocol.Error
	pinPending bool
	// settled gets a value each time the queue empties on an answer.
	settled chan struct{}
}

// isSettled reports whether nothing is waited for.
func (f *flight) isSettled() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue) == 0
}

func (f *flight) sent() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, nil)
}

// local answers, in its turn, a frame that was not sent.
func (f *flight) local(e *protocol.Error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queue = append(f.queue, e)
	return f.flushLocked()
}

// reply writes a message from the service and accounts for it.
func (f *flight) reply(rep []byte) error {
	var m struct {
		Event       json.RawMessage `json:"event"`
		PINRequest  json.RawMessage `json:"pinRequest"`
		CardRequest json.RawMessage `json:"cardRequest"`
		Mode        json.RawMessage `json:"mode"`
		Error       *protocol.Error `json:"error"`
	}
	isEvent := json.Unmarshal(rep, &m) == nil && m.Event != nil
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.write(rep); err != nil || isEvent {
		return err
	}
	if len(f.queue) > 0 {
		f.queue = f.queue[1:]
	}
	switch {
	case m.PINRequest != nil || m.CardRequest != nil: // the holder is asked: the request goes on
		f.pinPending = true
	case m.Mode != nil: // a status, answered during the PIN wait too
	case m.Error != nil && f.pinPending && refusal(m.Error.Code):
		// a message refused during the PIN wait: the wait goes on
	default:
		f.pinPending = false
	}
	err := f.flushLocked()
	if len(f.queue) == 0 {
		select {
		case f.settled <- struct{}{}:
		default:
		}
	}
	return err
}

// refusal tells the errors that refuse one message without ending the
// command in progress.
func refusal(c protocol.Code) bool {
	switch c {
	case protocol.CodeBusy, protocol.CodeMalformedMessage, protocol.CodeInvalidArgument, protocol.CodeUnknownCommand, protocol.CodeUnexpectedPIN:
		return true
	}
	return false
}

func (f *flight) flushLocked() error {
	for len(f.queue) > 0 && f.queue[0] != nil {
		if err := f.writeError(f.queue[0]); err != nil {
			return err
		}
		f.queue = f.queue[1:]
	}
	return nil
}

// flushLocal writes the local answers still held, at the end.
func (f *flight) flushLocal() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.drainLocked(nil)
}

// lost answers, in order, what the browser waits for: each message in
// flight with CodeServiceRestarted, or the pending PIN request's command
// when no message is.
func (f *flight) lost() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	restarted := protocol.Errorf(protocol.CodeServiceRestarted, "the eidlink service stopped during the request: send it again")
	restarted.Retryable = true
	if len(f.queue) == 0 && f.pinPending {
		f.queue = append(f.queue, nil)
	}
	return f.drainLocked(restarted)
}

// drainLocked writes, in order, the local answers held and inFlight (when
// not nil) for each message in flight; then nothing is waited for.
func (f *flight) drainLocked(inFlight *protocol.Error) error {
	for _, e := range f.queue {
		if e == nil {
			e = inFlight
		}
		if e == nil {
			continue
		}
		if err := f.writeError(e); err != nil {
			return err
		}
	}
	f.queue, f.pinPending = nil, false
	return nil
}

func (f *flight) writeError(e *protocol.Error) error {
	b, err := json.Marshal(protocol.ErrorMessage{Error: e})
	if err != nil {
		return err
	}
	return f.write(b)
}
