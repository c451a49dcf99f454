package service

import (
	"sync"

	"github.com/eidlink/eidlink/internal/protocol"
)

// hub fans events out to every connection. A connection that does not
// keep up loses events rather than slowing the others down.
type hub struct {
	mu   sync.Mutex
	subs map[chan protocol.EventMessage]struct{}
}

func (h *hub) subscribe() chan protocol.EventMessage {
	ch := make(chan protocol.EventMessage, 32)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan protocol.EventMessage]struct{}{}
	}
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan protocol.EventMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

func (h *hub) publish(ev protocol.EventMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// count is the number of connections subscribed: the hosts.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
