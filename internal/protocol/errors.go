package protocol

import (
	"errors"
	"fmt"
)

// Code is a stable error code. Append only: a released code keeps its
// meaning forever. Every code has an entry in Codes (codes.go), from which
// the extension's code table and PROTOCOL.md's are generated.
type Code string

// Web eID's codes, exactly as its library defines them. The host sends the
// first five; the others are raised by the extension or the page library.
const (
	CodeInvalidArgument Code = "ERR_WEBEID_NATIVE_INVALID_ARGUMENT"
	CodeFatal           Code = "ERR_WEBEID_NATIVE_FATAL"
	CodeUserCancelled   Code = "ERR_WEBEID_USER_CANCELLED"
	CodeUserTimeout     Code = "ERR_WEBEID_USER_TIMEOUT"
	CodeUnknown         Code = "ERR_WEBEID_UNKNOWN_ERROR"

	CodeActionPending        Code = "ERR_WEBEID_ACTION_PENDING"
	CodeActionTimeout        Code = "ERR_WEBEID_ACTION_TIMEOUT"
	CodeContextInsecure      Code = "ERR_WEBEID_CONTEXT_INSECURE"
	CodeExtensionUnavailable Code = "ERR_WEBEID_EXTENSION_UNAVAILABLE"
	CodeMissingParameter     Code = "ERR_WEBEID_MISSING_PARAMETER"
	CodeNativeUnavailable    Code = "ERR_WEBEID_NATIVE_UNAVAILABLE"
	CodeVersionInvalid       Code = "ERR_WEBEID_VERSION_INVALID"
	CodeVersionMismatch      Code = "ERR_WEBEID_VERSION_MISMATCH"
)

// eidlink codes, for conditions Web eID has no code for.
const (
	CodeMessageTooLarge  Code = "ERR_EIDLINK_MESSAGE_TOO_LARGE"
	CodeMalformedMessage Code = "ERR_EIDLINK_MALFORMED_MESSAGE"
	CodeUnknownCommand   Code = "ERR_EIDLINK_UNKNOWN_COMMAND"
	CodeUnexpectedPIN    Code = "ERR_EIDLINK_UNEXPECTED_PIN" // "pin"/"cancel" with no PIN request pending
	CodeNoModule         Code = "ERR_EIDLINK_NO_MODULE"      // no PKCS#11 module (middleware) found
	CodeNoReader         Code = "ERR_EIDLINK_NO_READER"
	CodeNoCard           Code = "ERR_EIDLINK_NO_CARD"
	CodeCardRemoved      Code = "ERR_EIDLINK_CARD_REMOVED"
	CodeNoCertificate    Code = "ERR_EIDLINK_NO_CERTIFICATE"
	CodePINIncorrect     Code = "ERR_EIDLINK_PIN_INCORRECT"
	CodePINBlocked       Code = "ERR_EIDLINK_PIN_BLOCKED"
	CodePINFormat        Code = "ERR_EIDLINK_PIN_FORMAT" // length or characters the card cannot accept; no try used
	CodeCardError        Code = "ERR_EIDLINK_CARD_ERROR"
	CodeServiceRestarted Code = "ERR_EIDLINK_SERVICE_RESTARTED" // retryable
	CodeBusy             Code = "ERR_EIDLINK_BUSY"
	// CodeOriginNotAllowed is raised by the extension, not the host: the
	// site is outside the enterprise allow-list (storage.managed).
	CodeOriginNotAllowed Code = "ERR_EIDLINK_ORIGIN_NOT_ALLOWED"
	// CodePCSCUnavailable: the smart-card service (pcscd, WinSCard) is not
	// running or does not answer, whatever the command.
	CodePCSCUnavailable Code = "ERR_EIDLINK_PCSC_UNAVAILABLE"
	// CodeCardInUse: another program (not eidlink) holds the card, with
	// an exclusive connection or a long transaction; retryable.
	CodeCardInUse Code = "ERR_EIDLINK_CARD_IN_USE"
	// CodeServiceUnavailable: the host reaches no eidlink service and
	// could not start one; the status's service.reason says why.
	CodeServiceUnavailable Code = "ERR_EIDLINK_SERVICE_UNAVAILABLE"
	// CodeTLSNotUnlocked: eidlink's PKCS#11 module asked for a TLS
	// signature while no card was unlocked and no extension was connected
	// to ask the PIN (the status's tls.lastRefusalCode).
	CodeTLSNotUnlocked Code = "ERR_EIDLINK_TLS_NOT_UNLOCKED"
	// CodeCardAmbiguous: "unlock" named no card, or a kind or label, and
	// several inserted cards fit; the message lists them.
	CodeCardAmbiguous Code = "ERR_EIDLINK_CARD_AMBIGUOUS"
)

// Error is an error with a stable code. Message is English, for logs and
// developers; the extension shows its own translation chosen by Code.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// TriesLeft is set for PIN errors when the card reports it (-1: unknown).
	TriesLeft *int `json:"triesLeft,omitempty"`
	// Retryable tells the extension the same command may succeed if sent again.
	Retryable bool `json:"retryable,omitempty"`
	// Err is the underlying cause, never serialised.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code c and a formatted message.
func Errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// AsError converts any error into an *Error, keeping the code of the first
// *Error in its chain and mapping everything else to CodeUnknown.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Code: CodeUnknown, Message: err.Error(), Err: err}
}
