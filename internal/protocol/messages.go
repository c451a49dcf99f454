package protocol

import (
	"crypto"
	"encoding/json"
)

// Command names.
const (
	CmdAuthenticate          = "authenticate"
	CmdGetSigningCertificate = "get-signing-certificate"
	CmdSign                  = "sign"
	CmdStatus                = "status"
	CmdQuit                  = "quit"
	CmdPIN                   = "pin"
	CmdCancel                = "cancel"
	CmdUnlock                = "unlock"
	CmdTLSPIN                = "tls-pin"
)

// The events of a PIN asked at signing time for eidlink's PKCS#11 module
// (TLSPINRequest, TLSPINResult), answered with "tls-pin".
const (
	EventTLSPINRequest = "tls-pin-request"
	EventTLSPINResult  = "tls-pin-result"
)

// PurposeTLS is the purpose of the PIN and card requests of "unlock": the
// PIN unlocks the card for TLS client authentication through eidlink's
// PKCS#11 module.
const PurposeTLS = "tls"

// Request is one message from the extension.
type Request struct {
	Command   string          `json:"command"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// VersionMessage is the first message the host writes. Features lists
// what this host can do beyond the commands every version knows, so that a
// newer extension asks for it only from a host that can.
type VersionMessage struct {
	Version  string   `json:"version"`
	Features []string `json:"features,omitempty"`
}

// FeatureCardRequest: the card commands take a "waitForCard" argument and
// then, with no card or no reader, send a CardRequest and wait.
const FeatureCardRequest = "cardRequest"

// Hello is the version message of a host of this build at version.
func Hello(version string) VersionMessage {
	return VersionMessage{Version: version, Features: []string{FeatureCardRequest}}
}

// MaxCardWait bounds a "waitForCard" argument (milliseconds).
const MaxCardWait = 10 * 60 * 1000

// AuthenticateArgs are the arguments of "authenticate".
type AuthenticateArgs struct {
	ChallengeNonce string `json:"challengeNonce"`
	Origin         string `json:"origin"`
	Lang           string `json:"lang,omitempty"`
	// WaitForCard, in milliseconds (at most MaxCardWait), lets the host
	// wait that long for a missing card or reader, after a CardRequest;
	// 0 fails at once. The same in the other card commands.
	WaitForCard int `json:"waitForCard,omitempty"`
}

// GetSigningCertificateArgs are the arguments of "get-signing-certificate".
type GetSigningCertificateArgs struct {
	Origin      string `json:"origin"`
	Lang        string `json:"lang,omitempty"`
	WaitForCard int    `json:"waitForCard,omitempty"`
}

// SignArgs are the arguments of "sign". Certificate is the base64 DER of the
// signing certificate obtained before, Hash the base64 digest to sign.
type SignArgs struct {
	Certificate  string `json:"certificate"`
	Hash         string `json:"hash"`
	HashFunction string `json:"hashFunction"`
	Origin       string `json:"origin"`
	Lang         string `json:"lang,omitempty"`
	WaitForCard  int    `json:"waitForCard,omitempty"`
}

// UnlockArgs are the arguments of "unlock". Origin is the site the
// holder is about to log in to (the tab whose login control the holder
// clicked), for the PIN window to name; a command-line tool leaves it out.
// Card names the card to unlock when several are inserted: a card kind
// ("cie", "cns": the extension sends the kind of the control clicked),
// the slot number eidlink's PKCS#11 module shows, or (part of) the token
// label ("CNS di ANNA BIANCHI"); empty takes the only card there is.
type UnlockArgs struct {
	Origin      string `json:"origin,omitempty"`
	Lang        string `json:"lang,omitempty"`
	WaitForCard int    `json:"waitForCard,omitempty"`
	Card        string `json:"card,omitempty"`
}

// MaxCardName bounds UnlockArgs.Card (a token label is at most 32 bytes).
const MaxCardName = 64

// UnlockResult is the result of "unlock": the card is unlocked for at
// most Signatures TLS signatures through eidlink's PKCS#11 module, for
// at most ExpiresIn seconds.
type UnlockResult struct {
	Unlocked *Unlocked `json:"unlocked"`
}

// Unlocked describes an unlocked card.
type Unlocked struct {
	ExpiresIn  int    `json:"expiresIn"`  // seconds
	Signatures int    `json:"signatures"` // at most this many
	Origin     string `json:"origin,omitempty"`
	CardKind   string `json:"cardKind"`
	Holder     string `json:"holder,omitempty"`
	TokenLabel string `json:"tokenLabel,omitempty"`
}

// TLSPINRequest is the data of a "tls-pin-request" event: a browser
// signs a TLS handshake with the card through eidlink's PKCS#11 module and
// nothing is unlocked, so the service asks every connected extension for
// the PIN. PINRequest has purpose "tls" and no origin (the module does not
// know the site). A wrong PIN brings a new event with the same ID and
// PINRequest.Error.
type TLSPINRequest struct {
	ID         uint64      `json:"id"`
	PINRequest *PINRequest `json:"pinRequest"`
}

// TLSPINResult is the data of a "tls-pin-result" event: the request ID
// is over, with the card logged in (OK) or not (Error), and every PIN
// window opened for it closes.
type TLSPINResult struct {
	ID    uint64 `json:"id"`
	OK    bool   `json:"ok"`
	Error *Error `json:"error,omitempty"`
}

// TLSPINArgs are the arguments of "tls-pin": the answer to the
// TLSPINRequest ID, a PIN or a cancel.
type TLSPINArgs struct {
	ID     uint64 `json:"id"`
	PIN    PIN    `json:"pin,omitempty"`
	Cancel bool   `json:"cancel,omitempty"`
}

// PINArgs are the arguments of "pin". The PIN travels as a JSON string
// because that is what the browser sends; the host copies it into a byte
// slice at once and zeroes that slice after use.
type PINArgs struct {
	PIN string `json:"pin"`
}

// SignatureAlgorithm describes one way the card can sign.
type SignatureAlgorithm struct {
	CryptoAlgorithm string `json:"cryptoAlgorithm"` // "RSA" or "ECC"
	HashFunction    string `json:"hashFunction"`    // "SHA-256", ...
	PaddingScheme   string `json:"paddingScheme"`   // "PKCS1.5" or "NONE"
}

// SigningCertificateResult is the result of "get-signing-certificate".
type SigningCertificateResult struct {
	Certificate                  string               `json:"certificate"`
	SupportedSignatureAlgorithms []SignatureAlgorithm `json:"supportedSignatureAlgorithms"`
}

// SignResult is the result of "sign".
type SignResult struct {
	Signature          string             `json:"signature"`
	SignatureAlgorithm SignatureAlgorithm `json:"signatureAlgorithm"`
}

// PINRequest asks the extension for the card holder's PIN. It carries
// everything the PIN window shows; it never carries a PIN.
type PINRequest struct {
	Origin        string `json:"origin"`
	Purpose       string `json:"purpose"`  // "authenticate", "sign" or "tls"
	CardKind      string `json:"cardKind"` // "cie", "cns" or "unknown"
	Holder        string `json:"holder,omitempty"`
	CodiceFiscale string `json:"codiceFiscale,omitempty"`
	TokenLabel    string `json:"tokenLabel,omitempty"`
	// TriesLeft is the number of tries the card has left, -1 when the
	// card does not say. LastTry is true when one wrong PIN blocks it.
	TriesLeft int  `json:"triesLeft"`
	LastTry   bool `json:"lastTry"`
	MinLength int  `json:"minLength"`
	MaxLength int  `json:"maxLength"`
	// PINPart is "full" or "last4": the IPZS CIE module, once the card is
	// paired, wants only the last 4 of the 8 PIN digits.
	PINPart string `json:"pinPart"`
	// Driver is "eidlink" when eidlink drives the card itself (a CIE on
	// the native driver), empty when a PKCS#11 module does.
	Driver string `json:"driver,omitempty"`
	// Pinpad is true when the PIN is typed on the reader, not sent.
	Pinpad bool `json:"pinpad"`
	// Error is set when this request follows a failed try.
	Error *Error `json:"error,omitempty"`
}

// PINRequestMessage wraps a PINRequest on the wire.
type PINRequestMessage struct {
	PINRequest *PINRequest `json:"pinRequest"`
}

// CardRequest tells the extension that a card command waits for the
// holder to connect a reader or present the card (see WaitForCard).
type CardRequest struct {
	Reason  string `json:"reason"` // "no-reader" or "no-card"
	Origin  string `json:"origin"`
	Purpose string `json:"purpose"` // the command: "authenticate", "get-signing-certificate" or "sign"
}

// CardRequest reasons.
const (
	CardReasonNoReader = "no-reader"
	CardReasonNoCard   = "no-card"
)

// CardRequestMessage wraps a CardRequest on the wire.
type CardRequestMessage struct {
	CardRequest *CardRequest `json:"cardRequest"`
}

// ErrorMessage wraps an Error on the wire.
type ErrorMessage struct {
	Error *Error `json:"error"`
}

// EventMessage is pushed by the host without a request (card inserted,
// removed, reader changes).
type EventMessage struct {
	Event string `json:"event"`
	Data  any    `json:"data,omitempty"`
}

// Hash functions accepted by "sign", by their Web eID names.
var HashFunctions = map[string]crypto.Hash{
	"SHA-224":  crypto.SHA224,
	"SHA-256":  crypto.SHA256,
	"SHA-384":  crypto.SHA384,
	"SHA-512":  crypto.SHA512,
	"SHA3-224": crypto.SHA3_224,
	"SHA3-256": crypto.SHA3_256,
	"SHA3-384": crypto.SHA3_384,
	"SHA3-512": crypto.SHA3_512,
}

// HashName is the inverse of HashFunctions.
func HashName(h crypto.Hash) string {
	for n, v := range HashFunctions {
		if v == h {
			return n
		}
	}
	return ""
}
