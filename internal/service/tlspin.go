package service

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/tlsauth"
)

// DefaultTLSPINTimeout bounds the wait for the PIN of a TLS signature:
// below the 3 minutes the PKCS#11 module waits for a signature, so that
// the browser gets "cancelled" from the service, not a module timeout.
const DefaultTLSPINTimeout = 2 * time.Minute

// hostWait is how long a signature with nothing unlocked waits for a
// host when none is connected: the extension connects one as a page of a
// recognised site starts loading, which races with the TLS handshake.
// Without the extension, Firefox's networking waits that long (it signs
// on its networking thread) before the refusal.
const hostWait = 2 * time.Second

// tlsAsker asks the connected extensions for the PIN of a TLS signature
// when nothing is unlocked (tlsauth.Config.Ask): a "tls-pin-request"
// event to every host, the first "tls-pin" answer taken, a
// "tls-pin-result" event to close every PIN window.
type tlsAsker struct {
	hub      *hub
	timeout  time.Duration
	hostWait time.Duration

	mu      sync.Mutex
	next    uint64
	pending map[uint64]chan *protocol.TLSPINArgs
}

func newTLSAsker(h *hub, timeout time.Duration) *tlsAsker {
	if timeout <= 0 {
		timeout = DefaultTLSPINTimeout
	}
	return &tlsAsker{hub: h, timeout: timeout, hostWait: hostWait, pending: map[uint64]chan *protocol.TLSPINArgs{}}
}

// ask runs the PIN conversation for card, logged in when it returns nil.
func (a *tlsAsker) ask(ctx context.Context, card tlsauth.Card) error {
	if !a.hub.waitHost(ctx, a.hostWait) {
		return tlsauth.ErrNotAvailable
	}
	ch := make(chan *protocol.TLSPINArgs, 1)
	a.mu.Lock()
	a.next++
	id := a.next
	a.pending[id] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
		drain(ch)
	}()
	if w, ok := card.(command.PromptWatcher); ok {
		w.PromptOpen(true) // other logins do not queue behind this PIN window
		defer w.PromptOpen(false)
	}
	err := command.Login(ctx, card, "", protocol.PurposeTLS, func(ctx context.Context, req *protocol.PINRequest) (protocol.PIN, error) {
		drain(ch) // an answer to the request before: not for this one
		a.hub.publish(protocol.EventMessage{Event: protocol.EventTLSPINRequest, Data: &protocol.TLSPINRequest{ID: id, PINRequest: req}})
		timer := time.NewTimer(a.timeout)
		defer timer.Stop()
		select {
		case ans := <-ch:
			if ans.Cancel {
				return nil, protocol.Errorf(protocol.CodeUserCancelled, "the user cancelled")
			}
			return ans.PIN, nil
		case <-timer.C:
			return nil, protocol.Errorf(protocol.CodeUserTimeout, "no PIN was entered in time")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	res := &protocol.TLSPINResult{ID: id, OK: err == nil}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		res.Error = protocol.Errorf(protocol.CodeUserCancelled, "the browser gave up the signature")
	} else if err != nil {
		res.Error = protocol.AsError(err)
	}
	a.hub.publish(protocol.EventMessage{Event: protocol.EventTLSPINResult, Data: res})
	return err
}

// answer hands a "tls-pin" answer to the request it is for. It owns the
// PIN: it is zeroed when refused, else by the login.
func (a *tlsAsker) answer(args *protocol.TLSPINArgs) error {
	a.mu.Lock()
	ch, ok := a.pending[args.ID]
	a.mu.Unlock()
	if ok {
		select {
		case ch <- args:
			return nil
		default:
		}
	}
	args.PIN.Zero()
	return protocol.Errorf(protocol.CodeUnexpectedPIN, "no PIN request %d is waiting (answered in another window, or over)", args.ID)
}

func drain(ch chan *protocol.TLSPINArgs) {
	for {
		select {
		case a := <-ch:
			a.PIN.Zero()
		default:
			return
		}
	}
}
