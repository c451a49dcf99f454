// Package p11wire is the protocol between eidlink's PKCS#11 module
// (pkcs11/, C, loaded by the browsers) and the eidlink service: the
// messages, their binary encoding, and the token model the service
// presents to the module. PROTOCOL.md, "PKCS#11 module <-> service", is
// the reference; this package is its Go half.
//
// # Transport
//
// The module connects to the service's socket, upgrades to a WebSocket on
// [Path] with the service's secret header (ipc.SecretHeader, as the
// hosts) and no Origin (after checking that
// the service runs as its own user), sends one binary message holding a
// [Request] and reads one binary message holding the [Response]. Neither
// side accepts a message over [MaxMessage] bytes. [Serve] is the
// service's side of such a connection, over a [Handler].
//
// # Encoding
//
// A message is a sequence of fields, each a 2-byte big-endian tag, a
// 4-byte big-endian length and that many bytes of value. Integers are 8
// bytes big-endian; strings are UTF-8; a nested structure (a slot, a
// token, an object, an attribute) is itself a sequence of fields. A
// reader skips the tags it does not know, so that a minor addition needs
// no new version; a known tag with a malformed value, a length past the
// end, or a required field missing refuses the whole message. A C parser
// of this needs no allocation beyond the message itself.
package p11wire

// Version is the protocol version each request carries. A service that
// does not speak the request's version answers [StatusVersion] and its
// own version.
const Version = 1

// MaxMessage bounds every message, in both directions.
const MaxMessage = 256 << 10

// Path is the WebSocket upgrade path of the module's connections.
const Path = "/pkcs11"

// Op is what a request asks for.
type Op uint64

const (
	// OpSnapshot asks for the slots and tokens. With a non-zero
	// Request.Generation equal to the service's current one, the answer
	// is StatusUnchanged with no slots: the module polls cheaply.
	OpSnapshot Op = 1
	// OpSign asks for a signature (Request.Sign).
	OpSign Op = 2
)

// Status is the outcome of a request. The module maps each to a CK_RV
// (PROTOCOL.md); an unknown one is CKR_DEVICE_ERROR.
type Status uint64

const (
	StatusOK           Status = 0
	StatusUnchanged    Status = 1  // snapshot: same generation as the module's
	StatusCancelled    Status = 2  // the user cancelled, or the PIN window timed out: CKR_FUNCTION_CANCELED
	StatusTokenRemoved Status = 3  // the card left (or changed) since the snapshot: CKR_DEVICE_REMOVED
	StatusNoToken      Status = 4  // no card in that slot: CKR_TOKEN_NOT_PRESENT
	StatusKeyNotFound  Status = 5  // no such key on the card: CKR_KEY_HANDLE_INVALID
	StatusDataInvalid  Status = 6  // data of the wrong length for the key/mechanism: CKR_DATA_LEN_RANGE
	StatusMechanism    Status = 7  // mechanism or parameters not supported for that key: CKR_MECHANISM_INVALID
	StatusPINLocked    Status = 8  // the card's PIN is blocked: CKR_PIN_LOCKED
	StatusDeviceError  Status = 9  // the card or its reader failed: CKR_DEVICE_ERROR
	StatusVersion      Status = 10 // the service does not speak the request's version: CKR_DEVICE_ERROR
	StatusBadRequest   Status = 11 // malformed request: CKR_DEVICE_ERROR
	StatusNotAvailable Status = 12 // the service cannot sign now (no extension to ask the PIN): CKR_FUNCTION_CANCELED
	statusEnd          Status = 13
)

// Known reports whether s is one of this version's statuses.
func (s Status) Known() bool { return s < statusEnd }

// Request is what the module sends.
type Request struct {
	Version    uint64 // Version
	Op         Op
	Generation uint64       // OpSnapshot: the generation the module holds, 0 for none
	Sign       *SignRequest // OpSign
}

// SignRequest asks for one signature, with a key of the token the module
// saw in a snapshot.
type SignRequest struct {
	Slot      uint64 // Slot.ID
	Serial    string // Token.Serial: the card the module saw there
	KeyID     []byte // the private key's CKA_ID
	Mechanism uint64 // CKM_RSA_PKCS, CKM_ECDSA or CKM_RSA_PKCS_PSS
	PSS       *PSSParams
	// Data is what the browser passes to C_Sign: a DigestInfo
	// (CKM_RSA_PKCS) or a hash (CKM_ECDSA, CKM_RSA_PKCS_PSS).
	Data []byte
}

// PSSParams are CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	Hash    uint64 // CKM_SHA256, ...
	MGF     uint64 // CKG_MGF1_SHA256, ...
	SaltLen uint64
}

// Response is what the service answers.
type Response struct {
	Version uint64
	Status  Status
	// Message says more about a failure, for logs: never shown to
	// the user, never holding a PIN.
	Message string

	// OpSnapshot, StatusOK: every slot, in order, with the generation
	// of this state. The generation changes whenever anything in the
	// snapshot does (a card inserted or removed, a reader added).
	Generation uint64
	Slots      []Slot

	// OpSign, StatusOK.
	Signature []byte
}

// Slot is one place a card can be. Its ID is stable: the same reader (or
// PKCS#11 module slot) keeps it while the service runs, across card
// removals and insertions.
type Slot struct {
	ID          uint64
	Description string // the reader's name; the module truncates it to 64 bytes
	Token       *Token // nil: no card
}

// Token is the card in a slot, as the module presents it.
type Token struct {
	Label        string // "CIE di MARIO ROSSI": at most 32 bytes (TokenLabel)
	Manufacturer string // at most 32 bytes
	Model        string // at most 16 bytes
	Serial       string // at most 16 bytes; identifies the card in SignRequest
	Mechanisms   []Mechanism
	Objects      []Object
}

// Mechanism is one entry of C_GetMechanismList / C_GetMechanismInfo.
type Mechanism struct {
	Type       uint64 // CKM_*
	MinKeySize uint64
	MaxKeySize uint64
	Flags      uint64 // CKF_SIGN, CKF_HW, ...
}

// Object is one token object: its attributes, as C_GetAttributeValue
// returns them.
type Object struct {
	Attributes []Attribute
	// SignatureLen is the length of a signature by this private key
	// (the modulus length, or twice the EC field size): what C_Sign
	// reports when asked for the length only. 0 on other objects.
	SignatureLen uint64
}

// Kind says how an attribute's value is encoded.
type Kind uint8

const (
	KindBytes Kind = iota // a byte array (CKA_VALUE, CKA_ID, CKA_LABEL, ...)
	KindULong             // a CK_ULONG (CKA_CLASS, CKA_KEY_TYPE, ...): the module stores it at the native width
	KindBool              // a CK_BBOOL
)

// Attribute is one attribute of an object.
type Attribute struct {
	Type  uint64 // CKA_*
	Kind  Kind
	Bytes []byte
	ULong uint64
	Bool  bool
}

// Bytes, ULong and Bool make attributes.
func Bytes(t uint64, b []byte) Attribute { return Attribute{Type: t, Kind: KindBytes, Bytes: b} }
func ULong(t, v uint64) Attribute        { return Attribute{Type: t, Kind: KindULong, ULong: v} }
func Bool(t uint64, v bool) Attribute    { return Attribute{Type: t, Kind: KindBool, Bool: v} }
