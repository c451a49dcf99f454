package iasecc

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// The card's side of device authentication, for the virtual CIE.

// NewCAKey generates a CA key pair whose private exponent is the fixed one
// terminals sign with: e = d^-1 mod lcm(p-1, q-1), n of 2048 bits with a
// first byte above 6A (so that every ISO 9796-2 block is below n).
func NewCAKey(r io.Reader) (n, e *big.Int, err error) {
	one := big.NewInt(1)
	for {
		p, err := rand.Prime(r, 1024)
		if err != nil {
			return nil, nil, err
		}
		q, err := rand.Prime(r, 1024)
		if err != nil {
			return nil, nil, err
		}
		n = new(big.Int).Mul(p, q)
		if n.BitLen() != 2048 || n.Bytes()[0] <= 0x6B {
			continue
		}
		p1, q1 := new(big.Int).Sub(p, one), new(big.Int).Sub(q, one)
		g := new(big.Int).GCD(nil, nil, p1, q1)
		lambda := new(big.Int).Div(new(big.Int).Mul(p1, q1), g)
		if e = new(big.Int).ModInverse(caD, lambda); e != nil {
			return n, e, nil
		}
	}
}

// OpenTerminalCertificate checks a terminal certificate (PSO VERIFY
// CERTIFICATE) with the CA public key and returns the terminal's key.
func OpenTerminalCertificate(cvc []byte, caN, caE *big.Int) (ChipKey, error) {
	body, err := Find(cvc, 0x7F21)
	if err != nil {
		return ChipKey{}, fmt.Errorf("%w: %v", ErrCVC, err)
	}
	sig, err1 := Find(body, 0x5F37)
	rem, err2 := Find(body, 0x5F38)
	car, err3 := Find(body, 0x42)
	if err := errors.Join(err1, err2, err3); err != nil {
		return ChipKey{}, fmt.Errorf("%w: %v", ErrCVC, err)
	}
	m1, h, err := open9796(sig, caE, caN)
	if err != nil {
		return ChipKey{}, err
	}
	m := append(append([]byte(nil), m1...), rem...)
	if !bytes.Equal(h, hashOf(m)) {
		return ChipKey{}, fmt.Errorf("%w: certificate signature does not match", ErrCVC)
	}
	// CPI, CAR, CHR (12), CHA (7), OID (9), n, e (4).
	off := 1 + len(car) + 12 + 7 + len(certOID)
	if len(m) < off+4+128 || m[0] != cpi {
		return ChipKey{}, fmt.Errorf("%w: body of %d bytes", ErrCVC, len(m))
	}
	return ChipKey{new(big.Int).SetBytes(m[off : len(m)-4]), new(big.Int).SetBytes(m[len(m)-4:])}, nil
}

// CheckExternalAuth verifies EXTERNAL AUTHENTICATE data (SN.IFD || S_IFD)
// with the terminal key from its certificate.
func CheckExternalAuth(term ChipKey, data []byte, d DH, yIFD, rndICC, yICC []byte) error {
	if len(data) < 9 {
		return fmt.Errorf("%w: %d bytes", ErrDeviceAuth, len(data))
	}
	prnd, h, err := open9796(data[8:], term.E, term.N)
	if err != nil {
		return err
	}
	if !bytes.Equal(h, hashOf(prnd, yIFD, data[:8], rndICC, yICC, d.cat())) {
		return fmt.Errorf("%w: the terminal's signature does not match", ErrDeviceAuth)
	}
	return nil
}

// InternalAuth is the card's answer to INTERNAL AUTHENTICATE with key 82:
// SN.ICC || S_ICC.
func InternalAuth(r io.Reader, key *rsa.PrivateKey, snICC []byte, d DH, rndIFD, yIFD, yICC []byte) ([]byte, error) {
	prnd := make([]byte, key.Size()-hashLen-2)
	if _, err := io.ReadFull(r, prnd); err != nil {
		return nil, err
	}
	h := hashOf(prnd, yICC, snICC, rndIFD, yIFD, d.cat())
	return append(append([]byte(nil), snICC...), sign9796(key.D, key.N, prnd, h)...), nil
}
