package cie

import (
	"errors"
	"fmt"

	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
)

// Error is a failed operation of the driver.
type Error struct {
	Op  string // "verify the PIN", "sign", ...
	Err error
}

func (e *Error) Error() string { return "cie: " + e.Op + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Hint says what to do about the error, for the holder or for a report.
func (e *Error) Hint() string { return Hint(e.Err) }

// Hint returns advice for an error of the driver or of the card.
func Hint(err error) string {
	var ae *pcsc.AuthError
	var se *pcsc.StatusError
	switch {
	case errors.Is(err, ErrPINFormat):
		return "type all 8 digits of the PIN (the first 4 from the town hall, the last 4 from the letter with the card)"
	case errors.As(err, &ae) && ae.Retries > 0:
		return fmt.Sprintf("wrong PIN: %d tries left before the PIN blocks", ae.Retries)
	case errors.Is(err, pcsc.ErrBlocked):
		return "the PIN is blocked: unblock it with the PUK (eidlink cie unblock) or at the town hall"
	case errors.Is(err, ErrLoginRequired):
		return "the card's session ended (card reset or removed, or another application used it): type the PIN again"
	case errors.Is(err, ErrNotCIE):
		return "this card is not a CIE 3.0: use it through its PKCS#11 module"
	case errors.Is(err, iasecc.ErrMAC), errors.Is(err, iasecc.ErrSMFormat):
		return "the secure channel with the card broke (a contactless card moved?): keep the card still on the reader and retry"
	case errors.Is(err, iasecc.ErrDeviceAuth), errors.Is(err, iasecc.ErrCVC):
		return "the card did not prove it is a genuine CIE: send an APDU trace (EIDLINK_APDU_TRACE=FILE) with a bug report"
	case errors.Is(err, pcsc.ErrCardRemoved):
		return "the card left the reader: put it back and keep it still"
	case errors.Is(err, pcsc.ErrCardReset):
		return "another application reset the card: retry"
	case errors.Is(err, pcsc.ErrSharingViolation):
		return "another application holds the card: close it and retry"
	case errors.As(err, &se):
		switch se.SW {
		case 0x6982:
			return "the card refused: the PIN or the secure session is missing"
		case 0x6985, 0x6A80, 0x6A86, 0x6A88, 0x6D00, 0x6E00, 0x6700, 0x6988:
			return fmt.Sprintf("this card answers %04X where the driver expected success: send an APDU trace (EIDLINK_APDU_TRACE=FILE) with a bug report", se.SW)
		case 0x6A82:
			return "the card lacks a CIE file or application: is it a CIE 3.0?"
		}
		return fmt.Sprintf("unexpected card status %04X: send an APDU trace (EIDLINK_APDU_TRACE=FILE) with a bug report", se.SW)
	}
	return "retry; if it happens again, send an APDU trace (EIDLINK_APDU_TRACE=FILE) with a bug report"
}
