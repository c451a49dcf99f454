package reader

import (
	"context"

	"github.com/eidlink/eidlink/host/card"
	"github.com/eidlink/eidlink/host/pcsc"
	"github.com/eidlink/eidlink/host/protocol"
)

// Event is the data of a protocol event: which reader and, for an
// insertion, what card.
type Event struct {
	Reader   string `json:"reader,omitempty"`
	ATR      string `json:"atr,omitempty"`
	Family   string `json:"family,omitempty"`
	CardKind string `json:"cardKind,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Events watches PC/SC until ctx ends and returns its changes as protocol
// events (card-inserted, card-removed, reader-added, reader-removed,
// pcsc-lost, pcsc-back). The first events describe the state at start.
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
	data := Event{Reader: ev.Reader}
	name := ev.Kind.String()
	switch ev.Kind {
	case pcsc.CardInserted:
		info := card.Identify(ev.ATR)
		data.ATR, data.Family, data.CardKind = info.ATRHex(), info.Name, string(info.Kind)
	case pcsc.ServiceLost:
		name = "pcsc-lost"
		if ev.Err != nil {
			data.Error = ev.Err.Error()
		}
	case pcsc.ServiceBack:
		name = "pcsc-back"
	}
	return protocol.EventMessage{Event: name, Data: data}
}
