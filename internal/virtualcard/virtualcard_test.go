package virtualcard_test

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// tx sends a hex APDU and returns the response data and the status word.
func tx(t *testing.T, c *virtualcard.Card, apdu string, data ...byte) ([]byte, string) {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(apdu, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Process(append(b, data...))
	return r[:len(r)-2], fmt.Sprintf("%X", r[len(r)-2:])
}

func expect(t *testing.T, c *virtualcard.Card, apdu, want string, data ...byte) []byte {
	t.Helper()
	r, sw := tx(t, c, apdu, data...)
	if sw != want {
		t.Fatalf("%s: SW %s, want %s", apdu, sw, want)
	}
	return r
}

func TestCNSPIN(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{PIN: []byte("12345")})
	expect(t, c, "00 20 00 10", "63C3")                     // status only: no try used
	expect(t, c, "00 20 00 90 08 3132333435FFFFFF", "9000") // OpenSC's padding, STIncard's 0x80 bit
	expect(t, c, "00 20 00 10", "9000")                     // verified
	expect(t, c, "00 20 00 10 05 3131313131", "63C2")       // wrong: verified no more
	expect(t, c, "00 20 00 10", "63C2")
	expect(t, c, "00 20 00 10 05 3131313131", "63C1")
	expect(t, c, "00 20 00 10 05 3131313131", "63C0")
	expect(t, c, "00 20 00 10 05 3132333435", "6983") // blocked, even with the right PIN
	expect(t, c, "00 20 00 10", "6983")
	expect(t, c, "00 20 00 12", "6A88")                                      // no such reference
	expect(t, c, "00 2C 00 10 10 3131313131313131 3132333435FFFFFF", "63C9") // wrong PUK
	expect(t, c, "00 20 00 11", "63C9")
	expect(t, c, "00 2C 00 10 10 3837363534333231 3132333435FFFFFF", "9000") // PUK, same PIN
	expect(t, c, "00 20 00 11", "63CA")
	expect(t, c, "00 20 00 10 05 3132333435", "9000")
	if c.TriesLeft() != 3 {
		t.Fatalf("tries %d after unblock", c.TriesLeft())
	}
}

func TestCNSUnblock(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	for range 3 {
		tx(t, c, "00 20 00 10 08 3030303030303030")
	}
	expect(t, c, "00 20 00 10", "6983")
	expect(t, c, "00 2C 00 10 10", "9000", []byte("8765432155555555")...)
	expect(t, c, "00 20 00 10 08", "9000", []byte("55555555")...)
	if c.TriesLeft() != 3 {
		t.Fatalf("tries %d after unblock", c.TriesLeft())
	}
}

func TestCNSSign(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cns-idemia", virtualcard.Options{})
	key := c.Identity().Key
	sum := sha256.Sum256([]byte("challenge"))
	digestInfo := append([]byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, sum[:]...)
	pso := fmt.Sprintf("00 2A 9E 9A %02X", len(digestInfo))

	expect(t, c, pso, "6982", digestInfo...) // no PIN
	expect(t, c, "00 20 00 10 08", "9000", []byte("12345678")...)
	expect(t, c, pso, "6985", digestInfo...) // no security environment
	expect(t, c, "00 22 F3 03 00", "9000")
	expect(t, c, "00 22 F1 B6 03 83 01 02", "6A88") // no such key
	expect(t, c, "00 22 F1 B6 03 83 01 01", "9000")
	sig := expect(t, c, pso, "9000", append(digestInfo, 0x00)...)
	if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("PSO CDS signature: %v", err)
	}

	// OpenSC pads the block itself and, for a key that may decipher,
	// sends it as a chained PSO DECIPHER: the same signature results.
	block := append([]byte{0x00, 0x01}, bytes.Repeat([]byte{0xFF}, 256-3-len(digestInfo))...)
	block = append(append(block, 0x00), digestInfo...)
	body := append([]byte{0x00}, block...)
	expect(t, c, "10 2A 80 86 FF", "9000", body[:255]...)
	raw := expect(t, c, fmt.Sprintf("00 2A 80 86 %02X", len(body)-255), "9000", append(body[255:], 0x00)...)
	if !bytes.Equal(raw, sig) {
		t.Fatalf("raw signature differs from PKCS#1 signature")
	}

	c.Reset() // power cycle: PIN and security environment forgotten
	expect(t, c, pso, "6982", digestInfo...)
}

func TestFiles(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cns-athena", virtualcard.Options{})
	cert := c.Identity().Cert.Raw
	fcp := expect(t, c, "00 A4 08 04 04 1100 1101", "9000")
	if want := []byte{0x62, 0x16, 0x83, 0x02, 0x11, 0x01, 0x82, 0x01, 0x01, 0x80, 0x02, byte(len(cert) >> 8), byte(len(cert))}; !bytes.HasPrefix(fcp, want) {
		t.Errorf("FCP % X, want prefix % X", fcp, want)
	}
	got := expect(t, c, "00 B0 0000 00", "9000")
	if !bytes.Equal(got, cert[:256]) {
		t.Error("READ BINARY at 0 differs from the certificate")
	}
	last := len(cert) - 10
	if got := expect(t, c, fmt.Sprintf("00 B0 %04X 20", last), "6282"); !bytes.Equal(got, cert[last:]) {
		t.Error("short read at the end differs from the certificate")
	}
	expect(t, c, fmt.Sprintf("00 B0 %04X 01", len(cert)), "6B00")
	expect(t, c, "00 A4 00 0C 02 3F00", "9000")
	expect(t, c, "00 B0 0000 10", "6986")       // no current EF
	expect(t, c, "00 A4 01 0C 02 1000", "9000") // child DF
	expect(t, c, "00 A4 02 0C 02 1003", "9000") // child EF
	serial := expect(t, c, "00 B0 0000 10", "9000")
	if string(serial) != c.Identity().Serial {
		t.Errorf("EF_IDCarta %q, identity serial %q", serial, c.Identity().Serial)
	}
	expect(t, c, "00 A4 09 0C 02 1002", "9000") // path from the current DF, 1000
	expect(t, c, "00 A4 09 0C 02 1101", "6A82")
	expect(t, c, "00 A4 03 0C", "9000") // parent of 1000: the MF
	expect(t, c, "00 A4 09 0C 04 1000 1002", "9000")
	expect(t, c, "00 A4 08 0C 04 1400 9010", "6A82") // no qualified signature key set
	expect(t, c, "00 A4 04 0C 06 A00000000039", "6A82")
	expect(t, c, "80 A4 00 0C 02 3F00", "6E00")
	expect(t, c, "00 FF 00 00", "6D00")
	expect(t, c, "00 A4 00", "6700")
	expect(t, c, "00 A4 00 0C 05 3F00", "6700") // Lc longer than the data

	cie := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{})
	expect(t, cie, "00 A4 04 0C 0D A0000000308000000009816001", "9000")
	expect(t, cie, "00 A4 02 0C 02 D003", "9000")
	if pan := expect(t, cie, "00 B0 0000 00", "6282"); len(pan) != 12 || pan[0] != 0x5A {
		t.Errorf("PAN % X", pan)
	}
	expect(t, cie, "00 A4 04 0C 06 A00000000039", "9000")
	expect(t, cie, "00 A4 02 0C 02 1003", "9000")
	expect(t, cie, "00 20 00 81 08", "6982", []byte("12345678")...) // needs secure messaging
}

// Extended APDUs parse, and a SELECT by path that runs through an EF
// finds nothing.
func TestExtendedAPDU(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})
	expect(t, c, "00 A4 08 0C 00 0004 1100 1101", "9000")
	if got := expect(t, c, "00 B0 0000 00 0400", "6282"); len(got) != len(c.Identity().Cert.Raw) {
		t.Errorf("extended READ BINARY returned %d bytes", len(got))
	}
	expect(t, c, "00 A4 08 0C 06 1100 1101 1234", "6A82")
}

func FuzzProcess(f *testing.F) {
	for _, s := range []string{"00A4080C0411001101", "00B0000000", "0020001008313233343536373", "1022F1B6038301", "002A9E9A00000100", "00A4040C"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	for _, s := range []string{"0C2000811D871101DEFFFCB7B787BF0BDA59F1C200F41F068E080102030405060708", "102241A6FF80019B830181918201", "00CB3FFF064D04A6029100", "00C0000000", "1C2A00AE00"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	cards := []*virtualcard.Card{
		virtualcardtest.NewCard(f, "cns-incard", virtualcard.Options{}),
		virtualcardtest.NewCard(f, "cie-nxp", virtualcard.Options{}),
	}
	f.Fuzz(func(t *testing.T, apdu []byte) {
		for _, c := range cards {
			if r := c.Process(apdu); len(r) < 2 {
				t.Fatalf("Process(%X) = %X", apdu, r)
			}
		}
	})
}

// With dh-in-cie, GET DATA and key agreement answer only in the CIE
// application (an EF of it selected counts, as in the middleware's
// pairing); by default anywhere.
func TestCIEKeyAgreementInCIE(t *testing.T) {
	getQ := "00 CB 3F FF 0C 4D 0A 7008BFA10104A3029900"
	lenient := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{})
	expect(t, lenient, getQ, "9000")
	strict := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{CIE: virtualcard.CIEBehaviour{KeyAgreementInCIE: true}})
	expect(t, strict, getQ, "6A88")
	expect(t, strict, "00 22 41 A6 06 80019B 830181", "6A88")
	expect(t, strict, "00 A4 04 0C 06 A00000000039", "9000")
	expect(t, strict, getQ, "9000")
	expect(t, strict, "00 A4 02 04 02 1004", "9000")
	expect(t, strict, getQ, "9000")
	strict.Reset() // the MF again
	expect(t, strict, getQ, "6A88")
}

func TestParseCIEBehaviour(t *testing.T) {
	b, err := virtualcard.ParseCIEBehaviour("protected-files, no-tries-query,dh-in-cie")
	if err != nil || !b.ProtectedFiles || !b.NoTriesQuery || !b.KeyAgreementInCIE || b.StatusOutsideSM || b.PINPerSignature {
		t.Fatalf("ParseCIEBehaviour = %+v, %v", b, err)
	}
	if _, err := virtualcard.ParseCIEBehaviour("bogus"); err == nil {
		t.Fatal("an unknown behaviour was accepted")
	}
}

// EF.SOD of the virtual CIE is what the middleware's pairing checks
// (cie-protocol.md §9): signed by the certificate it carries, over the
// signed attributes, whose message digest is that of the
// LDSSecurityObject, whose hashes are those of the files.
func TestCIESOD(t *testing.T) {
	c := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{})
	read := func(fid string) []byte {
		t.Helper()
		expect(t, c, "00 A4 04 0C 06 A00000000039", "9000")
		expect(t, c, "00 A4 02 04 02 "+fid, "9000")
		var out []byte
		for off := 0; ; off += 256 {
			r := c.Process([]byte{0x00, 0xB0, byte(off >> 8), byte(off), 0x00})
			out = append(out, r[:len(r)-2]...)
			if sw := r[len(r)-2:]; sw[0] != 0x90 {
				return out
			}
		}
	}
	sodFile := read("1006")
	sd, err := iasecc.Find(sodFile, 0x77, 0x30, 0xA0, 0x30)
	if err != nil {
		t.Fatal(err)
	}
	// Walk SignedData's children in order.
	var kids [][]byte
	for b := sd; len(b) > 0; {
		_, _, rest, err := iasecc.ReadTLV(b)
		if err != nil {
			t.Fatal(err)
		}
		kids, b = append(kids, b[:len(b)-len(rest)]), rest
	}
	if len(kids) != 5 || !bytes.Equal(kids[0], []byte{0x02, 0x01, 0x03}) {
		t.Fatalf("SignedData has %d children", len(kids))
	}
	lds, _ := iasecc.Find(kids[2], 0x30, 0xA0, 0x04)
	certDER, _ := iasecc.Find(kids[3], 0xA0)
	ds, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := iasecc.Find(kids[4], 0x31, 0x30)
	var parts [][]byte
	for b := signer; len(b) > 0; {
		_, _, rest, _ := iasecc.ReadTLV(b)
		parts, b = append(parts, b[:len(b)-len(rest)]), rest
	}
	attrs, _ := iasecc.Find(parts[3], 0xA0)
	sig, _ := iasecc.Find(parts[5], 0x04)
	h := sha256.Sum256(append([]byte{0x31, byte(len(attrs))}, attrs...))
	if len(attrs) >= 0x80 {
		t.Fatalf("signed attributes of %d bytes", len(attrs))
	}
	if err := rsa.VerifyPKCS1v15(ds.PublicKey.(*rsa.PublicKey), crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("SOD signature: %v", err)
	}
	ldsHash := sha256.Sum256(lds)
	if !bytes.Contains(attrs, ldsHash[:]) {
		t.Fatal("the message digest is not the LDSSecurityObject's")
	}
	cert := sha256.Sum256(read("1003"))
	nis := sha256.Sum256(read("1001")[:12])
	for name, want := range map[string][]byte{"A3 (1003)": append([]byte{0x02, 0x01, 0xA3, 0x04, 0x20}, cert[:]...), "A1 (1001)": append([]byte{0x02, 0x01, 0xA1, 0x04, 0x20}, nis[:]...)} {
		if !bytes.Contains(lds, want) {
			t.Errorf("the SOD lacks the hash of data group %s", name)
		}
	}
}
