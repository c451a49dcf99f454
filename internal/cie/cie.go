// Package cie is eidlink's native driver for the CIE 3.0 (Italian
// electronic identity card) over PC/SC, without the IPZS middleware: it
// identifies the card by its ATR, reads its public data, opens secure
// messaging (Diffie-Hellman with the card's parameters, 3DES and retail
// MAC, package iasecc), runs device authentication, verifies the full
// 8-digit PIN, reads the certificate and signs DigestInfos with the
// card's PKCS#1 v1.5 padding. The facts it follows are in
// cie-protocol.md (shared reference), sections cited in the comments.
//
// # Sessions
//
// Every operation runs in one PC/SC transaction. The secure session (and
// the verified PIN) is kept for further signatures; it ends on a card
// reset, a removal, a MAC or format error, or a status word the card
// gives outside secure messaging, and then the next signature returns
// [ErrLoginRequired]: the caller asks the holder for the PIN again. The
// driver never sends a PIN twice by itself.
//
// Public values that never change for a card family (DH parameters, the
// CA key) or a chip (its device-authentication key, by SN.ICC) are cached
// for the life of the process. The driver also remembers that it selected
// the CIE application on its connection, until a reset, so that the
// session opened after reading the certificate needs no SELECT: 14 APDUs
// (with the GET RESPONSE that the card's 264-byte DH value needs), the PIN
// one more, and a further signature 3 (make bench). Another application
// may select elsewhere between two transactions: a status word refusing a
// command sent on that memory has the driver select and start over, once.
//
// # Errors
//
// Status words stay in the error chain as *pcsc.StatusError or
// *pcsc.AuthError (errors.Is with pcsc.ErrBlocked and friends); every
// error of an operation is an [*Error] naming the operation, with a hint
// for the holder or for a bug report.
//
// # Traces
//
// With EIDLINK_APDU_TRACE=FILE every APDU is appended to FILE, in clear
// and, for secure messaging, in its plain form, with PIN and PUK bytes and
// MACs replaced by their length; keys are never written.
package cie

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
)

// Errors of the driver, matched with errors.Is.
var (
	ErrNotCIE        = errors.New("cie: not a CIE 3.0")
	ErrPINFormat     = errors.New("cie: the PIN is 8 digits")
	ErrLoginRequired = errors.New("cie: the card needs the PIN (again)")
	ErrTriesUnknown  = errors.New("cie: the card does not tell the tries left without a try")
)

// Card is a CIE in a reader. Its methods are safe for concurrent use; they
// run one at a time.
type Card struct {
	Family card.Family
	ATR    []byte

	mu       sync.Mutex
	w        *wire
	sess     *iasecc.Session
	verified bool
	inCIE    bool // this connection selected the CIE application, no reset since
	cert     []byte
}

// New identifies the card on c by its ATR. It sends no APDU.
func New(c pcsc.Card) (*Card, error) {
	atr, err := c.ATR()
	if err != nil {
		return nil, &Error{Op: "read the ATR", Err: err}
	}
	info := card.Identify(atr)
	if info.Kind != eidcert.CIE {
		return nil, &Error{Op: "identify", Err: fmt.Errorf("%w (ATR % X)", ErrNotCIE, atr)}
	}
	w, err := newWire(c)
	if err != nil {
		return nil, &Error{Op: "open the APDU trace", Err: err}
	}
	return &Card{Family: info.Family, ATR: atr, w: w}, nil
}

// APDUs returns how many APDUs the driver sent to the card so far.
func (c *Card) APDUs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.count
}

// Close ends the session and the trace; the PC/SC connection stays the
// caller's.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.end()
	return c.w.close()
}

// end forgets the secure session.
func (c *Card) end() { c.sess, c.verified = nil, false }

// tx runs fn in one PC/SC transaction; a reset seen when it starts ends
// the session.
func (c *Card) tx(op string, fn func() error) error {
	c.w.reset = false
	err := pcsc.WithTransaction(c.w, func() error {
		if c.w.reset {
			c.end()
			c.inCIE = false
		}
		return fn()
	})
	if c.w.reset {
		c.end()
		c.inCIE = false
	}
	if err != nil {
		return &Error{Op: op, Err: err}
	}
	return nil
}

// gemaltoDH is true for the family that takes the DH parameters in one
// GET DATA (§5.1).
func (c *Card) gemaltoDH() bool { return c.Family.Name == "cie-gemalto" }

// imfRoot is true for the families whose IAS root is the MF (§11).
func (c *Card) mfRoot() bool {
	switch c.Family.Name {
	case "cie-gemalto", "cie-gemalto2", "cie-stm", "cie-stm2", "cie-stm3":
		return false
	}
	return true
}

// Plain APDUs.
var (
	selectCIE = []byte{0x00, 0xA4, 0x04, 0x0C, 0x06, 0xA0, 0x00, 0x00, 0x00, 0x00, 0x39}
	selectIAS = []byte{0x00, 0xA4, 0x04, 0x0C, 0x0D, 0xA0, 0x00, 0x00, 0x00, 0x30, 0x80, 0x00, 0x00, 0x00, 0x09, 0x81, 0x60, 0x01}
	selectMF  = []byte{0x00, 0xA4, 0x00, 0x00}
)

// inCIEApp runs fn with the CIE application selected. If the driver
// selected it before on this connection, it sends no SELECT, unless fn
// then fails with a status word other than 6982 (which is about the PIN,
// not the place): another application may have selected elsewhere in
// between, so it selects and runs fn again. Nothing that spends a PIN try
// may be in fn.
func (c *Card) inCIEApp(fn func() error) error {
	if c.inCIE {
		err := fn()
		if se := (*pcsc.StatusError)(nil); !errors.As(err, &se) || errors.Is(err, pcsc.ErrSecurityStatus) {
			return err
		}
	}
	c.inCIE = false
	if _, err := c.w.exchange(selectCIE); err != nil {
		return fmt.Errorf("select the CIE application: %w", err)
	}
	c.inCIE = true
	return fn()
}

// getData is GET DATA 3FFF with a 4D request.
func getData(req ...byte) []byte {
	return append([]byte{0x00, 0xCB, 0x3F, 0xFF, byte(len(req) + 2), 0x4D, byte(len(req))}, req...)
}

// domain is what a family's cards share: DH parameters and the terminal
// certificate built for its CA.
type domain struct {
	dh  iasecc.DH
	cvc []byte
}

var (
	cacheMu  sync.Mutex
	domains  = map[string]*domain{}        // by family
	chipKeys = map[string]iasecc.ChipKey{} // by SN.ICC
)

// readDomain reads the DH parameters and the CA key (§5.1, §5.2), in
// clear, with the CIE application selected.
func (c *Card) readDomain() (*domain, error) {
	cacheMu.Lock()
	d := domains[c.Family.Name]
	cacheMu.Unlock()
	if d != nil {
		return d, nil
	}
	d = &domain{}
	param := func(resp []byte, tag uint32) ([]byte, error) {
		return iasecc.Find(resp, 0x70, 0xBFA101, 0xA3, tag)
	}
	if c.gemaltoDH() {
		resp, err := c.w.exchange(getData(0x70, 0x06, 0xBF, 0xA1, 0x01, 0x02, 0xA3, 0x80))
		if err != nil {
			return nil, fmt.Errorf("DH parameters: %w", err)
		}
		g, err1 := param(resp, 0x97)
		p, err2 := param(resp, 0x98)
		q, err3 := param(resp, 0x99)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("DH parameters: %w", err)
		}
		d.dh = iasecc.DH{G: g, P: p, Q: q}
	} else {
		var v [3][]byte
		for i, tag := range []byte{0x97, 0x98, 0x99} {
			resp, err := c.w.exchange(getData(0x70, 0x08, 0xBF, 0xA1, 0x01, 0x04, 0xA3, 0x02, tag, 0x00))
			if err != nil {
				return nil, fmt.Errorf("DH parameter %X: %w", tag, err)
			}
			if v[i], err = param(resp, uint32(tag)); err != nil {
				return nil, fmt.Errorf("DH parameter %X: %w", tag, err)
			}
		}
		d.dh = iasecc.DH{G: v[0], P: v[1], Q: v[2]}
	}
	resp, err := c.w.exchange(getData(0x70, 0x07, 0xBF, 0xA0, 0x04, 0x03, 0x7F, 0x49, 0x80))
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	ca := func(tag uint32) ([]byte, error) { return iasecc.Find(resp, 0x70, 0xBFA004, 0x7F49, tag) }
	n, err1 := ca(0x81)
	chr, err2 := ca(0x5F20)
	cha, err3 := ca(0x5F4C)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if len(chr) < 5 || len(cha) < 6 {
		return nil, fmt.Errorf("CA key: CHR of %d and CHA of %d bytes", len(chr), len(cha))
	}
	if d.cvc, err = iasecc.TerminalCertificate(n, chr[4:], cha[:6]); err != nil {
		return nil, err
	}
	cacheMu.Lock()
	domains[c.Family.Name] = d
	cacheMu.Unlock()
	return d, nil
}

// establish opens secure messaging and runs device authentication
// (§5.3, §6) in the CIE application: key agreement, the card's DH value,
// then the terminal's certificate, challenge and answer, and the chip's
// answer, checked with its key from EF 1004.
func (c *Card) establish() error {
	return c.inCIEApp(func() error {
		c.end()
		return c.authenticate()
	})
}

// authenticate is establish with the CIE application selected.
func (c *Card) authenticate() error {
	d, err := c.readDomain()
	if err != nil {
		return err
	}
	x, yIFD, err := d.dh.KeyPair(rand.Reader)
	if err != nil {
		return err
	}
	kat := append([]byte{0x80, 0x01, 0x9B, 0x83, 0x01, 0x81}, iasecc.TLV(0x91, yIFD)...)
	if err := c.w.chained(0x22, 0x41, 0xA6, kat); err != nil {
		return fmt.Errorf("key agreement: %w", err)
	}
	resp, err := c.w.exchange(getData(0xA6, 0x02, 0x91, 0x00))
	if err != nil {
		return fmt.Errorf("key agreement: %w", err)
	}
	yICC, err := iasecc.Find(resp, 0xA6, 0x91)
	if err != nil {
		return fmt.Errorf("key agreement: %w", err)
	}
	z, err := d.dh.Shared(x, yICC)
	if err != nil {
		return err
	}
	kEnc, kMAC := iasecc.DeriveKeys(z)
	clear(z)
	if c.sess, err = iasecc.NewSession(kEnc, kMAC); err != nil {
		return err
	}
	clear(kEnc)
	clear(kMAC)
	steps := []struct {
		what string
		a    iasecc.APDU
	}{
		{"set the CA key", iasecc.APDU{INS: 0x22, P1: 0x81, P2: 0xB6, Data: []byte{0x80, 0x01, 0x41, 0x83, 0x01, 0x84}, Le: 256}},
		{"verify the terminal certificate", iasecc.APDU{INS: 0x2A, P1: 0x00, P2: 0xAE, Data: d.cvc, Le: -1}},
		{"set the terminal", iasecc.APDU{INS: 0x22, P1: 0x81, P2: 0xA4, Data: iasecc.TLV(0x83, iasecc.CHR()), Le: -1}},
	}
	for _, s := range steps {
		if _, err := c.sm(s.a); err != nil {
			return fmt.Errorf("device authentication: %s: %w", s.what, err)
		}
	}
	rndICC, err := c.sm(iasecc.APDU{INS: 0x84, Le: 8})
	if err != nil || len(rndICC) != 8 {
		return fmt.Errorf("device authentication: challenge (%d bytes): %w", len(rndICC), err)
	}
	ea, err := iasecc.ExternalAuth(rand.Reader, d.dh, yIFD, rndICC, yICC)
	if err != nil {
		return err
	}
	if _, err := c.sm(iasecc.APDU{INS: 0x82, Data: ea, Le: -1}); err != nil {
		return fmt.Errorf("device authentication: terminal: %w", err)
	}
	if _, err := c.sm(iasecc.APDU{INS: 0x22, P1: 0x41, P2: 0xA4, Data: []byte{0x84, 0x01, 0x82, 0x80, 0x01, 0x9B}, Le: -1}); err != nil {
		return fmt.Errorf("device authentication: set the chip key: %w", err)
	}
	rndIFD := make([]byte, 8)
	rand.Read(rndIFD)
	ia, err := c.sm(iasecc.APDU{INS: 0x88, Data: rndIFD, Le: -1})
	if err != nil || len(ia) < 8 {
		return fmt.Errorf("device authentication: chip (%d bytes): %w", len(ia), err)
	}
	c.sess.SetSSC(iasecc.SSC(rndICC, rndIFD))
	sn := string(ia[:8])
	cacheMu.Lock()
	key, ok := chipKeys[sn]
	cacheMu.Unlock()
	if !ok {
		b, err := c.readFile(0x1004)
		if err != nil {
			return fmt.Errorf("device authentication: chip key (EF 1004): %w", err)
		}
		if key, err = iasecc.ParseChipKey(b); err != nil {
			return fmt.Errorf("device authentication: chip key (EF 1004): %w", err)
		}
	}
	if _, err := iasecc.VerifyInternalAuth(key, ia, d.dh, rndIFD, yIFD, yICC); err != nil {
		c.end()
		return err
	}
	cacheMu.Lock()
	chipKeys[sn] = key
	cacheMu.Unlock()
	return nil
}

// session opens the secure session unless one is open.
func (c *Card) session() error {
	if c.sess != nil {
		return nil
	}
	return c.establish()
}

// sm sends a under secure messaging, in pieces of at most 231 bytes
// (CLA 1C but the last), and returns the plain answer. A status word in
// DO99 other than 9000 is an error that keeps the session; anything else
// that goes wrong ends it.
func (c *Card) sm(a iasecc.APDU) ([]byte, error) {
	if c.sess == nil {
		return nil, ErrLoginRequired
	}
	data := a.Data
	for {
		piece, last := a, len(data) <= iasecc.MaxSMData
		piece.Data = data
		if !last {
			piece.CLA |= 0x10
			piece.Data, piece.Le = data[:iasecc.MaxSMData], -1
		}
		c.w.plain(piece)
		wire, err := c.sess.Protect(piece)
		if err != nil {
			c.end()
			return nil, err
		}
		resp, err := c.w.exchange(wire)
		if err != nil {
			c.end()
			return nil, err
		}
		out, sw, err := c.sess.Unprotect(resp)
		if err != nil {
			c.end()
			return nil, err
		}
		c.w.plainResp(out, sw)
		if sw != 0x9000 && (last || sw != 0x6282) {
			_, err := pcsc.CheckSW([]byte{byte(sw >> 8), byte(sw)})
			return out, err
		}
		if last {
			return out, nil
		}
		data = data[iasecc.MaxSMData:]
	}
}

// readFile reads an EF of the current application, under secure
// messaging when a session is open (§2): SELECT with P2 04, READ BINARY
// until 6282 or 6B00.
func (c *Card) readFile(fid uint16) ([]byte, error) {
	sel := iasecc.APDU{INS: 0xA4, P1: 0x02, P2: 0x04, Data: []byte{byte(fid >> 8), byte(fid)}, Le: -1}
	if _, err := c.send(sel); err != nil {
		return nil, err
	}
	var out []byte
	chunk := 0xE7 // the most one protected answer holds; 80 if refused
	for len(out) < 0x8000 {
		r := iasecc.APDU{INS: 0xB0, P1: byte(len(out) >> 8), P2: byte(len(out)), Le: chunk}
		b, err := c.send(r)
		var se *pcsc.StatusError
		switch {
		case err == nil && len(b) > 0:
			out = append(out, b...)
			continue
		case errors.As(err, &se) && se.SW == 0x6282:
			return append(out, b...), nil
		case errors.As(err, &se) && se.SW == 0x6B00, err == nil:
			return out, nil
		case errors.As(err, &se) && (se.SW == 0x6700 || se.SW&0xFF00 == 0x6C00) && chunk != 0x80:
			chunk = 0x80
			continue
		}
		return nil, err
	}
	return nil, fmt.Errorf("cie: EF %04X longer than 32 KiB", fid)
}

// send sends a under secure messaging when a session is open, in clear
// otherwise.
func (c *Card) send(a iasecc.APDU) ([]byte, error) {
	if c.sess != nil {
		return c.sm(a)
	}
	b := []byte{a.CLA, a.INS, a.P1, a.P2}
	if len(a.Data) > 0 {
		b = append(append(b, byte(len(a.Data))), a.Data...)
	}
	if a.Le >= 0 {
		b = append(b, byte(a.Le))
	}
	return c.w.exchange(b)
}

// checkPIN refuses anything but 8 ASCII digits before the card sees it.
func checkPIN(pin []byte) error {
	if len(pin) != 8 {
		return fmt.Errorf("%w, not %d characters", ErrPINFormat, len(pin))
	}
	for _, b := range pin {
		if b < '0' || b > '9' {
			return fmt.Errorf("%w: only digits", ErrPINFormat)
		}
	}
	return nil
}

// Login verifies the holder's full 8-digit PIN, opening the secure
// session when there is none. A wrong PIN is a *pcsc.AuthError with the
// tries left; a blocked one matches pcsc.ErrBlocked. The PIN is sent once.
// The caller keeps (and zeroes) pin; the driver zeroes its copies.
func (c *Card) Login(pin []byte) error {
	if err := checkPIN(pin); err != nil {
		return &Error{Op: "verify the PIN", Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tx("verify the PIN", func() error {
		earlier := c.sess != nil // opened in an earlier transaction
		if err := c.session(); err != nil {
			return err
		}
		p := bytes.Clone(pin)
		defer clear(p)
		c.verified = false
		verify := iasecc.APDU{INS: 0x20, P2: 0x81, Data: p, Le: -1}
		_, err := c.sm(verify)
		if earlier && refusedSM(err) && c.sess == nil {
			// Another application's plain command ended the session on
			// the card since: it refused the protected VERIFY in clear
			// without looking at the PIN (no try spent). The PIN goes
			// once more, in a new session; that is not a retry.
			if err = c.establish(); err == nil {
				_, err = c.sm(verify)
			}
		}
		if err != nil {
			return err
		}
		c.verified = true
		return nil
	})
}

// refusedSM tells whether the card refused a protected command as such
// (6987, 6988: secure messaging objects missing or wrong), before
// running it.
func refusedSM(err error) bool {
	var se *pcsc.StatusError
	return errors.As(err, &se) && (se.SW == 0x6987 || se.SW == 0x6988)
}

// TriesLeft asks the card for the PIN tries left without spending one
// (VERIFY without data, under secure messaging): 0 when blocked.
// ErrTriesUnknown when the card does not answer that.
func (c *Card) TriesLeft() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := -1
	err := c.tx("read the PIN tries left", func() error {
		if err := c.session(); err != nil {
			return err
		}
		_, err := c.sm(iasecc.APDU{INS: 0x20, P2: 0x81, Le: -1})
		var ae *pcsc.AuthError
		var se *pcsc.StatusError
		switch {
		case err == nil:
			n = 3 // verified in this session: the counter is full
		case errors.As(err, &ae):
			n = ae.Retries
		case errors.Is(err, pcsc.ErrBlocked):
			n = 0
		case errors.As(err, &se) && (se.SW == 0x6700 || se.SW == 0x6A80 || se.SW == 0x6A86):
			return ErrTriesUnknown
		default:
			return err
		}
		return nil
	})
	return n, err
}

// Unblock verifies the PUK and sets a new PIN (RESET RETRY COUNTER, §7).
func (c *Card) Unblock(puk, newPIN []byte) error {
	if err := errors.Join(checkPIN(puk), checkPIN(newPIN)); err != nil {
		return &Error{Op: "unblock the PIN", Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tx("unblock the PIN", func() error {
		if err := c.session(); err != nil {
			return err
		}
		p, n := bytes.Clone(puk), bytes.Clone(newPIN)
		defer clear(p)
		defer clear(n)
		if _, err := c.sm(iasecc.APDU{INS: 0x20, P2: 0x82, Data: p, Le: -1}); err != nil {
			return fmt.Errorf("PUK: %w", err)
		}
		_, err := c.sm(iasecc.APDU{INS: 0x2C, P1: 0x02, P2: 0x81, Data: n, Le: -1})
		return err
	})
}

// Certificate returns the holder's authentication certificate (EF 1003,
// DER), read once: under secure messaging when a session is open, else in
// clear. A card that shows it only after the PIN gives ErrLoginRequired.
func (c *Card) Certificate() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil {
		return bytes.Clone(c.cert), nil
	}
	err := c.tx("read the certificate", func() error {
		var b []byte
		read := func() (err error) { b, err = c.readFile(0x1003); return err }
		var err error
		if c.sess == nil {
			err = c.inCIEApp(read)
		} else {
			err = read()
		}
		if errors.Is(err, pcsc.ErrSecurityStatus) {
			return fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		if err != nil {
			return err
		}
		tag, _, rest, err := iasecc.ReadTLV(b) // the file may be padded
		if err != nil || tag != 0x30 {
			return fmt.Errorf("EF 1003 is not a certificate: %w", errors.Join(err, iasecc.ErrTLV))
		}
		c.cert = b[:len(b)-len(rest)]
		return nil
	})
	return bytes.Clone(c.cert), err
}

// Sign has the card sign a DigestInfo with the holder's key (MSE SET key
// 81, INTERNAL AUTHENTICATE; the card adds PKCS#1 v1.5 padding, §8), in
// the session of the last Login.
func (c *Card) Sign(digestInfo []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sig []byte
	err := c.tx("sign", func() error {
		if c.sess == nil || !c.verified {
			return ErrLoginRequired
		}
		if _, err := c.sm(iasecc.APDU{INS: 0x22, P1: 0x41, P2: 0xA4, Data: []byte{0x80, 0x01, 0x02, 0x84, 0x01, 0x81}, Le: -1}); err != nil {
			if refusedSM(err) && c.sess == nil { // another application ended the session
				return fmt.Errorf("%w: %w", ErrLoginRequired, err)
			}
			return err
		}
		var err error
		sig, err = c.sm(iasecc.APDU{INS: 0x88, Data: digestInfo, Le: -1})
		if errors.Is(err, pcsc.ErrSecurityStatus) { // the PIN allowed one signature
			c.verified = false
			return fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		return err
	})
	return sig, err
}

// Public is what the card shows without a PIN.
type Public struct {
	PAN []byte // EF D003
	NIS string // EF 1001, 12 digits
}

// ReadPublic reads EF D003 in the IAS root and EF 1001 in the CIE
// application, in clear; it ends a session in use (a plain command does).
func (c *Card) ReadPublic() (Public, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p Public
	err := c.tx("read the public data", func() error {
		c.end()
		root := selectIAS
		if c.mfRoot() {
			root = selectMF
		}
		c.inCIE = false
		if _, err := c.w.exchange(root); err != nil {
			return fmt.Errorf("select the IAS root: %w", err)
		}
		var err error
		if p.PAN, err = c.readFile(0xD003); err != nil {
			return fmt.Errorf("EF D003: %w", err)
		}
		c.inCIE = false // selects it
		return c.inCIEApp(func() error {
			nis, err := c.readFile(0x1001)
			if err != nil {
				return fmt.Errorf("EF 1001: %w", err)
			}
			p.NIS = string(nis)
			return nil
		})
	})
	return p, err
}
