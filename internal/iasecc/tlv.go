// Package iasecc holds the pieces of the CIE 3.0 (IAS-ECC) protocol that
// the card and the terminal share: BER-TLV, the secure messaging codec
// (ISO/IEC 7816-4 SM with 2-key 3DES, zero IV, ISO/IEC 9797-1 MAC
// algorithm 3 and a send sequence counter), the Diffie-Hellman key
// derivation and the device authentication formats (CWA 14890-1 with ISO
// 9796-2 scheme 1). The native driver (internal/cie) uses the terminal
// side, the virtual CIE (internal/virtualcard) the card side, so that both
// are one implementation of /work/shared/reference/cie-protocol.md §5-§6.
package iasecc

import (
	"errors"
	"fmt"
)

// ErrTLV is a malformed BER-TLV encoding.
var ErrTLV = errors.New("iasecc: malformed TLV")

// ReadTLV splits the first BER-TLV object off b: tags of one to three
// bytes, lengths in short form or 81/82/83.
func ReadTLV(b []byte) (tag uint32, value, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, ErrTLV
	}
	i := 1
	tag = uint32(b[0])
	if b[0]&0x1F == 0x1F {
		for {
			if i >= len(b) || i > 3 {
				return 0, nil, nil, ErrTLV
			}
			tag = tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return 0, nil, nil, ErrTLV
	}
	n := int(b[i])
	i++
	if n > 0x80 {
		k := n - 0x80
		if k > 3 || i+k > len(b) {
			return 0, nil, nil, ErrTLV
		}
		n = 0
		for _, x := range b[i : i+k] {
			n = n<<8 | int(x)
		}
		i += k
	} else if n == 0x80 {
		return 0, nil, nil, ErrTLV // indefinite length: not used by the CIE
	}
	if n > len(b)-i {
		return 0, nil, nil, ErrTLV
	}
	return tag, b[i : i+n : i+n], b[i+n:], nil
}

// Find descends into nested TLVs along path and returns the value of the
// last tag; at each level the first object with the tag is taken.
func Find(b []byte, path ...uint32) ([]byte, error) {
	for _, want := range path {
		for {
			tag, v, rest, err := ReadTLV(b)
			if err != nil {
				return nil, fmt.Errorf("%w: tag %X not found", ErrTLV, want)
			}
			if tag == want {
				b = v
				break
			}
			b = rest
		}
	}
	return b, nil
}

// TLV encodes one object with the concatenation of values.
func TLV(tag uint32, values ...[]byte) []byte {
	n := 0
	for _, v := range values {
		n += len(v)
	}
	var b []byte
	for s := 24; s > 0; s -= 8 {
		if t := byte(tag >> s); t != 0 || len(b) > 0 {
			b = append(b, t)
		}
	}
	b = append(b, byte(tag))
	switch {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x100:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	for _, v := range values {
		b = append(b, v...)
	}
	return b
}
