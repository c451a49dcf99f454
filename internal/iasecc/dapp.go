package iasecc

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// DH holds the card's Diffie-Hellman domain parameters exactly as the card
// returns them (they enter the device authentication hashes verbatim).
type DH struct{ G, P, Q []byte }

// KeyPair draws a private value x (odd, below q) and returns it with
// g^x mod p in |p| bytes.
func (d DH) KeyPair(r io.Reader) (x *big.Int, y []byte, err error) {
	q := new(big.Int).SetBytes(d.Q)
	if q.Sign() <= 0 || len(d.P) == 0 {
		return nil, nil, errors.New("iasecc: empty DH parameters")
	}
	if x, err = rand.Int(r, q); err != nil {
		return nil, nil, err
	}
	x.SetBit(x, 0, 1)
	return x, d.Exp(new(big.Int).SetBytes(d.G), x), nil
}

// Exp returns b^x mod p in |p| bytes (the card's fixed-length encoding).
func (d DH) Exp(b, x *big.Int) []byte {
	p := new(big.Int).SetBytes(d.P)
	return new(big.Int).Exp(b, x, p).FillBytes(make([]byte, len(d.P)))
}

// Shared returns Z = other^x mod p, checking that other is in [2, p-2].
func (d DH) Shared(x *big.Int, other []byte) ([]byte, error) {
	p, y := new(big.Int).SetBytes(d.P), new(big.Int).SetBytes(other)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(new(big.Int).Sub(p, big.NewInt(1))) >= 0 {
		return nil, errors.New("iasecc: DH public value out of range")
	}
	return d.Exp(y, x), nil
}

func (d DH) cat() []byte { return bytes.Join([][]byte{d.G, d.P, d.Q}, nil) }

// Errors of device authentication.
var (
	ErrDeviceAuth = errors.New("iasecc: device authentication failed")
	ErrCVC        = errors.New("iasecc: malformed card-verifiable certificate")
)

const hashLen = sha256.Size

// sign9796 is ISO/IEC 9796-2 scheme 1 with partial recovery:
// (6A || body || H || BC)^d mod n in |n| bytes.
func sign9796(d, n *big.Int, body, h []byte) []byte {
	k := (n.BitLen() + 7) / 8
	m := append(append(append([]byte{0x6A}, body...), h...), 0xBC)
	return new(big.Int).Exp(new(big.Int).SetBytes(m), d, n).FillBytes(make([]byte, k))
}

// open9796 recovers body and H from a scheme-1 signature (s itself, not
// min(s, n-s), as the CIE answers).
func open9796(s []byte, e, n *big.Int) (body, h []byte, err error) {
	k := (n.BitLen() + 7) / 8
	sv := new(big.Int).SetBytes(s)
	if len(s) != k || sv.Cmp(n) >= 0 {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes for a %d-byte key", ErrDeviceAuth, len(s), k)
	}
	m := new(big.Int).Exp(sv, e, n).FillBytes(make([]byte, k))
	if m[0] != 0x6A || m[k-1] != 0xBC {
		return nil, nil, fmt.Errorf("%w: bad ISO 9796-2 framing", ErrDeviceAuth)
	}
	return m[1 : k-1-hashLen], m[k-1-hashLen : k-1], nil
}

func hashOf(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// CHR is the terminal's certificate holder reference: 00000000 || SN.IFD.
func CHR() []byte { return append([]byte{0, 0, 0, 0}, SNIFD...) }

// TerminalCertificate builds the terminal's card-verifiable certificate
// under the card's CA (cie-protocol.md §6): caN is the CA modulus, car its
// CHR without the first 4 bytes, caAID the first 6 bytes of its CHA.
func TerminalCertificate(caN, car, caAID []byte) ([]byte, error) {
	n := new(big.Int).SetBytes(caN)
	k := (n.BitLen() + 7) / 8
	if k < 2*hashLen+2 {
		return nil, fmt.Errorf("iasecc: CA modulus of %d bytes", k)
	}
	m := bytes.Join([][]byte{{cpi}, car, CHR(), append(append([]byte(nil), caAID...), 0x01), certOID,
		terminalN.Bytes(), {0x00, 0x01, 0x00, 0x01}}, nil)
	split := k - hashLen - 2
	if len(m) < split {
		return nil, fmt.Errorf("iasecc: certificate body of %d bytes, shorter than %d", len(m), split)
	}
	sig := sign9796(caD, n, m[:split], hashOf(m))
	return TLV(0x7F21, TLV(0x5F37, sig), TLV(0x5F38, m[split:]), TLV(0x42, car)), nil
}

// ExternalAuth returns the data of EXTERNAL AUTHENTICATE: SN.IFD || S_IFD,
// the terminal's signature over its DH public value and the card's
// challenge.
func ExternalAuth(r io.Reader, d DH, yIFD, rndICC, yICC []byte) ([]byte, error) {
	prnd := make([]byte, (terminalN.BitLen()+7)/8-hashLen-2)
	if _, err := io.ReadFull(r, prnd); err != nil {
		return nil, err
	}
	h := hashOf(prnd, yIFD, SNIFD, rndICC, yICC, d.cat())
	return append(append([]byte(nil), SNIFD...), sign9796(terminalD, terminalN, prnd, h)...), nil
}

// ChipKey is the public key of the chip's device-authentication key (EF
// 1004, key 82).
type ChipKey struct{ N, E *big.Int }

// ParseChipKey reads EF 1004: SEQUENCE { INTEGER n, INTEGER e }.
func ParseChipKey(b []byte) (ChipKey, error) {
	seq, err := Find(b, 0x30)
	if err != nil {
		return ChipKey{}, err
	}
	_, n, rest, err := ReadTLV(seq)
	if err != nil {
		return ChipKey{}, err
	}
	_, e, _, err := ReadTLV(rest)
	if err != nil {
		return ChipKey{}, err
	}
	k := ChipKey{new(big.Int).SetBytes(n), new(big.Int).SetBytes(e)}
	if k.N.BitLen() < 1024 || k.E.Sign() <= 0 {
		return ChipKey{}, fmt.Errorf("%w: chip key of %d bits", ErrTLV, k.N.BitLen())
	}
	return k, nil
}

// VerifyInternalAuth checks the card's answer to INTERNAL AUTHENTICATE
// (SN.ICC || S_ICC) and returns SN.ICC.
func VerifyInternalAuth(key ChipKey, resp []byte, d DH, rndIFD, yIFD, yICC []byte) ([]byte, error) {
	if len(resp) < 9 {
		return nil, fmt.Errorf("%w: answer of %d bytes", ErrDeviceAuth, len(resp))
	}
	sn := resp[:8]
	prnd, h, err := open9796(resp[8:], key.E, key.N)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(h, hashOf(prnd, yICC, sn, rndIFD, yIFD, d.cat())) {
		return nil, fmt.Errorf("%w: the chip's signature does not match", ErrDeviceAuth)
	}
	return sn, nil
}

// SSC returns the send sequence counter after device authentication.
func SSC(rndICC, rndIFD []byte) []byte {
	return append(append([]byte(nil), rndICC[4:8]...), rndIFD[4:8]...)
}

// RFC5114 is the 2048-bit MODP group with a 256-bit subgroup of RFC 5114
// §2.3, the virtual CIE's domain parameters.
var RFC5114 = DH{
	G: hexInt("3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659").Bytes(),
	P: hexInt("87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597").Bytes(),
	Q: hexInt("8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3").Bytes(),
}
