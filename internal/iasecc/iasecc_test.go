package iasecc

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The worked example of ICAO Doc 9303 part 11 (BAC secure messaging: the
// same 3DES, zero IV and retail MAC): SELECT EF.COM and its answer.
func TestProtectICAOExample(t *testing.T) {
	s, err := NewSession(unhex(t, "979EC13B1CBFE9DCD01AB0FED307EAE5"), unhex(t, "F1CB1F1FB5ADF208806B89DC579DC1F8"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetSSC(unhex(t, "887022120C06C226"))
	got, err := s.Protect(APDU{CLA: 0x00, INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}, Le: -1})
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800"); !bytes.Equal(got, want) {
		t.Fatalf("protected SELECT\n got %X\nwant %X", got, want)
	}
	data, sw, err := s.Unprotect(unhex(t, "990290008E08FA855A5D4C50A8ED"))
	if err != nil || sw != 0x9000 || len(data) != 0 {
		t.Fatalf("Unprotect = %X, %04X, %v", data, sw, err)
	}
}

func pair(t testing.TB) (host, card *Session) {
	t.Helper()
	kEnc, kMAC := DeriveKeys(bytes.Repeat([]byte{7}, 256))
	host, _ = NewSession(kEnc, kMAC)
	card, _ = NewSession(kEnc, kMAC)
	return host, card
}

func TestRoundTrip(t *testing.T) {
	host, card := pair(t)
	for _, a := range []APDU{
		{INS: 0x20, P2: 0x81, Data: []byte("12345678"), Le: -1},
		{INS: 0xB0, Le: 0x80},
		{INS: 0x88, Data: bytes.Repeat([]byte{1}, MaxSMData), Le: -1},
		{CLA: 0x10, INS: 0x2A, P2: 0xAE, Data: []byte{1, 2, 3}, Le: -1},
	} {
		wire, err := host.Protect(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(wire) > 5+255+1 {
			t.Fatalf("protected command of %d bytes is not short", len(wire))
		}
		got, err := card.UnprotectCommand(wire[0], wire[1], wire[2], wire[3], wire[5:len(wire)-1])
		if err != nil {
			t.Fatal(err)
		}
		if got.CLA != a.CLA || got.INS != a.INS || !bytes.Equal(got.Data, a.Data) || got.Le != a.Le {
			t.Fatalf("card got %+v, host sent %+v", got, a)
		}
		resp := card.ProtectResponse([]byte("answer"), 0x63C2)
		data, sw, err := host.Unprotect(resp)
		if err != nil || sw != 0x63C2 || string(data) != "answer" {
			t.Fatalf("Unprotect = %q, %04X, %v", data, sw, err)
		}
	}
}

func TestMACFailure(t *testing.T) {
	host, card := pair(t)
	wire, _ := host.Protect(APDU{INS: 0xB0, Le: 0x80})
	wire[len(wire)-2] ^= 1 // last MAC byte
	if _, err := card.UnprotectCommand(wire[0], wire[1], wire[2], wire[3], wire[5:len(wire)-1]); !errors.Is(err, ErrMAC) {
		t.Fatalf("tampered command: %v, want ErrMAC", err)
	}
	resp := card.ProtectResponse(nil, 0x9000)
	resp[len(resp)-1] ^= 1
	if _, _, err := host.Unprotect(resp); !errors.Is(err, ErrMAC) {
		t.Fatalf("tampered response: %v, want ErrMAC", err)
	}
}

func TestTLV(t *testing.T) {
	b := TLV(0x70, TLV(0xBFA101, TLV(0xA3, TLV(0x97, []byte{2}), TLV(0x98, bytes.Repeat([]byte{9}, 300)))))
	v, err := Find(b, 0x70, 0xBFA101, 0xA3, 0x98)
	if err != nil || len(v) != 300 {
		t.Fatalf("Find = %d bytes, %v", len(v), err)
	}
	if _, err := Find(b, 0x70, 0x99); !errors.Is(err, ErrTLV) {
		t.Fatalf("missing tag: %v", err)
	}
	for _, bad := range []string{"", "70", "7005", "7F", "5F", "708401", "7083FFFFFF", "7080"} {
		if _, _, _, err := ReadTLV(unhex(t, bad)); !errors.Is(err, ErrTLV) {
			t.Errorf("ReadTLV(%s) = %v, want ErrTLV", bad, err)
		}
	}
}

// TestDeviceAuthentication runs both sides of DH and device
// authentication against each other.
func TestDeviceAuthentication(t *testing.T) {
	caN, caE, err := NewCAKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := RFC5114
	xIFD, yIFD, _ := d.KeyPair(rand.Reader)
	xICC, yICC, _ := d.KeyPair(rand.Reader)
	z1, _ := d.Shared(xIFD, yICC)
	z2, _ := d.Shared(xICC, yIFD)
	if !bytes.Equal(z1, z2) {
		t.Fatal("the two sides derive different secrets")
	}
	cvc, err := TerminalCertificate(caN.Bytes(), []byte("CARCAR01"), []byte{0xA0, 0, 0, 0, 0, 0x39})
	if err != nil {
		t.Fatal(err)
	}
	term, err := OpenTerminalCertificate(cvc, caN, caE)
	if err != nil {
		t.Fatal(err)
	}
	if term.N.Cmp(terminalN) != 0 || term.E.Int64() != int64(terminalE) {
		t.Fatal("the card reads another terminal key from the certificate")
	}
	cvc[20] ^= 1
	if _, err := OpenTerminalCertificate(cvc, caN, caE); err == nil {
		t.Fatal("a tampered certificate was accepted")
	}
	rndICC, rndIFD := []byte("chalICC!"), []byte("chalIFD!")
	ea, err := ExternalAuth(rand.Reader, d, yIFD, rndICC, yICC)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckExternalAuth(term, ea, d, yIFD, rndICC, yICC); err != nil {
		t.Fatal(err)
	}
	if err := CheckExternalAuth(term, ea, d, yIFD, []byte("otherchl"), yICC); !errors.Is(err, ErrDeviceAuth) {
		t.Fatalf("replayed answer: %v", err)
	}
	chip, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ia, err := InternalAuth(rand.Reader, chip, []byte("SNICC123"), d, rndIFD, yIFD, yICC)
	if err != nil {
		t.Fatal(err)
	}
	key := ChipKey{chip.N, big.NewInt(int64(chip.E))}
	if sn, err := VerifyInternalAuth(key, ia, d, rndIFD, yIFD, yICC); err != nil || string(sn) != "SNICC123" {
		t.Fatalf("VerifyInternalAuth = %q, %v", sn, err)
	}
	ia[100] ^= 1
	if _, err := VerifyInternalAuth(key, ia, d, rndIFD, yIFD, yICC); !errors.Is(err, ErrDeviceAuth) {
		t.Fatalf("tampered chip answer: %v", err)
	}
}

func FuzzUnprotect(f *testing.F) {
	_, card := pair(f)
	f.Add(card.ProtectResponse([]byte("data"), 0x9000))
	f.Add([]byte{0x99, 0x02, 0x90, 0x00, 0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		host, _ := pair(t)
		data, _, err := host.Unprotect(b)
		if err != nil && data != nil {
			t.Fatal("data with an error")
		}
		host.UnprotectCommand(0x0C, 0xB0, 0, 0, b)
	})
}

func FuzzReadTLV(f *testing.F) {
	f.Add(TLV(0x7F21, TLV(0x5F37, make([]byte, 256)), TLV(0x42, []byte("CAR"))))
	f.Add([]byte{0x70, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, v, rest, err := ReadTLV(b)
		if err != nil {
			return
		}
		if len(v)+len(rest) > len(b) {
			t.Fatalf("tag %X: value and rest longer than the input", tag)
		}
		Find(b, tag, 0x30, 0x02)
		ParseChipKey(b)
	})
}
