package card_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/virtualcard"
)

func atr(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The example ATRs of cards.md, and ATRs built from its patterns.
var identifyTests = []struct {
	atr         string
	name        string
	kind        eidcert.Kind
	contactless bool
	chip        string
}{
	{"3B 8E 80 01 80 31 80 65 49 54 4E 58 50 12 0F FF 82 90 F0", "cie-nxp", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 B0 85 04 00 11 12 0F FF 82 90 00 8A", "cie-gemalto", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 B0 85 03 00 EF 12 0F FF 82 90 00 73", "cie-gemalto2", eidcert.CIE, true, ""},
	{"3B 8B 80 01 80 66 47 50 00 B8 00 7F 82 90 00 2E", "cie-stm", eidcert.CIE, true, ""},
	{"3B 80 80 01 01", "cie-stm2", eidcert.CIE, true, ""},
	{"3B 8B 80 01 80 66 47 50 00 B8 00 94 82 90 00 C5", "cie-stm3", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 41 12 0F FF 82 90 00 88", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 42 12 0F FF 82 90 00 8B", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 43 12 0F FF 82 90 00 8A", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 44 12 0F FF 82 90 00 8D", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 49 12 0F FF 82 90 00 80", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B 8F 80 01 80 31 80 65 49 54 4A 34 4C 12 0F FF 82 90 00 85", "cie-bit4id", eidcert.CIE, true, ""},
	{"3B FF 18 00 FF 81 31 FE 55 00 6B 02 09 02 00 01 01 01 43 4E 53 10 31 80 9F", "cns-incard", eidcert.CNS, false, "STMicroelectronics"},
	{"3B FF 18 00 FF C1 0A 31 FE 55 00 6B 05 08 C8 0C 01 11 01 43 4E 53 10 31 80 05", "cns-cardos", eidcert.CNS, false, "Infineon"},
	{"3B FF 18 00 00 81 31 FE 45 00 6B 05 05 91 20 01 F1 01 43 4E 53 10 31 80 38", "cns-idemia", eidcert.CNS, false, "Infineon"},
	{"3B DF 18 00 81 31 FE 7D 00 6B 15 0C 01 81 01 11 01 43 4E 53 10 31 80 E8", "cns-athena", eidcert.CNS, false, "Atmel"},
	{"3B FF 18 00 FF 81 31 FE 55 00 6B 04 0D 01 00 01 01 01 43 4E 53 11 31 80 9F", "cns-gemalto", eidcert.CNS, false, "NXP"},
	{"3B 8B 80 01 00 31 C1 64 08 92 33 54 00 90 00 F3", "cns-tscns", eidcert.CNS, false, ""},
	// A CNS whose mask maker is not in the table is still a CNS.
	{"3B FF 18 00 FF 81 31 FE 55 00 6B 02 42 02 00 01 01 01 43 4E 53 10 31 80 D4", "cns", eidcert.CNS, false, "STMicroelectronics"},
	// Unknown cards: a YubiKey (contact), a MIFARE Classic (contactless), junk.
	{"3B F8 13 00 00 81 31 FE 15 59 75 62 69 6B 65 79 34 D4", "unknown", eidcert.Unknown, false, ""},
	{"3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A", "unknown", eidcert.Unknown, true, ""},
	{"", "unknown", eidcert.Unknown, false, ""},
	{"3B", "unknown", eidcert.Unknown, false, ""},
	{"00 11 22", "unknown", eidcert.Unknown, false, ""},
}

func TestIdentify(t *testing.T) {
	for _, tt := range identifyTests {
		i := card.Identify(atr(tt.atr))
		if i.Name != tt.name || i.Kind != tt.kind || i.Contactless != tt.contactless || i.Chip != tt.chip {
			t.Errorf("Identify(%s) = %s %s contactless=%v chip=%q, want %s %s contactless=%v chip=%q",
				tt.atr, i.Name, i.Kind, i.Contactless, i.Chip, tt.name, tt.kind, tt.contactless, tt.chip)
		}
		if got, want := i.ATRHex(), strings.ReplaceAll(tt.atr, " ", ""); got != want {
			t.Errorf("ATRHex = %s, want %s", got, want)
		}
		if i.Kind != eidcert.Unknown && i.Vendor == "" {
			t.Errorf("%s: no vendor", i.Name)
		}
	}
}

// Every virtual card type is identified as the family it is named after,
// with a valid ATR checksum.
func TestIdentifyVirtualTypes(t *testing.T) {
	for _, ty := range virtualcard.Types {
		if i := card.Identify(ty.ATR); i.Name != ty.Name || i.Kind != ty.Kind {
			t.Errorf("type %s: identified as %s (%s)", ty.Name, i.Name, i.Kind)
		}
		if a, err := card.ParseATR(ty.ATR); err != nil || !a.ChecksumOK {
			t.Errorf("type %s: ParseATR = %+v, %v", ty.Name, a, err)
		}
	}
}

func TestParseATR(t *testing.T) {
	for _, tt := range []struct {
		atr, hist string
		protocols []int
		ok        bool
	}{
		// TA1 TB1 TC1 TD1(T=1) TD2(T=1) TA3 TB3, 15 historical bytes, TCK.
		{"3B FF 18 00 FF 81 31 FE 55 00 6B 02 09 02 00 01 01 01 43 4E 53 10 31 80 9F", "00 6B 02 09 02 00 01 01 01 43 4E 53 10 31 80", []int{1, 1}, true},
		{"3B 80 80 01 01", "", []int{0, 1}, true},
		{"3B 02 14 50", "14 50", []int{0}, true}, // T=0 only: no TCK
		{"3B 8E 80 01 80 31 80 65 49 54 4E 58 50 12 0F FF 82 90 F1", "80 31 80 65 49 54 4E 58 50 12 0F FF 82 90", []int{0, 1}, false},
	} {
		a, err := card.ParseATR(atr(tt.atr))
		if err != nil || !bytes.Equal(a.Historical, atr(tt.hist)) || a.ChecksumOK != tt.ok || len(a.Protocols) != len(tt.protocols) {
			t.Errorf("ParseATR(%s) = %+v, %v", tt.atr, a, err)
		}
	}
	for _, bad := range []string{"", "3B", "3B 8F 80 01 80", "3B 80 80", "3B 80 80 01", "42 00"} {
		if a, err := card.ParseATR(atr(bad)); err == nil {
			t.Errorf("ParseATR(%s) = %+v, want an error", bad, a)
		}
	}
}

func FuzzIdentify(f *testing.F) {
	for _, tt := range identifyTests {
		f.Add(atr(tt.atr))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := card.Identify(b)
		if !bytes.Equal(i.ATR, b) || i.Name == "" || i.Kind == "" {
			t.Fatalf("Identify(%X) = %+v", b, i)
		}
		a, err := card.ParseATR(b)
		if err == nil && (!bytes.Equal(a.Historical, i.Historical) || len(a.Historical) != int(b[1]&0x0F)) {
			t.Fatalf("ParseATR(%X) = %+v, Identify historical %X", b, a, i.Historical)
		}
	})
}
