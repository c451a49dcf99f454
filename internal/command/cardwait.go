package command

import (
	"context"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// DefaultCardPoll is how often a card wait asks the provider again when no
// card event comes (PKCS#11-only tokens, the service, which has no event
// source of its own here).
const DefaultCardPoll = time.Second

// openCard opens the card for a command. With no card or no reader and a
// wait allowed (the command's waitForCard), it sends a CardRequest and
// waits up to wait for the holder: it asks the provider again on every
// card event and every CardPoll, and sends a new CardRequest when the
// reason changes (a reader connected, still no card). The wait ends with
// the card, on "cancel" (CodeUserCancelled), when ctx ends ("quit", the
// port closing), or when time runs out (CodeUserTimeout). Serve answers
// other messages meanwhile: CodeBusy, or for "pin" CodeUnexpectedPIN.
func (s *Server) openCard(ctx context.Context, origin, purpose string, wait time.Duration) (Card, error) {
	return s.openCardWith(ctx, origin, purpose, wait, s.cfg.Provider.Open)
}

// openCardWith is openCard with the card that open opens.
func (s *Server) openCardWith(ctx context.Context, origin, purpose string, wait time.Duration, open func(context.Context) (Card, error)) (Card, error) {
	card, err := s.open(ctx, open)
	reason := cardReason(err)
	if reason == "" || wait <= 0 || s.cfg.NoCardWait {
		return card, err
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(s.cfg.CardPoll)
	defer poll.Stop()
	sent := ""
	s.ask(askingCard)
	defer s.ask(askingNothing)
	for {
		if reason != sent {
			req := &protocol.CardRequest{Reason: reason, Origin: origin, Purpose: purpose}
			if err := s.out(protocol.CardRequestMessage{CardRequest: req}); err != nil {
				return nil, err
			}
			sent = reason
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, protocol.Errorf(protocol.CodeUserTimeout, "no card was presented in time")
		case a := <-s.pins: // "cancel"
			return nil, a.err
		case <-poll.C:
		case <-s.changed:
		}
		card, err = s.open(ctx, open)
		if reason = cardReason(err); reason == "" {
			return card, err
		}
	}
}

// cardReason is the CardRequest reason for err from open, "" when the
// holder cannot fix it by presenting a card or a reader.
func cardReason(err error) string {
	if err == nil {
		return ""
	}
	switch protocol.AsError(err).Code {
	case protocol.CodeNoCard:
		return protocol.CardReasonNoCard
	case protocol.CodeNoReader:
		return protocol.CardReasonNoReader
	}
	return ""
}
