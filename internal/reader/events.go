package reader

import (
	"context"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Events watches PC/SC until ctx ends and returns its changes as protocol
// events (card-inserted, card-removed, reader-added, reader-removed,
// pcsc-lost, pcsc-back), with the reader's status as data. The first
// events describe the state at start.
func Events(ctx context.Context) <-chan protocol.EventMessage {
	out := make(chan protocol.EventMessage, 16)
	in := (&pcsc.Monitor{Open: establish}).Watch(ctx)
	go func() {
		defer close(out)
		for ev := range in {
			msg := toMessage(ev)
			select {
			case out <- msg:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func toMessage(ev pcsc.Event) protocol.EventMessage {
	switch ev.Kind {
	case pcsc.ServiceLost:
		return protocol.EventMessage{Event: "pcsc-lost"}
	case pcsc.ServiceBack:
		return protocol.EventMessage{Event: "pcsc-back"}
	}
	r := protocol.ReaderStatus{Name: ev.Reader, CardPresent: ev.Kind == pcsc.CardInserted}
	if r.CardPresent {
		info := card.Identify(ev.ATR)
		r.ATR, r.Family, r.CardKind, r.Contactless = info.ATRHex(), info.Name, string(info.Kind), info.Contactless
	}
	return protocol.EventMessage{Event: ev.Kind.String(), Data: r}
}
