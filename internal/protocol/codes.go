//go:generate go test -run ^TestGeneratedContract$ -update

package protocol

// CodeInfo describes one error code of the contract between the host, the
// extension and web pages.
//
// Codes is the single source of the code list: `go generate
// ./internal/protocol` writes the extension's code table
// (extension/src/shared/codes.js: the page codes and the Web eID code a
// page gets for each eidlink code) and the code table of PROTOCOL.md
// from it, and `go test ./internal/protocol` fails when those files are stale,
// when a Code constant has no entry here, or when a code has no user
// message. To add a code:
//
//  1. declare its constant in errors.go and append its entry to Codes;
//  2. run `go generate ./internal/protocol`;
//  3. add its message, key "err_" + the code without "ERR_" (e.g.
//     err_EIDLINK_NO_CARD), to extension/_locales/it/messages.json and
//     extension/_locales/en/messages.json.
type CodeInfo struct {
	Code Code
	// Page is the Web eID code a web page receives for Code (Code itself
	// for Web eID's codes); the eidlink code stays in error.eidlinkCode.
	Page Code
	// RaisedBy says who produces the code: "host", "extension", "page"
	// (the page library), or several of them separated by ", ".
	RaisedBy string
	// Meaning and Retry are PROTOCOL.md's columns: when the code is
	// raised, and whether (when) the same request may succeed again.
	Meaning string
	Retry   string
}

// Codes lists every code, Web eID's first. Append only.
var Codes = []CodeInfo{
	{CodeInvalidArgument, CodeInvalidArgument, "host", "an argument is missing or invalid (origin, nonce, hash, certificate)", "no"},
	{CodeFatal, CodeFatal, "host, extension", "the host cannot go on, or it answered out of protocol", "no"},
	{CodeUserCancelled, CodeUserCancelled, "host, extension", "the holder cancelled the PIN request", "no"},
	{CodeUserTimeout, CodeUserTimeout, "host, extension", "no PIN in time", "no"},
	{CodeUnknown, CodeUnknown, "host, extension, page", "anything else", "maybe"},
	{CodeActionPending, CodeActionPending, "extension, page", "another action is pending in this tab", "when it ends"},
	{CodeActionTimeout, CodeActionTimeout, "extension, page", "the action did not finish in time", "yes"},
	{CodeContextInsecure, CodeContextInsecure, "extension, page", "the page is not https (or loopback http in developer mode)", "no"},
	{CodeExtensionUnavailable, CodeExtensionUnavailable, "page", "the extension did not acknowledge the request", "after installing it"},
	{CodeMissingParameter, CodeMissingParameter, "extension, page", "the page left out a required parameter", "no"},
	{CodeNativeUnavailable, CodeNativeUnavailable, "extension", "the host is not installed, did not start or went away", "after installing it"},
	{CodeVersionInvalid, CodeVersionInvalid, "extension", "the host sent no valid version", "after reinstalling"},
	{CodeVersionMismatch, CodeVersionMismatch, "extension", "the host's major version differs from the extension's; carries `requiresUpdate: {extension, nativeApp}`, `extension`, `nativeApp`, `library`", "after updating"},
	{CodeMessageTooLarge, CodeFatal, "host", "frame over 64 KiB; the host closes", "no"},
	{CodeMalformedMessage, CodeFatal, "host", "not JSON, not an object, no command, unknown or duplicate field", "no"},
	{CodeUnknownCommand, CodeFatal, "host", "unknown command", "no"},
	{CodeUnexpectedPIN, CodeFatal, "host", "`pin` or `cancel` with no PIN request pending", "no"},
	{CodeNoModule, CodeFatal, "host", "no PKCS#11 module (card software) found", "after installing it"},
	{CodeNoReader, CodeFatal, "host", "no card reader", "after connecting one"},
	{CodeNoCard, CodeFatal, "host", "no card in any reader", "after inserting it"},
	{CodeCardRemoved, CodeFatal, "host", "the card was pulled during the operation", "yes"},
	{CodeNoCertificate, CodeFatal, "host", "the card holds no usable (or not the requested) certificate", "no"},
	{CodePINIncorrect, CodeFatal, "host", "wrong PIN (in a `pinRequest`, with `triesLeft`)", "by the user"},
	{CodePINBlocked, CodeFatal, "host", "the PIN is blocked; unblock it with the PUK", "no"},
	{CodePINFormat, CodeFatal, "host", "the PIN has the wrong length or characters; no try used", "by the user"},
	{CodeCardError, CodeFatal, "host", "the card or its module failed", "maybe"},
	{CodeServiceRestarted, CodeUnknown, "host", "the eidlink service restarted during the request (`retryable: true`)", "yes"},
	{CodeBusy, CodeActionPending, "host", "another operation is in progress", "yes"},
	{CodeOriginNotAllowed, CodeContextInsecure, "extension", "the site is not in the enterprise allow-list", "no"},
	{CodePCSCUnavailable, CodeFatal, "host", "the smart-card service (pcscd) is not running or does not answer; the status's `pcsc` has the same message", "after starting it"},
	{CodeCardInUse, CodeUnknown, "host", "another program holds the card (exclusive connection or transaction); `retryable: true`", "when it lets go"},
	{CodeServiceUnavailable, CodeNativeUnavailable, "host", "the host reaches no eidlink service and could not start one; the status's `service.reason` says why", "after fixing it (`eidlink doctor`)"},
	{CodeTLSNotUnlocked, CodeFatal, "host", "a TLS signature found no card unlocked and no extension to ask the PIN (the status's `tls.lastRefusalCode`)", "after unlocking (the site's login button, `eidlink unlock`)"},
	{CodeCardAmbiguous, CodeInvalidArgument, "host", "`unlock` named no card, or a kind or label, and several inserted cards fit; the message lists them", "after taking out the cards not needed, or naming one (`eidlink unlock --card`)"},
}
