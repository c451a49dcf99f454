package cryptoki

import (
	"errors"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/miekg/pkcs11"
)

// cardError maps the failure of a PKCS#11 call, made for op, to a
// *protocol.Error. It returns nil for CKR_USER_ALREADY_LOGGED_IN, which is
// success for a login. CodePINIncorrect comes without TriesLeft: the
// caller reads it from the token flags.
func cardError(op string, err error) *protocol.Error {
	if err == nil {
		return nil
	}
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return &protocol.Error{Code: protocol.CodeCardError, Message: op + " failed", Err: err}
	}
	e := &protocol.Error{Message: op + ": " + err.Error(), Err: err}
	switch rv {
	case pkcs11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case pkcs11.CKR_PIN_INCORRECT:
		e.Code, e.Message = protocol.CodePINIncorrect, "wrong PIN"
	case pkcs11.CKR_PIN_LOCKED:
		e.Code, e.Message, e.TriesLeft = protocol.CodePINBlocked, "the PIN is blocked", ptr(0)
	case pkcs11.CKR_PIN_LEN_RANGE, pkcs11.CKR_PIN_INVALID:
		e.Code = protocol.CodePINFormat
	case pkcs11.CKR_TOKEN_NOT_PRESENT, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_DEVICE_ERROR,
		pkcs11.CKR_SESSION_HANDLE_INVALID, pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_TOKEN_NOT_RECOGNIZED:
		// Opening the card again (a new command) may work: the holder
		// reinserted the card or the reader recovered.
		e.Code, e.Retryable = protocol.CodeCardRemoved, true
	case pkcs11.CKR_FUNCTION_CANCELED, pkcs11.CKR_CANCEL:
		e.Code = protocol.CodeUserCancelled
	default:
		e.Code = protocol.CodeCardError
	}
	return e
}

// pinLengths is the PIN length range of each card kind: a CIE PIN has 8
// digits, a CNS PIN 5 to 8. It narrows what a module reports (SoftHSM2 and
// some vendor modules say 4 to 255), so a mistyped PIN is refused before
// it costs a try.
func pinLengths(kind eidcert.Kind) (lo, hi int) {
	switch kind {
	case eidcert.CIE:
		return 8, 8
	case eidcert.CNS:
		return 5, 8
	}
	return 0, protocol.MaxPINLength
}

// maxTries is how many wrong PINs block a card of the given kind, -1 when
// unknown.
func maxTries(kind eidcert.Kind) int {
	switch kind {
	case eidcert.CIE, eidcert.CNS:
		return 3
	}
	return -1
}

// triesLeft reads the PIN tries left from a token's flags, -1 when they
// do not tell. PKCS#11 has no counter, only "count low" (at least one
// wrong try), "final try" and "locked".
func triesLeft(flags uint, kind eidcert.Kind) (tries int, locked bool) {
	max := maxTries(kind)
	switch {
	case flags&pkcs11.CKF_USER_PIN_LOCKED != 0:
		return 0, true
	case flags&pkcs11.CKF_USER_PIN_FINAL_TRY != 0:
		return 1, false
	case flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0 && max > 0:
		return max - 1, false
	case flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0:
		return -1, false
	}
	return max, false
}

func ptr[T any](v T) *T { return &v }
