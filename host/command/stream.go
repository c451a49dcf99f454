package command

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/eidlink/eidlink/host/nativemsg"
	"github.com/eidlink/eidlink/host/protocol"
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
	return Serve(ctx, cfg, ReadFrames(ctx, r, out), out)
}

// ReadFrames reads native-messaging frames from r into the returned
// channel (an empty frame as an empty message, which the command loop
// refuses in turn), answering with out the frames it cannot pass on: an
// oversized or unreadable one (reading stops: the stream cannot be
// resynchronised). The channel is closed at the end of
// the stream or when ctx ends.
func ReadFrames(ctx context.Context, r io.Reader, out func(any) error) <-chan []byte {
	in := make(chan []byte)
	go func() {
		defer close(in)
		fr := nativemsg.NewReader(r, 0)
		for {
			msg, err := fr.Read()
			if errors.Is(err, nativemsg.ErrEmpty) {
				// Answered by the command loop, in order with the
				// answers to the messages before it.
				msg, err = []byte{}, nil
			}
			switch {
			case err == nil:
				select {
				case in <- msg:
				case <-ctx.Done():
					clear(msg)
					return
				}
			case errors.Is(err, nativemsg.ErrTooLarge):
				out(protocol.ErrorMessage{Error: protocol.Errorf(protocol.CodeMessageTooLarge, "message over %d bytes refused; closing", nativemsg.MaxIncoming)})
				return
			case err == io.EOF:
				return
			default:
				out(protocol.ErrorMessage{Error: protocol.Errorf(protocol.CodeMalformedMessage, "unreadable message: %v; closing", err)})
				return
			}
		}
	}()
	return in
}
