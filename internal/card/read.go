package card

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
)

// PC/SC part 10 (v2.02.09 §2.2): GET_FEATURE_REQUEST and the feature tag
// of a reader that verifies a PIN typed on its own keypad.
const (
	ctlGetFeatureRequest   = 3400
	FeatureVerifyPINDirect = 0x06
)

// Features returns the reader's PC/SC part 10 features: tag -> control code.
func Features(c pcsc.Card) (map[byte]uint32, error) {
	out, err := c.Control(pcsc.CtlCode(ctlGetFeatureRequest), nil)
	if err != nil {
		return nil, err
	}
	return parseFeatures(out), nil
}

// parseFeatures decodes the TLV list: tag (1 byte), length 4, big-endian
// control code. Entries of another length are skipped.
func parseFeatures(b []byte) map[byte]uint32 {
	m := map[byte]uint32{}
	for len(b) >= 2 && len(b) >= 2+int(b[1]) {
		if v := b[2 : 2+b[1]]; len(v) == 4 {
			m[b[0]] = uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		}
		b = b[2+b[1]:]
	}
	return m
}

// Pinpad reports whether the reader of c has a PIN pad. Readers that do
// not answer GET_FEATURE_REQUEST have none.
func Pinpad(c pcsc.Card) bool {
	f, err := Features(c)
	return err == nil && f[FeatureVerifyPINDirect] != 0
}

// Public is what a card shows without a PIN.
type Public struct {
	Certificate []byte // authentication certificate, DER
	Holder      eidcert.Holder
	Serial      string // eidcert.CNS: EF_IDCarta; eidcert.CIE: EF 1002 (hex when not printable)
	NIS         string // eidcert.CIE: EF 1001, the services identifier
	PAN         []byte // eidcert.CIE: EF D003 of the IAS application
}

// APDUs of ReadPublic.
var (
	selectIAS   = []byte{0x00, 0xA4, 0x04, 0x0C, 0x0D, 0xA0, 0x00, 0x00, 0x00, 0x30, 0x80, 0x00, 0x00, 0x00, 0x09, 0x81, 0x60, 0x01}
	selectMF    = []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00}
	selectCIE   = []byte{0x00, 0xA4, 0x04, 0x0C, 0x06, 0xA0, 0x00, 0x00, 0x00, 0x00, 0x39}
	maxFileSize = 16 << 10
)

// ReadPublic reads the card's public files, inside one transaction.
func ReadPublic(c pcsc.Card, k eidcert.Kind) (*Public, error) {
	p := &Public{}
	err := pcsc.WithTransaction(c, func() error {
		switch k {
		case eidcert.CNS:
			return readCNS(c, p)
		case eidcert.CIE:
			return readCIE(c, p)
		}
		return fmt.Errorf("card: no public data known for a card of kind %q", k)
	})
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(p.Certificate)
	if err != nil {
		return p, fmt.Errorf("card: authentication certificate: %w", err)
	}
	p.Holder = eidcert.HolderOf(cert)
	return p, nil
}

// readCNS reads EF_IDCarta (3F00/1000/1003) and the authentication
// certificate (3F00/1100/1101), selected by path from the MF.
func readCNS(c pcsc.Card, p *Public) error {
	serial, err := readEF(c, selectPath(0x1000, 0x1003))
	if err != nil {
		return fmt.Errorf("card: eidcert.CNS serial: %w", err)
	}
	p.Serial = text(serial)
	if p.Certificate, err = readEF(c, selectPath(0x1100, 0x1101)); err != nil {
		return fmt.Errorf("card: eidcert.CNS certificate: %w", err)
	}
	return nil
}

// readCIE reads EF D003 (PAN) in the IAS application, then EF 1001 (NIS),
// 1002 (serial) and 1003 (certificate) in the CIE application. NXP and
// later cards have no IAS AID: their MF is the IAS application.
func readCIE(c pcsc.Card, p *Public) error {
	if _, err := pcsc.Exchange(c, selectIAS); err != nil {
		if _, err := pcsc.Exchange(c, selectMF); err != nil {
			return fmt.Errorf("card: eidcert.CIE IAS application: %w", err)
		}
	}
	var err error
	if p.PAN, err = readEF(c, selectEF(0xD003)); err != nil {
		return fmt.Errorf("card: eidcert.CIE PAN: %w", err)
	}
	if _, err := pcsc.Exchange(c, selectCIE); err != nil {
		return fmt.Errorf("card: eidcert.CIE application: %w", err)
	}
	nis, err := readEF(c, selectEF(0x1001))
	if err != nil {
		return fmt.Errorf("card: eidcert.CIE NIS: %w", err)
	}
	serial, err := readEF(c, selectEF(0x1002))
	if err != nil {
		return fmt.Errorf("card: eidcert.CIE serial: %w", err)
	}
	p.NIS, p.Serial = text(nis), text(serial)
	if p.Certificate, err = readEF(c, selectEF(0x1003)); err != nil {
		return fmt.Errorf("card: eidcert.CIE certificate: %w", err)
	}
	return nil
}

// selectPath is SELECT by path from the MF, no response data.
func selectPath(fids ...uint16) []byte {
	b := []byte{0x00, 0xA4, 0x08, 0x0C, byte(2 * len(fids))}
	for _, f := range fids {
		b = append(b, byte(f>>8), byte(f))
	}
	return b
}

// selectEF is SELECT of an EF under the current DF, no response data.
func selectEF(fid uint16) []byte {
	return []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, byte(fid >> 8), byte(fid)}
}

// readEF selects a transparent EF and reads it with READ BINARY in chunks
// until the card signals the end (a short answer, 6282 or 6B00) or, for
// DER content, until the length its header announces.
func readEF(c pcsc.Card, sel []byte) ([]byte, error) {
	if _, err := pcsc.Exchange(c, sel); err != nil {
		return nil, err
	}
	var out []byte
	want := maxFileSize
	for len(out) < want {
		const chunk = 0xFF
		n := min(chunk, want-len(out))
		data, err := pcsc.Exchange(c, []byte{0x00, 0xB0, byte(len(out) >> 8), byte(len(out)), byte(n)})
		out = append(out, data...)
		if errors.Is(err, pcsc.ErrEndOfFile) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(out) == len(data) {
			if l, ok := derLength(out); ok {
				want = min(l, maxFileSize)
			}
		}
		if len(data) < n {
			break
		}
	}
	return out, nil
}

// derLength returns the total length of the DER SEQUENCE that b starts.
func derLength(b []byte) (int, bool) {
	if len(b) < 2 || b[0] != 0x30 {
		return 0, false
	}
	if b[1] < 0x80 {
		return 2 + int(b[1]), true
	}
	n := int(b[1] & 0x7F)
	if n == 0 || n > 3 || len(b) < 2+n {
		return 0, false
	}
	l := 0
	for _, v := range b[2 : 2+n] {
		l = l<<8 | int(v)
	}
	return 2 + n + l, true
}

// text returns b as a string when it is printable ASCII (padding of NUL,
// 0xFF or spaces trimmed), else as upper-case hex.
func text(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == 0 || b[len(b)-1] == 0xFF || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	for _, c := range b {
		if c < 0x20 || c > 0x7E {
			return fmt.Sprintf("%X", b)
		}
	}
	return string(b)
}
