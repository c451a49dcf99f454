package virtualcard

import (
	"bytes"
	"fmt"

	"github.com/eidlink/eidlink/internal/eidcert"
)

// file is a DF (data == nil) or a transparent EF.
type file struct {
	fid    uint16
	aid    []byte
	data   []byte
	kids   []*file
	parent *file
}

func ef(fid uint16, data []byte) *file { return &file{fid: fid, data: data} }

func df(fid uint16, aid []byte, kids ...*file) *file {
	d := &file{fid: fid, aid: aid, kids: kids}
	for _, k := range kids {
		k.parent = d
	}
	return d
}

func (f *file) isDF() bool { return f.data == nil }

func (f *file) child(fid uint16) *file {
	for _, k := range f.kids {
		if k.fid == fid {
			return k
		}
	}
	return nil
}

// find returns the DF whose AID starts with aid.
func (f *file) find(aid []byte) *file {
	if f.aid != nil && bytes.HasPrefix(f.aid, aid) {
		return f
	}
	for _, k := range f.kids {
		if r := k.find(aid); r != nil {
			return r
		}
	}
	return nil
}

var (
	aidIAS = []byte{0xA0, 0x00, 0x00, 0x00, 0x30, 0x80, 0x00, 0x00, 0x00, 0x09, 0x81, 0x60, 0x01}
	aidCIE = []byte{0xA0, 0x00, 0x00, 0x00, 0x00, 0x39}
)

// cnsFiles is the CNS layout OpenSC's pkcs15-itacns reads.
func cnsFiles(id *eidcert.TestIdentity) *file {
	return df(0x3F00, nil,
		df(0x1000, nil,
			ef(0x1002, []byte{0x00, 0x6B, 0x02, 0x09}),             // EF_DatiProcessore
			ef(0x1003, []byte(fmt.Sprintf("%-16.16s", id.Serial))), // EF_IDCarta
		),
		df(0x1100, nil,
			ef(0x1101, id.Cert.Raw),
			ef(0x1102, personalData(id.Holder)),
		),
		ef(0x3F01, publicKeyDER(&id.Key.PublicKey)),
	)
}

// personalData is EF_DatiPersonali: 6 hex digits of length, then fields of
// 2 hex digits of length and a value: issuer, issue date, expiry date,
// surname, given name, birth date, sex, height, codice fiscale.
func personalData(h eidcert.Holder) []byte {
	var b []byte
	for _, f := range []string{"00000", "01012024", "01012030", h.Surname, h.GivenName, "", "", "", h.CodiceFiscale} {
		b = fmt.Appendf(b, "%02x%s", len(f), f)
	}
	return append(fmt.Appendf(nil, "%06x", len(b)), b...)
}

// selectFile implements SELECT (ISO/IEC 7816-4 §11.2.2) by FID (P1 00, 01,
// 02), parent (03), AID (04) and path from the MF (08) or the current DF
// (09). P2 0C asks for no answer, 04 for an FCP, others for an FCI.
func (c *Card) selectFile(a apdu) ([]byte, int) {
	dir := c.cur
	if !dir.isDF() {
		dir = dir.parent
	}
	fid := func(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
	var f *file
	switch a.p1 {
	case 0x00, 0x01, 0x02:
		switch {
		case len(a.data) == 0 && a.p1 == 0x00, len(a.data) == 2 && fid(a.data) == 0x3F00:
			f = c.mf
		case len(a.data) != 2:
			return nil, swWrongData
		default:
			if f = dir.child(fid(a.data)); f == nil && dir.parent != nil && a.p1 == 0x00 {
				f = dir.parent.child(fid(a.data))
			}
		}
	case 0x03:
		f = dir.parent
	case 0x04:
		if len(a.data) == 0 {
			return nil, swWrongData
		}
		f = c.mf.find(a.data)
	case 0x08, 0x09:
		if len(a.data) == 0 || len(a.data)%2 != 0 {
			return nil, swWrongData
		}
		f = dir
		if a.p1 == 0x08 {
			f = c.mf
		}
		for p := a.data; f != nil && len(p) > 0; p = p[2:] {
			f = f.child(fid(p))
		}
	default:
		return nil, swWrongP1P2
	}
	if f == nil || (a.p1 == 0x01 && !f.isDF()) || (a.p1 == 0x02 && f.isDF()) {
		return nil, swNotFound
	}
	c.cur = f
	switch a.p2 & 0x0C {
	case 0x0C:
		return nil, swOK
	case 0x04:
		return f.fcp(0x62), swOK
	}
	return f.fcp(0x6F), swOK
}

// fcp returns the file's control parameters under tag t: FID, size or
// descriptor, DF name, and itacns-style access conditions (tag 86; 00 =
// always) with READ free for every EF.
func (f *file) fcp(t byte) []byte {
	b := []byte{0x83, 0x02, byte(f.fid >> 8), byte(f.fid)}
	if f.isDF() {
		b = append(b, 0x82, 0x01, 0x38)
		if f.aid != nil {
			b = append(append(b, 0x84, byte(len(f.aid))), f.aid...)
		}
		b = append(b, 0x86, 0x09, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0)
	} else {
		n := len(f.data)
		b = append(b, 0x82, 0x01, 0x01, 0x80, 0x02, byte(n>>8), byte(n))
		b = append(b, 0x86, 0x09, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	}
	return append([]byte{t, byte(len(b))}, b...)
}

// readBinary implements READ BINARY (B0) with a 15-bit offset in P1-P2.
// Fewer bytes than Le are answered with 6282, an offset at or past the
// end with 6B00.
func (c *Card) readBinary(a apdu) ([]byte, int) {
	if a.p1&0x80 != 0 {
		return nil, swWrongP1P2 // short EF identifiers: not used by these cards
	}
	if c.cur.isDF() {
		return nil, swNoCurrentEF
	}
	off, d := int(a.p1)<<8|int(a.p2), c.cur.data
	if off >= len(d) {
		return nil, swOffset
	}
	n := a.le
	if n < 0 {
		n = 256
	}
	if off+n > len(d) {
		return d[off:], swEOF
	}
	return d[off : off+n], swOK
}
