package card

import (
	"errors"
	"fmt"
)

// ATR is the parsed structure of an answer to reset (ISO/IEC 7816-3 §8.2).
type ATR struct {
	// Historical holds the K historical bytes announced in T0.
	Historical []byte
	// Protocols lists the T= values announced in TD bytes; T=0 when none.
	Protocols []int
	// ChecksumOK is false when a TCK is due and the bytes do not XOR to 0.
	ChecksumOK bool
}

var errShortATR = errors.New("card: ATR shorter than its interface and historical bytes")

// ParseATR parses TS, T0, the TA/TB/TC/TD interface byte chains, the
// historical bytes and TCK.
func ParseATR(b []byte) (ATR, error) {
	var a ATR
	if len(b) < 2 {
		return a, errShortATR
	}
	if b[0] != 0x3B && b[0] != 0x3F {
		return a, fmt.Errorf("card: ATR starts with TS %02X, not 3B or 3F", b[0])
	}
	k, y, i := int(b[1]&0x0F), b[1]>>4, 2
	tck := false
	for {
		for bit := byte(1); bit < 8; bit <<= 1 { // TA, TB, TC
			if y&bit != 0 {
				i++
			}
		}
		if y&8 == 0 {
			break
		}
		if i >= len(b) {
			return a, errShortATR
		}
		td := b[i]
		i++
		a.Protocols = append(a.Protocols, int(td&0x0F))
		tck = tck || td&0x0F != 0
		y = td >> 4
	}
	if len(a.Protocols) == 0 {
		a.Protocols = []int{0}
	}
	if i+k > len(b) {
		return a, errShortATR
	}
	a.Historical = b[i : i+k : i+k]
	a.ChecksumOK = true
	if tck {
		if i+k >= len(b) {
			return a, errShortATR
		}
		var x byte
		for _, c := range b[1 : i+k+1] {
			x ^= c
		}
		a.ChecksumOK = x == 0
	}
	return a, nil
}
