package protocol

import (
	"context"
	"errors"
	"io"

	"github.com/eidlink/eidlink/internal/nativemsg"
)

// Input is one item read from the extension: a message, or the error that
// answers a frame that could not be read. The command loop answers both in
// turn.
type Input struct {
	Msg []byte
	Err *Error
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
		return Input{Err: Errorf(CodeMalformedMessage, "empty message")}, true
	case errors.Is(err, nativemsg.ErrTooLarge):
		return Input{Err: Errorf(CodeMessageTooLarge, "message over %d bytes refused; closing", nativemsg.MaxIncoming)}, false
	case err == io.EOF:
		return Input{}, false
	}
	return Input{Err: Errorf(CodeMalformedMessage, "unreadable message: %v; closing", err)}, false
}
