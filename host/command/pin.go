package command

import (
	"context"
	"errors"
	"time"

	"github.com/eidlink/eidlink/host/protocol"
)

// errClosed ends Serve when the port closes during a PIN conversation.
var errClosed = errors.New("port closed")

// login runs the PIN conversation: it sends a PIN request, waits for the
// extension's "pin" or "cancel", and presents the PIN once. After a wrong
// PIN it sends a new request with the error and the tries left and waits
// again: a PIN is only ever tried because the extension sent it. On a
// pinpad reader the extension sends an empty PIN to start each try, and the
// holder types the PIN on the reader.
func (s *Server) login(ctx context.Context, card Card, origin, purpose string) error {
	var last *protocol.Error
	for {
		info := card.Info()
		if info.PINLocked || info.TriesLeft == 0 {
			return protocol.Errorf(protocol.CodePINBlocked, "the PIN is blocked: unblock it with the PUK")
		}
		req := pinRequest(info, origin, purpose, last)
		if err := s.out(protocol.PINRequestMessage{PINRequest: req}); err != nil {
			return err
		}
		pin, err := s.waitPIN(ctx)
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
		Pinpad:        info.Pinpad,
		Error:         last,
	}
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

// waitPIN waits for "pin" or "cancel". Other commands get CodeBusy.
func (s *Server) waitPIN(ctx context.Context) (protocol.PIN, error) {
	timer := time.NewTimer(s.cfg.PINTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, protocol.Errorf(protocol.CodeUserTimeout, "no PIN was entered in time")
		case msg, ok := <-s.in:
			if !ok {
				return nil, errClosed
			}
			pin, done, err := s.waitMessage(msg, true)
			clear(msg)
			if done {
				return pin, err
			}
		}
	}
}

// waitMessage handles one message received while the holder is asked for
// the PIN (pinPending) or for the card; done is false when the wait goes
// on.
func (s *Server) waitMessage(msg []byte, pinPending bool) (pin protocol.PIN, done bool, err error) {
	req, err := protocol.ParseRequest(msg)
	if err != nil {
		return s.reject("", err)
	}
	defer clear(req.Arguments)
	switch req.Command {
	case protocol.CmdPIN:
		if !pinPending {
			return s.reject(req.Command, protocol.Errorf(protocol.CodeUnexpectedPIN, "\"pin\" sent while a card, not the PIN, is awaited"))
		}
		pin, err := protocol.ParsePIN(req.Arguments)
		if err != nil {
			return s.reject(req.Command, err)
		}
		return pin, true, nil
	case protocol.CmdCancel, protocol.CmdQuit:
		if err := protocol.ParseNoArguments(req.Arguments); err != nil {
			return s.reject(req.Command, err)
		}
		if req.Command == protocol.CmdQuit {
			return nil, true, errQuit
		}
		return nil, true, protocol.Errorf(protocol.CodeUserCancelled, "the user cancelled")
	}
	if !pinPending {
		return s.reject(req.Command, protocol.Errorf(protocol.CodeBusy, "a card request is pending: present the card or send \"cancel\" first"))
	}
	return s.reject(req.Command, protocol.Errorf(protocol.CodeBusy, "a PIN request is pending: send \"pin\" or \"cancel\" first"))
}

// reject answers a message that does not end the PIN wait.
func (s *Server) reject(command string, err error) (protocol.PIN, bool, error) {
	if werr := s.fail(command, err); werr != nil {
		return nil, true, werr
	}
	return nil, false, nil
}
