package p11wire

import (
	"context"
	"errors"
)

// Conn is what Serve needs of a WebSocket connection: gorilla/websocket's
// *Conn has it. It must allow one reader and one writer at once.
type Conn interface {
	ReadMessage() (messageType int, p []byte, err error)
	WriteMessage(messageType int, data []byte) error
	SetReadLimit(limit int64)
}

// binaryMessage is RFC 6455's binary opcode, gorilla's BinaryMessage.
const binaryMessage = 2

// Handler answers the module's requests: the service's cards.
type Handler interface {
	// Snapshot answers OpSnapshot: StatusOK with the generation and
	// every slot, or StatusUnchanged when known, if not 0, is the
	// current generation.
	Snapshot(ctx context.Context, known uint64) *Response
	// Sign answers OpSign. ctx ends when the module goes away (it gave
	// up, or the browser closed): the PIN window is then to be closed.
	Sign(ctx context.Context, req *SignRequest) *Response
}

// ErrText is returned by Serve when the module sends a text message.
var ErrText = errors.New("p11wire: a text message on the module's connection")

// Serve answers the requests on c with h, in order, until c fails, the
// module sends something that is not a binary message, or ctx ends; the
// caller then closes c. Messages over MaxMessage are refused by c's read
// limit. While a request is answered, c is still read, so that a module
// that goes away cancels the request's context.
func Serve(ctx context.Context, c Conn, h Handler) error {
	c.SetReadLimit(MaxMessage)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	msgs := make(chan []byte)
	go func() {
		for {
			typ, msg, err := c.ReadMessage()
			if err == nil && typ != binaryMessage {
				err = ErrText
			}
			if err != nil {
				cancel(err)
				return
			}
			select {
			case msgs <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case msg := <-msgs:
			b, err := Answer(ctx, h, msg).MarshalBinary()
			if err != nil {
				b, _ = (&Response{Version: Version, Status: StatusDeviceError, Message: err.Error()}).MarshalBinary()
			}
			if err := c.WriteMessage(binaryMessage, b); err != nil {
				return err
			}
		}
	}
}

// Answer decodes one request and answers it with h: StatusBadRequest for
// a malformed one, StatusVersion for another version. The response
// carries Version.
func Answer(ctx context.Context, h Handler, msg []byte) *Response {
	req, err := ParseRequest(msg)
	var res *Response
	switch {
	case err != nil:
		res = &Response{Status: StatusBadRequest, Message: err.Error()}
	case req.Version != Version:
		res = &Response{Status: StatusVersion}
	case req.Op == OpSnapshot:
		res = h.Snapshot(ctx, req.Generation)
	case req.Op == OpSign:
		res = h.Sign(ctx, req.Sign)
	default:
		res = &Response{Status: StatusBadRequest, Message: "unknown op"}
	}
	if res == nil {
		res = &Response{Status: StatusDeviceError}
	}
	res.Version = Version
	return res
}
