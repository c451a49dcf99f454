package command

import (
	"context"
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
	return Serve(ctx, cfg, protocol.ReadFrames(ctx, r), out)
}
