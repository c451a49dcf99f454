package command

import (
	"context"
	"time"

	"github.com/eidlink/eidlink/internal/protocol"
)

// login runs the PIN conversation: it sends a PIN request, waits for the
// extension's "pin" or "cancel", and presents the PIN once. After a wrong
// PIN it sends a new request with the error and the tries left and waits
// again: a PIN is only ever tried because the extension sent it. On a
// pinpad reader the extension sends an empty PIN to start each try, and the
// holder types the PIN on the reader.
func (s *Server) login(ctx context.Context, card Card, origin, purpose string) error {
	return Login(ctx, card, origin, purpose, func(ctx context.Context, req *protocol.PINRequest) (protocol.PIN, error) {
		return s.askPIN(ctx, card, req)
	})
}

// Login is the PIN conversation of a login, with ask sending each PIN
// request and waiting for its answer: a PIN, which Login zeroes, or an
// error. The service asks this way for eidlink's PKCS#11 module's
// signatures, through the extension's "tls-pin" answers.
func Login(ctx context.Context, card Card, origin, purpose string, ask func(context.Context, *protocol.PINRequest) (protocol.PIN, error)) error {
	var last *protocol.Error
	for {
		info := card.Info()
		if info.PINLocked || info.TriesLeft == 0 {
			return protocol.Errorf(protocol.CodePINBlocked, "the PIN is blocked: unblock it with the PUK")
		}
		pin, err := ask(ctx, pinRequest(info, origin, purpose, last))
		if err != nil {
			return err
		}
		if info.Pinpad {
			pin.Zero()
			pin = nil
		} else if ferr := checkPINFormat(pin, info); ferr != nil {
			pin.Zero()
			last = ferr
			continue
		}
		err = card.Login(ctx, pin)
		pin.Zero()
		if err == nil {
			return nil
		}
		pe := protocol.AsError(err)
		if pe.Code != protocol.CodePINIncorrect {
			return err
		}
		if pe.TriesLeft != nil && *pe.TriesLeft == 0 {
			return protocol.Errorf(protocol.CodePINBlocked, "wrong PIN: the PIN is now blocked; unblock it with the PUK")
		}
		last = pe
	}
}

func pinRequest(info protocol.TokenStatus, origin, purpose string, last *protocol.Error) *protocol.PINRequest {
	return &protocol.PINRequest{
		Origin:        origin,
		Purpose:       purpose,
		CardKind:      info.CardKind,
		Holder:        info.Holder,
		CodiceFiscale: info.CodiceFiscale,
		TokenLabel:    info.Label,
		TriesLeft:     info.TriesLeft,
		LastTry:       info.TriesLeft == 1,
		MinLength:     info.MinPINLength,
		MaxLength:     info.MaxPINLength,
		PINPart:       info.PINPart,
		Driver:        driver(info),
		Pinpad:        info.Pinpad,
		Error:         last,
	}
}

// driver is PINRequest.Driver for a card.
func driver(info protocol.TokenStatus) string {
	if info.Module == protocol.ModuleNativeCIE {
		return "eidlink"
	}
	return ""
}

// checkPINFormat refuses, without using a try, a PIN the card cannot
// accept: wrong length, or not digits on Italian cards (whose PINs are).
func checkPINFormat(pin protocol.PIN, info protocol.TokenStatus) *protocol.Error {
	if info.MinPINLength > 0 && len(pin) < info.MinPINLength || info.MaxPINLength > 0 && len(pin) > info.MaxPINLength {
		if info.PINPart == "last4" {
			return protocol.Errorf(protocol.CodePINFormat, "this CIE software wants only the last 4 digits of the PIN")
		}
		return protocol.Errorf(protocol.CodePINFormat, "the PIN must be %d to %d characters", info.MinPINLength, info.MaxPINLength)
	}
	if len(pin) == 0 {
		return protocol.Errorf(protocol.CodePINFormat, "the PIN is empty")
	}
	if info.CardKind == "cie" || info.CardKind == "cns" {
		for _, c := range pin {
			if c < '0' || c > '9' {
				return protocol.Errorf(protocol.CodePINFormat, "the PIN of this card is made of digits only")
			}
		}
	}
	return nil
}

// PromptWatcher is implemented by a Card that other commands may be
// waiting for (service.Queued): login tells it while a PIN request is
// out, which may last minutes, so that they need not queue behind it.
type PromptWatcher interface {
	PromptOpen(open bool)
}

// askPIN sends a PIN request and waits for the answer that Serve hands
// over ("pin" or "cancel"), at most PINTimeout.
func (s *Server) askPIN(ctx context.Context, card Card, req *protocol.PINRequest) (protocol.PIN, error) {
	if w, ok := card.(PromptWatcher); ok {
		w.PromptOpen(true)
		defer w.PromptOpen(false)
	}
	s.ask(askingPIN)
	err := s.out(protocol.PINRequestMessage{PINRequest: req})
	if err == nil {
		timer := time.NewTimer(s.cfg.PINTimeout)
		defer timer.Stop()
		select {
		case a := <-s.pins:
			return a.pin, a.err
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
			err = protocol.Errorf(protocol.CodeUserTimeout, "no PIN was entered in time")
		}
	}
	s.ask(askingNothing)
	return nil, err
}

// ask says what the holder is now asked for. Asking for nothing drops an
// answer handed over meanwhile: it came too late.
func (s *Server) ask(a asking) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a == askingNothing && s.asking == askingNothing {
		select {
		case late := <-s.pins:
			late.pin.Zero()
		default:
		}
	}
	s.asking = a
}

// handOver gives the answer in req to the waiting command, or says why not.
func (s *Server) handOver(req *protocol.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := pinAnswer{err: protocol.Errorf(protocol.CodeUserCancelled, "the user cancelled")}
	switch {
	case s.asking == askingNothing:
		return protocol.Errorf(protocol.CodeUnexpectedPIN, "%q sent while no PIN was requested", req.Command)
	case req.Command == protocol.CmdCancel:
		if err := protocol.ParseNoArguments(req.Arguments); err != nil {
			return err
		}
	case s.asking == askingCard:
		return protocol.Errorf(protocol.CodeUnexpectedPIN, "\"pin\" sent while a card, not the PIN, is awaited")
	default:
		pin, err := protocol.ParsePIN(req.Arguments)
		if err != nil {
			return err
		}
		a = pinAnswer{pin: pin}
	}
	s.asking = askingNothing
	s.pins <- a
	return nil
}
