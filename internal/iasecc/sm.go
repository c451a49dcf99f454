package iasecc

import (
	"crypto/cipher"
	"crypto/des"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of secure messaging. Any of them ends the session: the send
// sequence counters of the two sides no longer agree.
var (
	ErrMAC      = errors.New("iasecc: secure messaging MAC mismatch")
	ErrSMFormat = errors.New("iasecc: malformed secure messaging object")
)

// APDU is a plain command APDU. Le is -1 when absent, 256 for 00.
type APDU struct {
	CLA, INS, P1, P2 byte
	Data             []byte
	Le               int
}

// Session is the state of secure messaging: the 3DES keys and the send
// sequence counter. Both sides step the counter before protecting or
// checking each message.
type Session struct {
	enc, mac cipher.Block // 2-key 3DES (K1 K2 K1)
	mac1     cipher.Block // single DES with K1
	ssc      uint64
}

// KeySize is the length of K_ENC and K_MAC.
const KeySize = 16

// DeriveKeys returns K_ENC and K_MAC from the shared secret Z of the key
// agreement: the first 16 bytes of SHA-256(Z || 00000001) and of
// SHA-256(Z || 00000002).
func DeriveKeys(z []byte) (kEnc, kMAC []byte) {
	k := func(c byte) []byte {
		h := sha256.Sum256(append(append([]byte(nil), z...), 0, 0, 0, c))
		return h[:KeySize]
	}
	return k(1), k(2)
}

// NewSession starts secure messaging with the given keys; the counter
// starts at 1.
func NewSession(kEnc, kMAC []byte) (*Session, error) {
	if len(kEnc) != KeySize || len(kMAC) != KeySize {
		return nil, fmt.Errorf("iasecc: keys of %d and %d bytes, want %d", len(kEnc), len(kMAC), KeySize)
	}
	ede := func(k []byte) cipher.Block {
		b, _ := des.NewTripleDESCipher(append(append([]byte(nil), k...), k[:8]...))
		return b
	}
	s := &Session{enc: ede(kEnc), mac: ede(kMAC), ssc: 1}
	s.mac1, _ = des.NewCipher(kMAC[:8])
	return s, nil
}

// SetSSC sets the send sequence counter (after device authentication:
// RND.ICC[4:8] || RND.IFD[4:8]).
func (s *Session) SetSSC(b []byte) { s.ssc = binary.BigEndian.Uint64(b) }

// Pad appends ISO/IEC 7816-4 padding (80 then 00s) to a multiple of 8.
func Pad(b []byte) []byte {
	b = append(b, 0x80)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	return b
}

// Unpad removes ISO/IEC 7816-4 padding.
func Unpad(b []byte) ([]byte, error) {
	for i := len(b) - 1; i >= 0 && i >= len(b)-8; i-- {
		switch b[i] {
		case 0x80:
			return b[:i], nil
		case 0:
			continue
		}
		break
	}
	return nil, fmt.Errorf("%w: bad padding", ErrSMFormat)
}

// retailMAC is ISO/IEC 9797-1 MAC algorithm 3 over padded data: single-DES
// CBC with K1, the last block finished with 3DES.
func (s *Session) retailMAC(padded []byte) []byte {
	h := make([]byte, 8)
	for i := 0; i < len(padded); i += 8 {
		subtle.XORBytes(h, h, padded[i:i+8])
		if i+8 < len(padded) {
			s.mac1.Encrypt(h, h)
		} else {
			s.mac.Encrypt(h, h)
		}
	}
	return h
}

func (s *Session) step() []byte {
	s.ssc++
	return binary.BigEndian.AppendUint64(nil, s.ssc)
}

func (s *Session) crypt(b []byte, encrypt bool) []byte {
	out := make([]byte, len(b))
	if encrypt {
		cipher.NewCBCEncrypter(s.enc, make([]byte, 8)).CryptBlocks(out, b)
	} else {
		cipher.NewCBCDecrypter(s.enc, make([]byte, 8)).CryptBlocks(out, b)
	}
	return out
}

// cryptogram returns DO87 with the padded, encrypted data, or nil.
func (s *Session) cryptogram(data []byte) []byte {
	if len(data) == 0 {
		return nil
	}
	p := Pad(append([]byte(nil), data...))
	c := s.crypt(p, true)
	clear(p)
	return TLV(0x87, []byte{0x01}, c)
}

// plain decrypts the value of a DO87.
func (s *Session) plain(do87 []byte) ([]byte, error) {
	if len(do87) < 9 || do87[0] != 0x01 || (len(do87)-1)%8 != 0 {
		return nil, fmt.Errorf("%w: cryptogram of %d bytes", ErrSMFormat, len(do87))
	}
	return Unpad(s.crypt(do87[1:], false))
}

// Protect returns the protected form of a (ISO/IEC 7816-4 §10.2 as the CIE
// uses it): CLA|0C, DO87 with the data, DO97 with Le, DO8E with the MAC
// over the counter, the padded header and both objects, and Le 00. The
// caller sets CLA bit 10 for all but the last piece of a chain; data of
// one piece is at most MaxSMData bytes.
func (s *Session) Protect(a APDU) ([]byte, error) {
	if len(a.Data) > MaxSMData {
		return nil, fmt.Errorf("iasecc: %d bytes of data in one protected command, at most %d", len(a.Data), MaxSMData)
	}
	ssc := s.step()
	cla := a.CLA | 0x0C
	body := s.cryptogram(a.Data)
	if a.Le >= 0 {
		body = append(body, 0x97, 0x01, byte(a.Le))
	}
	in := Pad(append(ssc, cla, a.INS, a.P1, a.P2))
	mac := s.retailMAC(Pad(append(in, body...)))
	body = append(body, 0x8E, 0x08)
	body = append(body, mac...)
	out := append([]byte{cla, a.INS, a.P1, a.P2, byte(len(body))}, body...)
	return append(out, 0x00), nil
}

// MaxSMData is the most plain data one protected command carries (231
// bytes: its cryptogram, DO97 and DO8E fit a short APDU).
const MaxSMData = 0xE7

// Unprotect checks a protected response body (outer status word already
// removed) and returns the plain data and the status word from DO99.
func (s *Session) Unprotect(body []byte) ([]byte, uint16, error) {
	ssc := s.step()
	var do87, do99, mac []byte
	macIn := ssc
	for b := body; len(b) > 0; {
		tag, v, rest, err := ReadTLV(b)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %v", ErrSMFormat, err)
		}
		switch tag {
		case 0x87:
			do87 = v
			macIn = append(macIn, b[:len(b)-len(rest)]...)
		case 0x99:
			do99 = v
			macIn = append(macIn, b[:len(b)-len(rest)]...)
		case 0x8E:
			mac = v
		default:
			return nil, 0, fmt.Errorf("%w: tag %X in a response", ErrSMFormat, tag)
		}
		b = rest
	}
	if len(do99) != 2 || len(mac) != 8 {
		return nil, 0, fmt.Errorf("%w: response without status (DO99) or MAC (DO8E)", ErrSMFormat)
	}
	if subtle.ConstantTimeCompare(s.retailMAC(Pad(macIn)), mac) != 1 {
		return nil, 0, ErrMAC
	}
	sw := uint16(do99[0])<<8 | uint16(do99[1])
	if do87 == nil {
		return nil, sw, nil
	}
	data, err := s.plain(do87)
	return data, sw, err
}

// UnprotectCommand is the card's side of Protect: it checks the MAC of a
// protected command and returns the plain command (CLA without the SM
// bits, chaining bit kept).
func (s *Session) UnprotectCommand(cla, ins, p1, p2 byte, body []byte) (APDU, error) {
	ssc := s.step()
	a := APDU{CLA: cla &^ 0x0C, INS: ins, P1: p1, P2: p2, Le: -1}
	var do87, mac []byte
	var macBody []byte
	for b := body; len(b) > 0; {
		tag, v, rest, err := ReadTLV(b)
		if err != nil {
			return a, fmt.Errorf("%w: %v", ErrSMFormat, err)
		}
		switch tag {
		case 0x87:
			do87 = v
			macBody = append(macBody, b[:len(b)-len(rest)]...)
		case 0x97:
			if len(v) != 1 {
				return a, fmt.Errorf("%w: DO97 of %d bytes", ErrSMFormat, len(v))
			}
			a.Le = int(v[0])
			if a.Le == 0 {
				a.Le = 256
			}
			macBody = append(macBody, b[:len(b)-len(rest)]...)
		case 0x8E:
			mac = v
		default:
			return a, fmt.Errorf("%w: tag %X in a command", ErrSMFormat, tag)
		}
		b = rest
	}
	if len(mac) != 8 {
		return a, fmt.Errorf("%w: command without MAC", ErrSMFormat)
	}
	in := Pad(append(ssc, cla, ins, p1, p2))
	if subtle.ConstantTimeCompare(s.retailMAC(Pad(append(in, macBody...))), mac) != 1 {
		return a, ErrMAC
	}
	if do87 != nil {
		var err error
		if a.Data, err = s.plain(do87); err != nil {
			return a, err
		}
	}
	return a, nil
}

// ProtectResponse is the card's side of Unprotect: DO87 (when there is
// data), DO99 with the status word and DO8E.
func (s *Session) ProtectResponse(data []byte, sw uint16) []byte {
	ssc := s.step()
	body := append(s.cryptogram(data), 0x99, 0x02, byte(sw>>8), byte(sw))
	mac := s.retailMAC(Pad(append(ssc, body...)))
	return append(append(body, 0x8E, 0x08), mac...)
}
