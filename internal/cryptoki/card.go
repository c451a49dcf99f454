package cryptoki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/miekg/pkcs11"
)

// Card is a session on one token, with the methods command.Card names.
type Card struct {
	mu       sync.Mutex
	p11      cryptoki
	module   string // path
	slot     uint
	slotDesc string
	hwSlot   bool // a reader's slot (CKF_HW_SLOT), not a software token's
	sh       pkcs11.SessionHandle
	info     pkcs11.TokenInfo
	loggedIn bool

	kind       eidcert.Kind
	holder, cf string
	auth, sign *pair
	askTries   func(slotDescription string) int // may be nil
}

// pair is a certificate and its private key.
type pair struct {
	cert       *x509.Certificate
	id         []byte
	label      string
	key        pkcs11.ObjectHandle // 0 until found: tokens may hide keys until login
	keySeen    bool                // a private or public key of the pair is visible
	alwaysAuth bool                // CKA_ALWAYS_AUTHENTICATE
}

// object is what this package reads of a certificate or key object.
type object struct {
	h                        pkcs11.ObjectHandle
	id, value                []byte
	label                    string
	modulus, ecPoint, always []byte
}

func readObjects(m cryptoki, sh pkcs11.SessionHandle, class uint) ([]object, error) {
	hs, err := findObjects(m, sh, pkcs11.NewAttribute(pkcs11.CKA_CLASS, class))
	if err != nil {
		return nil, err
	}
	objs := make([]object, len(hs))
	for i, h := range hs {
		o := &objs[i]
		o.h, o.id, o.label = h, attribute(m, sh, h, pkcs11.CKA_ID), string(attribute(m, sh, h, pkcs11.CKA_LABEL))
		switch class {
		case pkcs11.CKO_CERTIFICATE:
			o.value = attribute(m, sh, h, pkcs11.CKA_VALUE)
		case pkcs11.CKO_PRIVATE_KEY:
			o.modulus = attribute(m, sh, h, pkcs11.CKA_MODULUS)
			o.always = attribute(m, sh, h, pkcs11.CKA_ALWAYS_AUTHENTICATE)
		case pkcs11.CKO_PUBLIC_KEY:
			o.modulus, o.ecPoint = attribute(m, sh, h, pkcs11.CKA_MODULUS), attribute(m, sh, h, pkcs11.CKA_EC_POINT)
		}
	}
	return objs, nil
}

// openToken opens a session on the token in slot and reads its
// certificates and visible keys. It returns nil, nil for a slot whose
// token is not initialised.
func openToken(m *module, slot uint, tries func(string) int) (_ *Card, err error) {
	info, err := m.p11.GetTokenInfo(slot)
	if err != nil {
		return nil, err
	}
	if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
		return nil, nil
	}
	c := &Card{p11: m.p11, module: m.Path, slot: slot, info: info, kind: eidcert.Unknown, askTries: tries}
	if si, err := m.p11.GetSlotInfo(slot); err == nil {
		c.slotDesc, c.hwSlot = trim(si.SlotDescription), si.Flags&pkcs11.CKF_HW_SLOT != 0
	}
	if c.sh, err = m.p11.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.p11.CloseSession(c.sh)
		}
	}()
	certs, err := readObjects(m.p11, c.sh, pkcs11.CKO_CERTIFICATE)
	if err != nil {
		return nil, err
	}
	privs, err := readObjects(m.p11, c.sh, pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return nil, err
	}
	pubs, err := readObjects(m.p11, c.sh, pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return nil, err
	}
	for _, o := range certs {
		cert, err := x509.ParseCertificate(o.value)
		if err != nil {
			continue
		}
		target := &c.auth
		switch classify(cert, o.label) {
		case roleNone:
			continue
		case roleSign:
			target = &c.sign
		}
		p := &pair{cert: cert, id: o.id, label: o.label}
		if k, ok := matchKey(cert, o, privs); ok {
			p.key, p.keySeen, p.alwaysAuth = k.h, true, isTrue(k.always)
		} else if _, ok := matchKey(cert, o, pubs); ok {
			p.keySeen = true
		}
		if *target == nil || !(*target).keySeen && p.keySeen {
			*target = p
		}
	}
	if c.auth != nil {
		c.kind = cardKind(c.auth.cert, trim(info.ManufacturerID), trim(info.Label))
		h := eidcert.HolderOf(c.auth.cert)
		c.holder, c.cf = h.Name(), h.CodiceFiscale
	} else if cieToken(trim(info.ManufacturerID), trim(info.Label)) {
		c.kind = eidcert.CIE
	}
	return c, nil
}

// matchKey finds the key of cert (read from object o) among keys: same
// CKA_ID, else same public key, else same label.
func matchKey(cert *x509.Certificate, o object, keys []object) (object, bool) {
	for _, same := range []func(k object) bool{
		func(k object) bool { return len(o.id) > 0 && bytes.Equal(k.id, o.id) },
		func(k object) bool { return samePublicKey(cert, k) },
		func(k object) bool { return o.label != "" && k.label == o.label },
	} {
		for _, k := range keys {
			if same(k) {
				return k, true
			}
		}
	}
	return object{}, false
}

func samePublicKey(cert *x509.Certificate, k object) bool {
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return len(k.modulus) > 0 && new(big.Int).SetBytes(k.modulus).Cmp(pub.N) == 0
	case *ecdsa.PublicKey:
		point, err := pub.Bytes()
		if err != nil || len(k.ecPoint) == 0 {
			return false
		}
		// CKA_EC_POINT is a DER OCTET STRING; some modules omit the
		// wrapping. A bare point can also parse as DER (04 is the OCTET
		// STRING tag, and its second byte may happen to be a fitting
		// length), so a bare match counts whatever the parse says.
		var inner []byte
		if rest, err := asn1.Unmarshal(k.ecPoint, &inner); err == nil && len(rest) == 0 && bytes.Equal(inner, point) {
			return true
		}
		return bytes.Equal(k.ecPoint, point)
	}
	return false
}

func isTrue(b []byte) bool { return len(b) == 1 && b[0] != 0 }

func trim(s string) string { return strings.TrimRight(s, " \x00") }

// cieToken reports whether a token says it is a CIE: the IPZS module's
// manufacturer, or the label "CIE" (OpenSC, the SoftHSM2 test card).
func cieToken(manufacturer, label string) bool {
	return manufacturer == "IPZS" || label == "CIE"
}

// isIPZS reports whether the token is served by the official CIE module,
// whose C_Login takes only the last 4 PIN digits once the card is paired.
func isIPZS(manufacturer, modulePath string) bool {
	base := strings.ToLower(filepath.Base(modulePath))
	return cieToken(trim(manufacturer), "") || strings.HasPrefix(base, "libcie-pkcs11") ||
		strings.HasPrefix(base, "libciepki") || strings.HasPrefix(base, "ciepki")
}

// triesLeft returns the PIN tries left: the card's own counter when
// Config.Tries can read it (over PC/SC: only for a reader's slot, so a
// software token such as SoftHSM2 never waits on pcscd), else what the
// token flags say.
// OpenSC's CNS emulation (itacns, 0.23) never learns the counter and leaves
// it at 0, so every CNS it serves claims CKF_USER_PIN_LOCKED: for those
// tokens the flags mean "unknown". A PIN that is really blocked is then
// refused by the card itself (CKR_PIN_LOCKED), which costs nothing.
func (c *Card) triesLeft() (tries int, locked bool) {
	if c.askTries != nil && c.hwSlot {
		if n := c.askTries(c.slotDesc); n >= 0 {
			return n, n == 0
		}
	}
	if c.kind == eidcert.CNS && strings.HasPrefix(strings.ToLower(filepath.Base(c.module)), "opensc-pkcs11") {
		return -1, false
	}
	return triesLeft(c.info.Flags, c.kind)
}

// status describes the card from the last token info read.
func (c *Card) status() protocol.TokenStatus {
	tries, locked := c.triesLeft()
	s := protocol.TokenStatus{
		Module: c.module, Slot: c.slot, SlotDesc: c.slotDesc,
		Label: trim(c.info.Label), Manufacturer: trim(c.info.ManufacturerID),
		Model: trim(c.info.Model), Serial: trim(c.info.SerialNumber),
		CardKind: string(c.kind), Holder: c.holder, CodiceFiscale: c.cf,
		HasAuthKey: c.auth != nil && c.auth.keySeen, HasSignKey: c.sign != nil && c.sign.keySeen,
		TriesLeft: tries, PINLocked: locked,
		Pinpad:       c.info.Flags&pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH != 0,
		MinPINLength: int(c.info.MinPinLen), MaxPINLength: int(c.info.MaxPinLen),
		PINPart: "full",
	}
	if s.MaxPINLength <= 0 || s.MaxPINLength > protocol.MaxPINLength {
		s.MaxPINLength = protocol.MaxPINLength
	}
	if lo, hi := pinLengths(c.kind); max(s.MinPINLength, lo) <= min(s.MaxPINLength, hi) {
		s.MinPINLength, s.MaxPINLength = max(s.MinPINLength, lo), min(s.MaxPINLength, hi)
	}
	if isIPZS(c.info.ManufacturerID, c.module) {
		s.PINPart, s.MinPINLength, s.MaxPINLength = "last4", 4, 4
	}
	return s
}

// refresh re-reads the token info (for the PIN flags).
func (c *Card) refresh() {
	if info, err := c.p11.GetTokenInfo(c.slot); err == nil {
		c.info = info
	}
}

// Info implements command.Card.
func (c *Card) Info() protocol.TokenStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	return c.status()
}

// AuthCertificate implements command.Card.
func (c *Card) AuthCertificate() *x509.Certificate { return c.auth.cert }

// SigningCertificate implements command.Card.
func (c *Card) SigningCertificate() *x509.Certificate {
	if c.sign != nil {
		return c.sign.cert
	}
	return c.auth.cert
}

// Login implements command.Card. A PIN of a length the token cannot take
// is refused with CodePINFormat before it reaches the card. The PIN goes
// to the module as a string that aliases pin (no Go copy is made, so
// zeroing pin, which the caller does, wipes it); miekg/pkcs11 copies it
// into C memory that it frees without zeroing, which this package cannot
// prevent. Login cannot be cancelled once the module has the PIN (or, on a
// pinpad, waits for it).
func (c *Card) Login(ctx context.Context, pin []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c.refresh()
	s := c.status()
	switch {
	case s.PINLocked:
		return &protocol.Error{Code: protocol.CodePINBlocked, Message: "the PIN is blocked", TriesLeft: ptr(0)}
	case s.Pinpad && len(pin) == 0:
	case s.PINPart == "last4" && len(pin) != 4:
		return protocol.Errorf(protocol.CodePINFormat, "the CIE software wants only the last 4 digits of the PIN, got %d characters", len(pin))
	case len(pin) < s.MinPINLength || len(pin) > s.MaxPINLength:
		return protocol.Errorf(protocol.CodePINFormat, "the PIN must be %d to %d characters, got %d", s.MinPINLength, s.MaxPINLength, len(pin))
	}
	e := c.fail("login", c.p11.Login(c.sh, pkcs11.CKU_USER, unsafe.String(unsafe.SliceData(pin), len(pin))))
	if e == nil {
		c.loggedIn = true
		return nil
	}
	if e.Code == protocol.CodePINIncorrect {
		c.refresh()
		tries, locked := c.triesLeft()
		if locked {
			e.Code = protocol.CodePINBlocked
		}
		e.TriesLeft = &tries
	}
	return e
}

// fail maps a failed call like cardError, and turns a generic failure
// into CodeCardRemoved when the card is no longer in its slot: modules such
// as OpenSC answer a card pulled mid-operation with CKR_GENERAL_ERROR.
func (c *Card) fail(op string, err error) *protocol.Error {
	e := cardError(op, err)
	if e == nil || e.Code != protocol.CodeCardError {
		return e
	}
	if si, err := c.p11.GetSlotInfo(c.slot); err != nil || si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 {
		e.Code, e.Retryable, e.Message = protocol.CodeCardRemoved, true, op+": the card was removed during the operation"
	}
	return e
}

// Sign implements command.Card.
func (c *Card) Sign(ctx context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := hashArcs[h]; !ok || len(digest) != h.Size() {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "the digest does not match the hash function")
	}
	p := c.pairFor(cert)
	if p == nil {
		return nil, protocol.Errorf(protocol.CodeNoCertificate, "the certificate is not on this card")
	}
	mech, data, sigLen := uint(pkcs11.CKM_ECDSA), digest, 0
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		mech, data = pkcs11.CKM_RSA_PKCS, DigestInfo(h, digest)
	case *ecdsa.PublicKey:
		sigLen = 2 * ((pub.Curve.Params().BitSize + 7) / 8)
	default:
		return nil, protocol.Errorf(protocol.CodeCardError, "unsupported key type %T", cert.PublicKey)
	}
	key, err := c.privateKey(p)
	if err != nil {
		return nil, err
	}
	if err := c.p11.SignInit(c.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, key); err != nil {
		return nil, c.fail("sign", err)
	}
	sig, err := c.p11.Sign(c.sh, data)
	if p.alwaysAuth && errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN)) {
		return nil, &protocol.Error{Code: protocol.CodeCardError, Err: err,
			Message: "the key wants the PIN again for every signature (CKA_ALWAYS_AUTHENTICATE), which eidlink does not support"}
	}
	if err != nil {
		return nil, c.fail("sign", err)
	}
	if sigLen != 0 && len(sig) != sigLen {
		return nil, protocol.Errorf(protocol.CodeCardError, "the token returned a %d-byte ECDSA signature, want %d bytes of r||s", len(sig), sigLen)
	}
	return sig, nil
}

func (c *Card) pairFor(cert *x509.Certificate) *pair {
	for _, p := range []*pair{c.auth, c.sign} {
		if p != nil && cert != nil && bytes.Equal(p.cert.Raw, cert.Raw) {
			return p
		}
	}
	return nil
}

// privateKey returns the key of p, looking for it among the private keys
// the token shows after login when it was hidden before.
func (c *Card) privateKey(p *pair) (pkcs11.ObjectHandle, error) {
	if p.key != 0 {
		return p.key, nil
	}
	privs, err := readObjects(c.p11, c.sh, pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return 0, cardError("find keys", err)
	}
	k, ok := matchKey(p.cert, object{id: p.id, label: p.label}, privs)
	if !ok {
		msg := "the card shows no private key for the certificate"
		if !c.loggedIn {
			msg += " (not logged in)"
		}
		return 0, protocol.Errorf(protocol.CodeNoCertificate, "%s", msg)
	}
	p.key, p.keySeen, p.alwaysAuth = k.h, true, isTrue(k.always)
	return p.key, nil
}

// Close implements command.Card: it logs out and closes the session.
func (c *Card) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sh == 0 {
		return nil
	}
	if c.loggedIn {
		c.p11.Logout(c.sh)
		c.loggedIn = false
	}
	err := c.p11.CloseSession(c.sh)
	c.sh = 0
	if e := cardError("close session", err); e != nil {
		return e
	}
	return nil
}

// hashArcs maps each hash function to the last arc of its OID under
// 2.16.840.1.101.3.4.2 (NIST hash algorithms).
var hashArcs = map[crypto.Hash]byte{
	crypto.SHA256: 1, crypto.SHA384: 2, crypto.SHA512: 3, crypto.SHA224: 4,
	crypto.SHA3_224: 7, crypto.SHA3_256: 8, crypto.SHA3_384: 9, crypto.SHA3_512: 10,
}

// DigestInfo returns the DER DigestInfo of digest (RFC 8017 section 9.2):
// SEQUENCE { SEQUENCE { OID, NULL }, OCTET STRING digest }. h must be in
// hashArcs and digest h.Size() bytes long.
func DigestInfo(h crypto.Hash, digest []byte) []byte {
	n := byte(len(digest))
	prefix := []byte{0x30, 0x11 + n, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, hashArcs[h], 0x05, 0x00, 0x04, n}
	return append(prefix, digest...)
}

// ParseDigestInfo is the inverse of the DigestInfo that Sign builds: the
// hash function and the digest of a DER DigestInfo of a function of
// hashArcs, as a TLS client passes it with CKM_RSA_PKCS.
func ParseDigestInfo(b []byte) (crypto.Hash, []byte, bool) {
	for h := range hashArcs {
		if n := len(b) - h.Size(); n == 19 && bytes.Equal(b, DigestInfo(h, b[n:])) {
			return h, b[n:], true
		}
	}
	return 0, nil, false
}
