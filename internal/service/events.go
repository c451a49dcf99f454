package service

import (
	"context"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// hub fans events out to every connection. A connection that does not
// keep up loses events rather than slowing the others down.
type hub struct {
	mu     sync.Mutex
	subs   map[chan protocol.EventMessage]struct{}
	joined chan struct{} // closed by the next subscribe (waitHost)
}

func (h *hub) subscribe() chan protocol.EventMessage {
	ch := make(chan protocol.EventMessage, 32)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[chan protocol.EventMessage]struct{}{}
	}
	h.subs[ch] = struct{}{}
	if h.joined != nil {
		close(h.joined)
		h.joined = nil
	}
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

// waitHost tells whether a connection is subscribed, waiting at most d
// for one when none is.
func (h *hub) waitHost(ctx context.Context, d time.Duration) bool {
	h.mu.Lock()
	if len(h.subs) > 0 {
		h.mu.Unlock()
		return true
	}
	if h.joined == nil {
		h.joined = make(chan struct{})
	}
	joined := h.joined
	h.mu.Unlock()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-joined:
	case <-timer.C:
	case <-ctx.Done():
	}
	return h.count() > 0
}
