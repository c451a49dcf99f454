// Package virtualcard implements virtual Italian eID cards for tests and demos:
// the card side of vsmartcard's vpcd reader, so that real pcscd, OpenSC and
// eidlink talk to them as to real cards.
//
// # Cards
//
// A [Card] answers with the ATR of one family (see [Types]) and implements
// the commands and file system that the family's software uses without
// secure messaging:
//
//   - CNS: the layout OpenSC's itacns driver reads (EF_IDCarta
//     3F00/1000/1003, EF_DatiPersonali 3F00/1100/1102, authentication
//     certificate 3F00/1100/1101, public key 3F00/3F01), SELECT by FID, path
//     or AID, READ BINARY, VERIFY of PIN 10 (PUK 11; bit 8 of the reference,
//     which OpenSC sets for STIncard, is ignored), RESET RETRY COUNTER,
//     MSE RESTORE and SET, PSO COMPUTE DIGITAL SIGNATURE and INTERNAL
//     AUTHENTICATE with the key 01. A PIN blocks after 3 wrong tries (63Cx,
//     then 6983); VERIFY with no data reports the tries left.
//   - CIE 3.0, the card side of cie-protocol.md §14: the IAS application
//     (selected by AID or as the MF) with EF D003 (PAN) and D004 (DH
//     parameters), the CIE application (AID A0 00 00 00 00 39) with EF 1001
//     (NIS), 1002 (serial), 1003 (certificate), 1004 and 1005 (chip keys);
//     GET DATA of the DH parameters (one or three commands), the CA key and
//     the card's DH value; key agreement (MSE SET 41 A6, command chaining);
//     secure messaging (package iasecc: 3DES, retail MAC, SSC, chaining
//     under SM, answers over 256 bytes through 61xx and GET RESPONSE);
//     device authentication (PSO VERIFY CERTIFICATE, EXTERNAL and INTERNAL
//     AUTHENTICATE, both signatures checked); VERIFY of PIN 81 and PUK 82
//     under SM (3 and 10 tries, 63Cx, 6983; VERIFY without data reports
//     the tries left), RESET RETRY COUNTER, CHANGE REFERENCE DATA; signing
//     a DigestInfo with key 81 (PKCS#1 v1.5 padding by the card) and key
//     83. A plain command ends a session in use; a bad MAC ends it with
//     6988. [CIEBehaviour] switches the answers the fact sheet leaves
//     open; [Card.CorruptNextMAC] disturbs one answer.
//
// A card keeps its tries counters across removal and power cycles; a reset
// clears the verified PIN, the security environment and the current file.
//
// # vpcd
//
// A [Slot] plugs a card into a vpcd reader: Insert connects to vpcd's TCP
// port (the card appears in the reader), Remove closes the connection
// (the card is pulled). Messages are a 2-byte big-endian length and a
// payload; a 1-byte payload is a control code (0 power off, 1 power on,
// 2 reset, 4 get ATR), anything longer a command APDU.
package virtualcard

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// Type is a card family the virtual card can play.
type Type struct {
	Name string // "cie-nxp", "cns-incard", ...
	Kind eidcert.Kind
	ATR  []byte
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// Types are the families of cards.md with their example ATRs, except that
// CNS cards announce CNS version 1.1 (historical byte 13 = 11): OpenSC
// 0.23 enables RSA-2048 only for that version. Families without a
// published example have an ATR built from their pattern.
var Types = []Type{
	{"cie-nxp", eidcert.CIE, mustHex("3B 8E 80 01 80 31 80 65 49 54 4E 58 50 12 0F FF 82 90 F0")},
	{"cie-gemalto", eidcert.CIE, mustHex("3B 8F 80 01 80 31 80 65 B0 85 04 00 11 12 0F FF 82 90 00 8A")},
	{"cie-gemalto2", eidcert.CIE, mustHex("3B 8F 80 01 80 31 80 65 B0 85 03 00 EF 12 0F FF 82 90 00 73")},
	{"cie-stm", eidcert.CIE, mustHex("3B 8B 80 01 80 66 47 50 00 B8 00 7F 82 90 00 2E")},
	{"cie-stm2", eidcert.CIE, mustHex("3B 80 80 01 01")},
	{"cie-stm3", eidcert.CIE, mustHex("3B 8B 80 01 80 66 47 50 00 B8 00 94 82 90 00 C5")},
	{"cie-bit4id", eidcert.CIE, mustHex("3B 8F 80 01 80 31 80 65 49 54 4A 34 42 12 0F FF 82 90 00 8B")},
	{"cns-incard", eidcert.CNS, mustHex("3B FF 18 00 FF 81 31 FE 55 00 6B 02 09 02 00 01 01 01 43 4E 53 11 31 80 9E")},
	{"cns-cardos", eidcert.CNS, mustHex("3B FF 18 00 FF C1 0A 31 FE 55 00 6B 05 08 C8 0C 01 11 01 43 4E 53 11 31 80 04")},
	{"cns-idemia", eidcert.CNS, mustHex("3B FF 18 00 00 81 31 FE 45 00 6B 05 05 91 20 01 F1 01 43 4E 53 11 31 80 39")},
	{"cns-athena", eidcert.CNS, mustHex("3B DF 18 00 81 31 FE 7D 00 6B 15 0C 01 81 01 11 01 43 4E 53 11 31 80 E9")},
	{"cns-gemalto", eidcert.CNS, mustHex("3B FF 18 00 FF 81 31 FE 55 00 6B 04 0D 01 00 01 01 01 43 4E 53 11 31 80 9F")},
	{"cns-tscns", eidcert.CNS, mustHex("3B 8B 80 01 00 31 C1 64 08 92 33 54 00 90 00 F3")},
}

// TypeNames returns the names of Types.
func TypeNames() []string {
	names := make([]string, len(Types))
	for i, t := range Types {
		names[i] = t.Name
	}
	return names
}

// LookupType returns the Type called name.
func LookupType(name string) (Type, bool) {
	i := slices.IndexFunc(Types, func(t Type) bool { return t.Name == name })
	if i < 0 {
		return Type{}, false
	}
	return Types[i], true
}

// Options configure a Card.
type Options struct {
	ATR      []byte                // replaces the type's ATR (for unknown-card tests)
	PIN, PUK []byte                // default 12345678 and 87654321
	Identity *eidcert.TestIdentity // key, certificate and holder; nil: eidcert.NewTestIdentity
	CIE      CIEBehaviour          // answers of a CIE where real cards may differ
}

// Status words.
const (
	swOK             = 0x9000
	swEOF            = 0x6282
	swWrongLength    = 0x6700
	swNoCurrentEF    = 0x6986
	swSecurity       = 0x6982
	swBlocked        = 0x6983
	swConditions     = 0x6985
	swWrongData      = 0x6A80
	swNotFound       = 0x6A82
	swWrongP1P2      = 0x6A86
	swRefNotFound    = 0x6A88
	swOffset         = 0x6B00
	swINSUnsupported = 0x6D00
	swCLAUnsupported = 0x6E00
)

type secret struct {
	value      []byte
	tries, max int
}

// Card is a virtual card. Its methods are safe for concurrent use.
type Card struct {
	typ Type // its Kind decides the commands
	atr []byte
	id  *eidcert.TestIdentity

	mu       sync.Mutex
	mf       *file
	cur      *file // current DF or EF
	pin, puk secret
	verified bool
	seKey    byte   // key chosen by MSE SET, 0 if none
	chain    []byte // data of chained commands (CLA bit 10) so far
	cie      cieState
}

// New returns a virtual card of the named type (see Types).
func New(typeName string, o Options) (*Card, error) {
	t, ok := LookupType(typeName)
	if !ok {
		return nil, fmt.Errorf("vcard: unknown type %q (types: %s)", typeName, strings.Join(TypeNames(), ", "))
	}
	c := &Card{typ: t, atr: t.ATR, id: o.Identity}
	if o.ATR != nil {
		c.atr = o.ATR
	}
	if c.id == nil {
		var err error
		if c.id, err = eidcert.NewTestIdentity(t.Kind, eidcert.TestHolder); err != nil {
			return nil, err
		}
	}
	c.pin = secret{[]byte("12345678"), 3, 3}
	c.puk = secret{[]byte("87654321"), 10, 10}
	if o.PIN != nil {
		c.pin.value = slices.Clone(o.PIN)
	}
	if o.PUK != nil {
		c.puk.value = slices.Clone(o.PUK)
	}
	if t.Kind == eidcert.CIE {
		keys, err := cieKeys()
		if err != nil {
			return nil, fmt.Errorf("vcard: CIE keys: %w", err)
		}
		sn := sha256.Sum256([]byte("SN.ICC " + c.id.Serial))
		c.cie = cieState{behaviour: o.CIE, keys: keys, snICC: sn[:8]}
		if c.mf, err = cieFiles(c.id, keys); err != nil {
			return nil, fmt.Errorf("vcard: CIE files: %w", err)
		}
	} else {
		c.mf = cnsFiles(c.id)
	}
	c.cur = c.mf
	return c, nil
}

// ATR returns the card's answer to reset.
func (c *Card) ATR() []byte { return slices.Clone(c.atr) }

// Identity returns the card's key, certificate and holder.
func (c *Card) Identity() *eidcert.TestIdentity { return c.id }

// TriesLeft returns the PIN tries left.
func (c *Card) TriesLeft() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pin.tries
}

// Reset is a power cycle: the PIN is no longer verified.
func (c *Card) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verified, c.seKey, c.cur, c.chain = false, 0, c.mf, nil
	c.cie.reset()
}

// apdu is a parsed command APDU (ISO/IEC 7816-3 §12.1, short or extended).
type apdu struct {
	cla, ins, p1, p2 byte
	data             []byte
	le               int // -1: absent
}

func parseAPDU(b []byte) (apdu, bool) {
	if len(b) < 4 {
		return apdu{}, false
	}
	a, body := apdu{cla: b[0], ins: b[1], p1: b[2], p2: b[3], le: -1}, b[4:]
	le := func(v []byte, max int) int {
		n := 0
		for _, x := range v {
			n = n<<8 | int(x)
		}
		if n == 0 {
			return max
		}
		return n
	}
	switch {
	case len(body) == 0:
	case len(body) == 1:
		a.le = le(body, 256)
	case body[0] != 0: // short Lc
		lc := int(body[0])
		switch len(body) - 1 - lc {
		case 0:
		case 1:
			a.le = le(body[1+lc:], 256)
		default:
			return a, false
		}
		a.data = body[1 : 1+lc]
	case len(body) == 3: // extended Le only
		a.le = le(body[1:], 65536)
	default: // extended Lc
		if len(body) < 3 {
			return a, false
		}
		lc := int(body[1])<<8 | int(body[2])
		switch len(body) - 3 - lc {
		case 0:
		case 2:
			a.le = le(body[3+lc:], 65536)
		default:
			return a, false
		}
		a.data = body[3 : 3+lc]
	}
	return a, true
}

func withSW(data []byte, sw int) []byte { return append(slices.Clone(data), byte(sw>>8), byte(sw)) }

// Process answers one command APDU with a response APDU.
func (c *Card) Process(cmd []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := parseAPDU(cmd)
	switch {
	case !ok:
		return withSW(nil, swWrongLength)
	case c.typ.Kind == eidcert.CIE:
		return c.cieProcess(a)
	case a.cla&^0x10 != 0x00: // only CLA 00, and 10 for command chaining
		c.chain = nil
		return withSW(nil, swCLAUnsupported)
	case a.cla == 0x10:
		c.chain = append(c.chain, a.data...)
		return withSW(nil, swOK)
	}
	if c.chain != nil {
		a.data, c.chain = append(c.chain, a.data...), nil
	}
	data, sw := c.process(a)
	return withSW(data, sw)
}

func (c *Card) process(a apdu) ([]byte, int) {
	switch a.ins {
	case 0xA4:
		return c.selectFile(a)
	case 0xB0:
		return c.readBinary(a)
	case 0x84: // GET CHALLENGE
		if a.le < 0 || a.le > 256 {
			return nil, swWrongLength
		}
		b := make([]byte, a.le)
		rand.Read(b)
		return b, swOK
	}
	switch a.ins {
	case 0x20:
		return nil, c.verify(a)
	case 0x2C:
		return nil, c.resetRetryCounter(a)
	case 0x22:
		return nil, c.manageSE(a)
	case 0x2A:
		switch {
		case a.p1 == 0x9E && a.p2 == 0x9A: // COMPUTE DIGITAL SIGNATURE
			return c.sign(a.data)
		case a.p1 == 0x80 && a.p2 == 0x86 && len(a.data) > 0 && a.data[0] == 0x00: // DECIPHER
			return c.sign(a.data[1:])
		}
		return nil, swWrongP1P2
	case 0x88:
		return c.sign(a.data)
	}
	return nil, swINSUnsupported
}

// check compares a PIN or PUK, padded by OpenSC with 0xFF, counting tries.
func check(s *secret, given []byte) int {
	if s.tries == 0 {
		return swBlocked
	}
	given = unpad(given)
	if subtle.ConstantTimeCompare(given, s.value) == 1 {
		s.tries = s.max
		return swOK
	}
	s.tries--
	return 0x63C0 | s.tries
}

// unpad removes OpenSC's PIN padding (0xFF).
func unpad(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0xFF {
		b = b[:len(b)-1]
	}
	return b
}

func (c *Card) verify(a apdu) int {
	if a.p1 != 0x00 {
		return swWrongP1P2
	}
	s := &c.pin
	switch a.p2 & 0x7F {
	case 0x10:
	case 0x11:
		s = &c.puk
	default:
		return swRefNotFound
	}
	return c.verifySecret(s, a.data)
}

// verifySecret checks data against s, or without data reports its status
// (ISO/IEC 7816-4 §11.5.6).
func (c *Card) verifySecret(s *secret, data []byte) int {
	if len(data) == 0 {
		switch {
		case s.tries == 0:
			return swBlocked
		case s == &c.pin && c.verified:
			return swOK
		}
		return 0x63C0 | s.tries
	}
	sw := check(s, data)
	if s == &c.pin {
		c.verified = sw == swOK
	}
	return sw
}

// resetRetryCounter unblocks the PIN with the PUK: P1 00 carries PUK and
// new PIN (8 bytes each, 0xFF padded), P1 01 only the PUK.
func (c *Card) resetRetryCounter(a apdu) int {
	if a.p2&0x7F != 0x10 {
		return swRefNotFound
	}
	var puk, pin []byte
	switch {
	case a.p1 == 0x00 && len(a.data) == 16:
		puk, pin = a.data[:8], unpad(a.data[8:])
	case a.p1 == 0x01 && len(a.data) > 0:
		puk = a.data
	default:
		return swWrongData
	}
	if sw := check(&c.puk, puk); sw != swOK {
		return sw
	}
	if pin != nil {
		c.pin.value = slices.Clone(pin)
	}
	c.pin.tries = c.pin.max
	return swOK
}

// manageSE accepts RESTORE (P1 F3) and SET (P1 F1, 41 or 81) with a key
// reference in tag 83 or 84.
func (c *Card) manageSE(a apdu) int {
	switch a.p1 {
	case 0xF3:
		c.seKey = 0
		return swOK
	case 0xF1, 0x41, 0x81:
	default:
		return swWrongP1P2
	}
	for b := a.data; len(b) >= 2 && len(b) >= 2+int(b[1]); b = b[2+b[1]:] {
		if (b[0] == 0x83 || b[0] == 0x84) && b[1] == 1 {
			if b[2] != 0x01 {
				return swRefNotFound
			}
			c.seKey = b[2]
		}
	}
	return swOK
}

// sign computes an RSA signature with the key of the security
// environment: a full-length block is signed raw (OpenSC pads it itself
// and, for a key that may also decrypt, sends it as PSO DECIPHER),
// anything shorter (a DigestInfo) is PKCS#1 v1.5 padded by the card.
func (c *Card) sign(data []byte) ([]byte, int) {
	switch {
	case !c.verified:
		return nil, swSecurity
	case c.seKey == 0:
		return nil, swConditions
	}
	key := c.id.Key
	k := key.Size()
	if len(data) != k {
		sig, err := rsa.SignPKCS1v15(nil, key, 0, data)
		if err != nil {
			return nil, swWrongData
		}
		return sig, swOK
	}
	m := new(big.Int).SetBytes(data)
	if m.Cmp(key.N) >= 0 {
		return nil, swWrongData
	}
	// Raw RSA; not constant time, fine for a virtual card.
	return m.Exp(m, key.D, key.N).FillBytes(make([]byte, k)), swOK
}

// publicKeyDER is the RSAPublicKey (PKCS#1) that CNS keeps in 3F01.
func publicKeyDER(k *rsa.PublicKey) []byte { return x509.MarshalPKCS1PublicKey(k) }
