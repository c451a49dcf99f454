package command

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

// ServeStream serves one browser port over native-messaging framing (the
// host's stdin and stdout): it writes the version message, then serves
// commands until the browser closes the port, sends "quit", or sends a
// frame that cannot be read (answered with an error first).
func ServeStream(ctx context.Context, cfg Config, r io.Reader, w io.Writer) error {
	var mu sync.Mutex
	out := func(v any) error {
		mu.Lock()
		defer mu.Unlock()
		return nativemsg.WriteJSON(w, v)
	}
	if err := out(cfg.Hello()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return Serve(ctx, cfg, ReadFrames(ctx, r), out)
}

// ReadFrames reads native-messaging frames from r into the returned
// channel, which holds up to a few frames (beyond that, reading waits: the
// browser's input is held back, not buffered without bound). A frame that
// cannot be passed on comes as an Input with the error that answers it: an
// empty frame (reading goes on), an oversized or unreadable one (reading
// stops: the stream cannot be resynchronised). The channel is closed at the
// end of the stream or when ctx ends.
func ReadFrames(ctx context.Context, r io.Reader) <-chan Input {
	in := make(chan Input, InputBuffer)
	go func() {
		defer close(in)
		fr := nativemsg.NewReader(r, 0)
		for {
			it, more := readInput(fr)
			if it.Msg == nil && it.Err == nil {
				return
			}
			select {
			case in <- it:
			case <-ctx.Done():
				clear(it.Msg)
				return
			}
			if !more {
				return
			}
		}
	}()
	return in
}

// InputBuffer is how many messages a reader of a connection (ReadFrames,
// the service's sessions) takes ahead of the command loop.
const InputBuffer = 16

// readInput reads the next frame; more is false when reading must stop
// after it. A zero Input means the end of the stream.
func readInput(fr *nativemsg.Reader) (it Input, more bool) {
	msg, err := fr.Read()
	switch {
	case err == nil:
		return Input{Msg: msg}, true
	case errors.Is(err, nativemsg.ErrEmpty):
		return Input{Err: protocol.Errorf(protocol.CodeMalformedMessage, "empty message")}, true
	case errors.Is(err, nativemsg.ErrTooLarge):
		return Input{Err: protocol.Errorf(protocol.CodeMessageTooLarge, "message over %d bytes refused; closing", nativemsg.MaxIncoming)}, false
	case err == io.EOF:
		return Input{}, false
	}
	return Input{Err: protocol.Errorf(protocol.CodeMalformedMessage, "unreadable message: %v; closing", err)}, false
}
