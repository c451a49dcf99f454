package relyingparty

import (
	"errors"
	"fmt"
)

// Reason is a stable code saying why a token was refused. Codes are
// append-only: a released code keeps its meaning.
type Reason string

// Reasons. A token made for another origin or nonce fails with
// ReasonSignature: the token carries neither, so a mismatch shows only as
// a signature that does not verify.
const (
	ReasonOriginInvalid   Reason = "origin-invalid" // the origin the server passed is not https://host[:port]
	ReasonNonceInvalid    Reason = "nonce-invalid"  // the nonce is not 44..128 base64 characters
	ReasonNonceUnknown    Reason = "nonce-unknown"  // never issued by the store (or long expired)
	ReasonNonceReplayed   Reason = "nonce-replayed" // already used once
	ReasonNonceExpired    Reason = "nonce-expired"  // issued, but its time to live has passed
	ReasonNonceStore      Reason = "nonce-store"    // the nonce store failed
	ReasonTokenFormat     Reason = "token-format"   // not a web-eid:1.0 token: JSON, fields, base64, size
	ReasonAlgorithm       Reason = "algorithm"      // unknown algorithm, or not the one for the key
	ReasonCertMalformed   Reason = "certificate-malformed"
	ReasonCertNotYetValid Reason = "certificate-not-yet-valid"
	ReasonCertExpired     Reason = "certificate-expired"
	ReasonKeyUsage        Reason = "certificate-key-usage" // not an authentication certificate
	ReasonPolicy          Reason = "certificate-policy"    // none of the accepted policies
	ReasonUntrusted       Reason = "certificate-untrusted" // no chain to the trust anchors
	ReasonSignature       Reason = "signature-invalid"     // wrong origin, wrong nonce or altered token
	ReasonIdentity        Reason = "identity-missing"      // no valid codice fiscale in the certificate
	ReasonRevoked         Reason = "certificate-revoked"   // OCSP says revoked
	ReasonOCSP            Reason = "ocsp-failed"           // OCSP unreachable, timed out, bad or unknown answer
)

// Error is the error Verify and VerifyChallenge return.
type Error struct {
	// Reason says which check failed, for choosing what to tell the user.
	Reason Reason
	// Err says, in English, what is wrong and what to do: for the log.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Reason, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, or "".
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

func nonceError(err error) *Error {
	r := ReasonNonceStore
	switch {
	case errors.Is(err, ErrNonceUnknown):
		r = ReasonNonceUnknown
	case errors.Is(err, ErrNonceUsed):
		r = ReasonNonceReplayed
	case errors.Is(err, ErrNonceExpired):
		r = ReasonNonceExpired
	}
	return &Error{Reason: r, Err: err}
}
