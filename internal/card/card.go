// Package card identifies Italian eID cards from their ATR and reads what
// a card shows without a PIN.
//
// # Identification
//
// [Identify] parses the ATR (ISO/IEC 7816-3) and matches its historical
// bytes against [Rules], in order:
//
//   - CIE 3.0 is contactless: the reader synthesises `3B 8n 80 01
//     <historical bytes> TCK`, so the historical bytes are the card's own
//     (ATS or ATQB data). The patterns are those the IPZS middleware uses.
//   - CNS (and TS-CNS) historical bytes follow the CNS specification:
//     `00 6B <chip maker> <mask maker> <OS version 2> 01 <2 bytes> "CNS"
//     <version> 31 80`; the family is the mask maker (the card's vendor),
//     the chip maker is reported in Info.Chip.
//
// Anything else is reported with Kind Unknown, never as an error. Rules is
// a variable so that patterns learnt later (or read from configuration)
// can be added without a code change.
//
// # Public data
//
// [ReadPublic] reads, inside one PC/SC transaction, the authentication
// certificate and the card serial (for CIE also the NIS and the PAN) and
// extracts the holder's name and codice fiscale from the certificate.
package card

import (
	"encoding/hex"
	"strings"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// Family is a card family: one maker's chip and operating system.
type Family struct {
	Name   string       `json:"name"` // stable identifier, e.g. "cie-nxp", "cns-incard"
	Kind   eidcert.Kind `json:"kind"`
	Vendor string       `json:"vendor"`
}

// Rule recognises a Family.
type Rule struct {
	Family Family
	// Pattern is hex bytes, "??" for any byte, searched anywhere in the
	// historical bytes (in the whole ATR when WholeATR is set).
	Pattern  string
	WholeATR bool
}

// Rules are tried in order by Identify.
var Rules = []Rule{
	{Family{"cie-nxp", eidcert.CIE, "NXP"}, "80 31 80 65 49 54 4E 58 50", false},
	{Family{"cie-gemalto", eidcert.CIE, "Gemalto"}, "80 31 80 65 B0 85 04 00 11", false},
	{Family{"cie-gemalto2", eidcert.CIE, "Gemalto"}, "80 31 80 65 B0 85 03 00 EF", false},
	{Family{"cie-stm", eidcert.CIE, "STMicroelectronics"}, "80 66 47 50 00 B8 00 7F", false},
	{Family{"cie-stm2", eidcert.CIE, "STMicroelectronics"}, "3B 80 80 01 01", true},
	{Family{"cie-stm3", eidcert.CIE, "STMicroelectronics"}, "80 66 47 50 00 B8 00 94 82 90 00", false},
	{Family{"cie-bit4id", eidcert.CIE, "Bit4id (Actalis)"}, "80 31 80 65 49 54 4A 34 ?? 12 0F FF 82 90 00", false},
	{Family{"cns-idemia", eidcert.CNS, "IDEMIA (Oberthur)"}, "00 6B ?? 05 ?? ?? 01 ?? ?? 43 4E 53", false},
	{Family{"cns-cardos", eidcert.CNS, "Siemens (CardOS)"}, "00 6B ?? 08 ?? ?? 01 ?? ?? 43 4E 53", false},
	{Family{"cns-incard", eidcert.CNS, "STIncard"}, "00 6B ?? 09 ?? ?? 01 ?? ?? 43 4E 53", false},
	{Family{"cns-athena", eidcert.CNS, "Athena"}, "00 6B ?? 0C ?? ?? 01 ?? ?? 43 4E 53", false},
	{Family{"cns-gemalto", eidcert.CNS, "Gemalto"}, "00 6B ?? 0D ?? ?? 01 ?? ?? 43 4E 53", false},
	{Family{"cns-tscns", eidcert.CNS, "TS-eidcert.CNS (2021+)"}, "00 31 C1 64 08 92 33 54 00 90 00", false},
	{Family{"cns", eidcert.CNS, "unknown maker"}, "43 4E 53", false},
}

// chipMakers are ISO/IEC 7816-6 IC manufacturer codes seen on CNS cards.
var chipMakers = map[byte]string{
	0x01: "Motorola", 0x02: "STMicroelectronics", 0x03: "Hitachi", 0x04: "NXP",
	0x05: "Infineon", 0x07: "Texas Instruments", 0x15: "Atmel", 0x40: "Gemalto",
}

// Info is what the ATR tells about a card.
type Info struct {
	Family
	ATR         []byte
	Historical  []byte
	Contactless bool
	Chip        string // eidcert.CNS: the chip maker, when the historical bytes name it
}

// ATRHex returns the ATR as upper-case hex, as pcsc_scan prints it.
func (i Info) ATRHex() string { return strings.ToUpper(hex.EncodeToString(i.ATR)) }

// Identify tells the family of the card with this ATR. It never fails:
// a card it does not know has Kind Unknown and Name "unknown".
func Identify(atr []byte) Info {
	info := Info{Family: Family{"unknown", eidcert.Unknown, ""}, ATR: append([]byte(nil), atr...)}
	a, err := ParseATR(info.ATR)
	if err == nil {
		info.Historical = a.Historical
	}
	for _, r := range Rules {
		in := info.Historical
		if r.WholeATR {
			in = info.ATR
		}
		if contains(in, r.Pattern) {
			info.Family = r.Family
			break
		}
	}
	h := info.Historical
	switch info.Kind {
	case eidcert.CIE:
		info.Contactless = true
	case eidcert.CNS:
		if len(h) > 3 && h[0] == 0x00 && h[1] == 0x6B {
			info.Chip = chipMakers[h[2]]
		}
	default:
		// PC/SC part 3: a contactless reader reports 3B 8n 80 01 ...
		info.Contactless = len(atr) >= 4 && atr[0] == 0x3B && atr[1]&0xF0 == 0x80 && atr[2] == 0x80 && atr[3] == 0x01
	}
	return info
}

// contains reports whether the hex pattern p ("??" matches any byte)
// occurs in b. A malformed pattern matches nothing.
func contains(b []byte, p string) bool {
	f := strings.Fields(p)
	if len(f) == 0 {
		return false
	}
	for i := 0; i+len(f) <= len(b); i++ {
		j := 0
		for ; j < len(f); j++ {
			if f[j] == "??" {
				continue
			}
			v, err := hex.DecodeString(f[j])
			if err != nil || len(v) != 1 || v[0] != b[i+j] {
				break
			}
		}
		if j == len(f) {
			return true
		}
	}
	return false
}
