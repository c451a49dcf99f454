package virtualcard

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/iasecc"
)

// CIEBehaviour switches the virtual CIE between the answers that real cards
// may give where the fact sheet (cie-protocol.md §16) leaves a question
// open. The zero value is the most lenient card.
type CIEBehaviour struct {
	// ProtectedFiles makes EF 1002 (serial) and 1003 (certificate)
	// readable only under secure messaging after the PIN (§16.2), as the
	// middleware assumes; otherwise they are public.
	ProtectedFiles bool
	// StatusOutsideSM answers error status words of protected commands
	// in clear, as the outer status word, instead of inside DO99 with an
	// outer 9000 (§16.4).
	StatusOutsideSM bool
	// PINPerSignature lets one verified PIN allow a single signature
	// (§16.3).
	PINPerSignature bool
	// NoTriesQuery refuses VERIFY without data (6700) instead of
	// answering the tries left (§16.7).
	NoTriesQuery bool
	// KeyAgreementInCIE answers GET DATA and MSE SET key agreement only
	// with the CIE application (or one of its EFs) selected, 6A88
	// elsewhere: the middleware always selects it first (§5.1, §9), the
	// sources do not tell whether the card needs that.
	KeyAgreementInCIE bool
}

// cieKeys are the keys every virtual CIE shares, generated once per
// process: the CA pair that fits the terminals' fixed CA exponent, the
// chip's device-authentication key (EF 1004, key 82) and the services
// key (EF 1005, key 83).
var cieKeys = sync.OnceValues(func() (*cieKeySet, error) {
	var k cieKeySet
	var err error
	if k.caN, k.caE, err = iasecc.NewCAKey(rand.Reader); err != nil {
		return nil, err
	}
	if k.chip, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.services, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.dsKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.ds, err = newDSCert(k.dsKey); err != nil {
		return nil, err
	}
	return &k, nil
})

type cieKeySet struct {
	caN, caE              *big.Int
	chip, services, dsKey *rsa.PrivateKey
	ds                    *x509.Certificate // signs EF.SOD
}

// caCHR and caCHA are the virtual CA's holder reference and authorization
// (CAR = CHR without its first 4 bytes; the CHA starts with the CIE AID).
var (
	caCHR = []byte{0, 0, 0, 0, 'I', 'T', 'C', 'I', 'E', 'C', 'A', '1'}
	caCHA = append(slices.Clone(aidCIE), 0x01)
)

// cieState is the CIE's security state; reset clears it.
type cieState struct {
	behaviour CIEBehaviour
	keys      *cieKeySet
	snICC     []byte // SN.ICC, 8 bytes

	sm     *iasecc.Session // after key agreement
	smUsed bool            // a protected command was accepted
	x      *big.Int
	yIFD   []byte
	yICC   []byte
	term   *iasecc.ChipKey // from PSO VERIFY CERTIFICATE
	chr    bool
	rndICC []byte
	extOK  bool // EXTERNAL AUTHENTICATE passed
	dapp   bool // device authentication done
	pukOK  bool
	newSSC []byte // set after the current answer is protected

	pending    []byte // answer left for GET RESPONSE
	corruptMAC bool
}

func (s *cieState) reset() {
	*s = cieState{behaviour: s.behaviour, keys: s.keys, snICC: s.snICC, corruptMAC: s.corruptMAC}
}

// CorruptNextMAC makes the next protected answer of a CIE carry a wrong
// MAC, as a disturbed contactless link would.
func (c *Card) CorruptNextMAC() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cie.corruptMAC = true
}

// cieFiles is a CIE 3.0: the MF doubles as the IAS application (NXP and
// later cards have no separate IAS DF), with EF D003 (PAN: 5A 0A and ten
// BCD bytes whose bytes 5..10 of the file spell the NIS) and D004 (DH
// parameters); the CIE application holds 1001 (NIS), 1002 (serial), 1003
// (certificate), 1004 and 1005 (chip public keys) and 1006 (SOD).
func cieFiles(id *eidcert.TestIdentity, keys *cieKeySet) (*file, error) {
	h := sha256.Sum256([]byte(id.Serial))
	pan := []byte{0x5A, 0x0A}
	for _, b := range h[:10] {
		pan = append(pan, (b>>4%10)<<4|b&0x0F%10)
	}
	nis := fmt.Sprintf("%X", pan[5:11])
	d := iasecc.RFC5114
	dh := iasecc.TLV(0x70, iasecc.TLV(0xBFA101, iasecc.TLV(0xA3, iasecc.TLV(0x97, d.G), iasecc.TLV(0x98, d.P), iasecc.TLV(0x99, d.Q))))
	serial := []byte(id.Serial)
	chip := x509.MarshalPKCS1PublicKey(&keys.chip.PublicKey)
	services := x509.MarshalPKCS1PublicKey(&keys.services.PublicKey)
	sodData, err := sod(map[byte][]byte{0xA1: []byte(nis), 0xA2: serial[:min(9, len(serial))], 0xA3: id.Cert.Raw, 0xA4: chip, 0xA5: services, 0x1B: dh}, keys.ds, keys.dsKey)
	if err != nil {
		return nil, err
	}
	return df(0x3F00, aidIAS,
		ef(0xD003, pan),
		ef(0xD004, dh),
		df(0, aidCIE,
			ef(0x1001, []byte(nis)),
			ef(0x1002, serial),
			ef(0x1003, id.Cert.Raw),
			ef(0x1004, chip),
			ef(0x1005, services),
			ef(0x1006, sodData),
		),
	), nil
}

// processCIE answers a CIE command. sm tells whether it came protected.
func (c *Card) processCIE(a apdu, sm bool) ([]byte, int) {
	s := &c.cie
	secured := sm && s.dapp
	switch a.ins {
	case 0xA4:
		return c.selectFile(a)
	case 0xB0:
		if s.behaviour.ProtectedFiles && !c.verified && !c.cur.isDF() && (c.cur.fid == 0x1002 || c.cur.fid == 0x1003) {
			return nil, swSecurity
		}
		return c.readBinary(a)
	case 0xCB:
		if !c.inCIE() {
			return nil, swRefNotFound
		}
		return c.getData(a)
	case 0x84:
		if a.le != 8 {
			return nil, swWrongLength
		}
		s.rndICC = make([]byte, 8)
		rand.Read(s.rndICC)
		return s.rndICC, swOK
	case 0x22:
		if a.p1 == 0x41 && a.p2 == 0xA6 && !c.inCIE() {
			return nil, swRefNotFound
		}
		return nil, c.cieMSE(a, sm)
	case 0x2A:
		if !sm || a.p1 != 0x00 || a.p2 != 0xAE {
			return nil, swConditions
		}
		k, err := iasecc.OpenTerminalCertificate(a.data, s.keys.caN, s.keys.caE)
		if err != nil {
			return nil, swWrongData
		}
		s.term = &k
		return nil, swOK
	case 0x82:
		if !sm || s.term == nil || !s.chr || s.rndICC == nil {
			return nil, swConditions
		}
		if iasecc.CheckExternalAuth(*s.term, a.data, iasecc.RFC5114, s.yIFD, s.rndICC, s.yICC) != nil {
			return nil, 0x6300
		}
		s.extOK = true
		return nil, swOK
	case 0x88:
		return c.cieInternalAuth(a, sm)
	case 0x20:
		if !secured {
			return nil, swSecurity
		}
		return nil, c.cieVerify(a)
	case 0x2C:
		if !secured {
			return nil, swSecurity
		}
		return nil, c.cieResetRetry(a)
	case 0x24:
		if !secured {
			return nil, swSecurity
		}
		if a.p2 != 0x81 || len(a.data) != 2*len(c.pin.value) {
			return nil, swWrongData
		}
		n := len(c.pin.value)
		if sw := check(&c.pin, a.data[:n]); sw != swOK {
			return nil, sw
		}
		c.pin.value = slices.Clone(a.data[n:])
		return nil, swOK
	}
	return nil, swINSUnsupported
}

// inCIE tells whether the card answers key agreement in the current DF
// (see CIEBehaviour.KeyAgreementInCIE).
func (c *Card) inCIE() bool {
	dir := c.cur
	if !dir.isDF() {
		dir = dir.parent
	}
	return !c.cie.behaviour.KeyAgreementInCIE || bytes.Equal(dir.aid, aidCIE)
}

// getData answers GET DATA 3FFF for the DH parameters (all three, or one
// at a time), the CA public key and the card's DH public value.
func (c *Card) getData(a apdu) ([]byte, int) {
	s := &c.cie
	if a.p1 != 0x3F || a.p2 != 0xFF {
		return nil, swWrongP1P2
	}
	q, err := iasecc.Find(a.data, 0x4D)
	if err != nil {
		return nil, swWrongData
	}
	d := iasecc.RFC5114
	dh := func(kids ...[]byte) []byte {
		return iasecc.TLV(0x70, iasecc.TLV(0xBFA101, iasecc.TLV(0xA3, kids...)))
	}
	switch fmt.Sprintf("%X", q) {
	case "7006BFA10102A380":
		return dh(iasecc.TLV(0x97, d.G), iasecc.TLV(0x98, d.P), iasecc.TLV(0x99, d.Q)), swOK
	case "7008BFA10104A3029700":
		return dh(iasecc.TLV(0x97, d.G)), swOK
	case "7008BFA10104A3029800":
		return dh(iasecc.TLV(0x98, d.P)), swOK
	case "7008BFA10104A3029900":
		return dh(iasecc.TLV(0x99, d.Q)), swOK
	case "7007BFA004037F4980":
		k := s.keys
		return iasecc.TLV(0x70, iasecc.TLV(0xBFA004, iasecc.TLV(0x7F49,
			iasecc.TLV(0x81, k.caN.Bytes()), iasecc.TLV(0x82, k.caE.Bytes()),
			iasecc.TLV(0x5F20, caCHR), iasecc.TLV(0x5F4C, caCHA)))), swOK
	case "A6029100":
		if s.yICC == nil {
			return nil, swConditions
		}
		return iasecc.TLV(0xA6, iasecc.TLV(0x91, s.yICC)), swOK
	}
	return nil, swRefNotFound
}

// cieMSE handles MSE SET: key agreement (41 A6), the CA key for the
// terminal certificate (81 B6), the terminal's CHR (81 A4) and the key for
// INTERNAL AUTHENTICATE (41 A4: 82 chip, 81 holder, 83 services).
func (c *Card) cieMSE(a apdu, sm bool) int {
	s := &c.cie
	switch {
	case a.p1 == 0x41 && a.p2 == 0xA6:
		y, err := iasecc.Find(a.data, 0x91)
		if err != nil {
			return swWrongData
		}
		d := iasecc.RFC5114
		x, yICC, err := d.KeyPair(rand.Reader)
		if err != nil {
			return swWrongData
		}
		z, err := d.Shared(x, y)
		if err != nil {
			return swWrongData
		}
		s.reset()
		c.verified = false
		s.x, s.yIFD, s.yICC = x, slices.Clone(y), yICC
		s.sm, _ = iasecc.NewSession(iasecc.DeriveKeys(z))
		return swOK
	case a.p1 == 0x81 && a.p2 == 0xB6:
		if !sm {
			return swConditions
		}
		return swOK
	case a.p1 == 0x81 && a.p2 == 0xA4:
		if !sm || s.term == nil || !bytes.Equal(a.data, iasecc.TLV(0x83, iasecc.CHR())) {
			return swConditions
		}
		s.chr = true
		return swOK
	case a.p1 == 0x41 && a.p2 == 0xA4:
		key, err := iasecc.Find(a.data, 0x84)
		if err != nil || len(key) != 1 {
			return swWrongData
		}
		switch key[0] {
		case 0x81, 0x82, 0x83:
			c.seKey = key[0]
			return swOK
		}
		return swRefNotFound
	}
	return swWrongP1P2
}

func (c *Card) cieInternalAuth(a apdu, sm bool) ([]byte, int) {
	s := &c.cie
	switch c.seKey {
	case 0x82:
		if !sm || !s.extOK || len(a.data) != 8 {
			return nil, swConditions
		}
		r, err := iasecc.InternalAuth(rand.Reader, s.keys.chip, s.snICC, iasecc.RFC5114, a.data, s.yIFD, s.yICC)
		if err != nil {
			return nil, swWrongData
		}
		s.dapp, s.newSSC = true, iasecc.SSC(s.rndICC, a.data)
		return r, swOK
	case 0x83: // deterministic: the middleware derives its cache key from it
		sig, err := rsa.SignPKCS1v15(nil, s.keys.services, crypto.Hash(0), a.data)
		if err != nil {
			return nil, swWrongData
		}
		return sig, swOK
	case 0x81:
		if !sm || !s.dapp || !c.verified {
			return nil, swSecurity
		}
		sig, err := rsa.SignPKCS1v15(nil, c.id.Key, crypto.Hash(0), a.data)
		if err != nil {
			return nil, swWrongData
		}
		if s.behaviour.PINPerSignature {
			c.verified = false
		}
		return sig, swOK
	}
	return nil, swConditions
}

func (c *Card) cieVerify(a apdu) int {
	sec := &c.pin
	switch a.p2 {
	case 0x81:
	case 0x82:
		sec = &c.puk
	default:
		return swRefNotFound
	}
	if a.p1 != 0x00 {
		return swWrongP1P2
	}
	if len(a.data) == 0 && c.cie.behaviour.NoTriesQuery {
		return swWrongLength
	}
	sw := c.verifySecret(sec, a.data)
	if sec == &c.puk && len(a.data) > 0 {
		c.cie.pukOK = sw == swOK
	}
	return sw
}

// cieResetRetry unblocks the PIN after the PUK was verified: P1 02 sets a
// new PIN, P1 03 only resets the counter.
func (c *Card) cieResetRetry(a apdu) int {
	if a.p2 != 0x81 {
		return swRefNotFound
	}
	if !c.cie.pukOK {
		return swSecurity
	}
	switch {
	case a.p1 == 0x02 && len(a.data) == 8:
		c.pin.value = slices.Clone(a.data)
	case a.p1 == 0x03 && len(a.data) == 0:
	default:
		return swWrongData
	}
	c.pin.tries = c.pin.max
	c.cie.pukOK = false
	return swOK
}

// swSMFailure is the answer to a command whose MAC or format is wrong;
// the session ends.
const swSMFailure = 0x6988

// processProtected unwraps a protected command, answers it and protects
// the answer. Error status words go inside DO99 unless the behaviour says
// otherwise; a bad MAC ends the session with a plain 6988.
func (c *Card) processProtected(raw apdu) ([]byte, int) {
	s := &c.cie
	if s.sm == nil || s.yICC == nil {
		return nil, swSMFailure
	}
	a, err := s.sm.UnprotectCommand(raw.cla, raw.ins, raw.p1, raw.p2, raw.data)
	if err != nil {
		s.reset()
		c.verified = false
		return nil, swSMFailure
	}
	s.smUsed = true
	if a.CLA&0x10 != 0 {
		c.chain = append(c.chain, a.Data...)
		return s.sm.ProtectResponse(nil, swOK), swOK
	}
	p := apdu{cla: 0, ins: a.INS, p1: a.P1, p2: a.P2, data: a.Data, le: a.Le}
	if c.chain != nil {
		p.data, c.chain = append(c.chain, a.Data...), nil
	}
	data, sw := c.processCIE(p, true)
	clear(p.data)
	if s.behaviour.StatusOutsideSM && sw != swOK && sw != swEOF {
		return nil, sw
	}
	if s.sm == nil { // the command ended the session
		return nil, sw
	}
	resp := s.sm.ProtectResponse(data, uint16(sw))
	if s.corruptMAC {
		resp[len(resp)-1] ^= 0xFF
		s.corruptMAC = false
	}
	if s.newSSC != nil {
		s.sm.SetSSC(s.newSSC)
		s.newSSC = nil
	}
	return resp, swOK
}

// cieProcess is Process for a CIE: protected commands (CLA 0C, 1C),
// GET RESPONSE, and plain commands, which end a session in use.
func (c *Card) cieProcess(a apdu) []byte {
	s := &c.cie
	if a.ins == 0xC0 && (a.cla == 0x00 || a.cla == 0x0C) {
		n := min(len(s.pending), a.le)
		if n <= 0 {
			return withSW(nil, swConditions)
		}
		out := s.pending[:n]
		s.pending = s.pending[n:]
		return c.answer(out, swOK)
	}
	s.pending = nil
	var data []byte
	var sw int
	switch a.cla {
	case 0x0C, 0x1C:
		data, sw = c.processProtected(a)
	case 0x00, 0x10:
		if s.smUsed {
			s.reset()
			c.verified = false
		}
		if a.cla == 0x10 {
			c.chain = append(c.chain, a.data...)
			return withSW(nil, swOK)
		}
		if c.chain != nil {
			a.data, c.chain = append(c.chain, a.data...), nil
		}
		data, sw = c.processCIE(a, false)
	default:
		c.chain = nil
		return withSW(nil, swCLAUnsupported)
	}
	return c.answer(data, sw)
}

// answer sends at most 256 bytes, keeping the rest for GET RESPONSE (61xx).
func (c *Card) answer(data []byte, sw int) []byte {
	if len(data) <= 256 && len(c.cie.pending) == 0 {
		return withSW(data, sw)
	}
	if len(data) > 256 {
		c.cie.pending = append(c.cie.pending, data[256:]...)
		data = data[:256]
	}
	return withSW(data, 0x6100|min(len(c.cie.pending), 256)&0xFF)
}

// cieBehaviours names the switches of CIEBehaviour for command lines.
var cieBehaviours = map[string]func(*CIEBehaviour){
	"protected-files":   func(b *CIEBehaviour) { b.ProtectedFiles = true },
	"status-outside-sm": func(b *CIEBehaviour) { b.StatusOutsideSM = true },
	"pin-per-signature": func(b *CIEBehaviour) { b.PINPerSignature = true },
	"no-tries-query":    func(b *CIEBehaviour) { b.NoTriesQuery = true },
	"dh-in-cie":         func(b *CIEBehaviour) { b.KeyAgreementInCIE = true },
}

// ParseCIEBehaviour reads a comma-separated list of switches:
// protected-files, status-outside-sm, pin-per-signature, no-tries-query,
// dh-in-cie.
func ParseCIEBehaviour(list string) (CIEBehaviour, error) {
	var b CIEBehaviour
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		set, ok := cieBehaviours[name]
		if !ok {
			return b, fmt.Errorf("vcard: unknown CIE behaviour %q (protected-files, status-outside-sm, pin-per-signature, no-tries-query, dh-in-cie)", name)
		}
		set(&b)
	}
	return b, nil
}
