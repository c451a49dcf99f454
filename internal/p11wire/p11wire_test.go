package p11wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
)

func testCert(t testing.TB, rsaKey bool) *x509.Certificate {
	t.Helper()
	ca, caKey, err := eidcert.NewTestCA("p11wire test CA")
	if err != nil {
		t.Fatal(err)
	}
	var pub any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pub = k.Public()
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub = k.Public()
	}
	tmpl := eidcert.Template(eidcert.CIE, eidcert.TestHolder, "CA00000AA")
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testSnapshot(t testing.TB) *Response {
	t.Helper()
	cert := testCert(t, false)
	objs, err := KeyObjects(cert, []byte{1}, "CIE")
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Version: Version, Status: StatusOK, Generation: 7, Slots: []Slot{
		{ID: 3, Description: "Virtual PCD 00 00", Token: &Token{
			Label: TokenLabel("CIE", "MARIO ROSSI"), Manufacturer: "IPZS", Model: "CIE 3.0", Serial: "CA00000AA",
			Mechanisms: Mechanisms(cert, false), Objects: objs}},
		{ID: 4, Description: "Virtual PCD 00 01"},
	}}
}

func TestResponseRoundTrip(t *testing.T) {
	for _, r := range []*Response{
		testSnapshot(t),
		{Version: Version, Status: StatusUnchanged, Generation: 7},
		{Version: Version, Status: StatusOK, Signature: []byte{1, 2, 3}},
		{Version: Version, Status: StatusCancelled, Message: "cancelled in the PIN window"},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []*Request{
		{Version: Version, Op: OpSnapshot},
		{Version: Version, Op: OpSnapshot, Generation: 9},
		{Version: Version, Op: OpSign, Sign: &SignRequest{Slot: 3, Serial: "CA00000AA", KeyID: []byte{1}, Mechanism: CKM_ECDSA, Data: bytes.Repeat([]byte{7}, 32)}},
		{Version: Version, Op: OpSign, Sign: &SignRequest{Slot: 3, KeyID: []byte{1}, Mechanism: CKM_RSA_PKCS_PSS,
			PSS: &PSSParams{Hash: CKM_SHA256, MGF: CKG_MGF1_SHA256, SaltLen: 32}, Data: bytes.Repeat([]byte{7}, 32)}},
	} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseRequest(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
	}
}

func field(tag uint16, v []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, tag)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestParseRefuses(t *testing.T) {
	head := cat(field(tagVersion, u64(1)), field(tagStatus, u64(0)))
	attr := func(fields ...[]byte) []byte {
		return cat(head, field(tagSlot, cat(field(tagSlotID, u64(1)), field(tagToken, field(tagObject, field(tagAttr, cat(fields...)))))))
	}
	for name, b := range map[string][]byte{
		"empty":              nil,
		"no status":          field(tagVersion, u64(1)),
		"truncated header":   cat(head, []byte{0, 1, 0}),
		"length past end":    cat(head, field(tagMessage, []byte("abc"))[:8]),
		"short integer":      cat(field(tagVersion, []byte{1}), field(tagStatus, u64(0))),
		"twice":              cat(head, field(tagStatus, u64(0))),
		"slot without id":    cat(head, field(tagSlot, field(tagSlotDesc, []byte("r")))),
		"attribute no value": attr(field(tagAttrType, u64(1))),
		"attribute 2 values": attr(field(tagAttrType, u64(1)), field(tagAttrBool, u64(1)), field(tagAttrULong, u64(1))),
		"bool 2":             attr(field(tagAttrType, u64(1)), field(tagAttrBool, u64(2))),
		"too large":          cat(head, field(tagMessage, make([]byte, MaxMessage))),
		"too many slots":     cat(head, bytes.Repeat(field(tagSlot, field(tagSlotID, u64(1))), MaxSlots+1)),
		"duplicate attribute": cat(head, field(tagSlot, cat(field(tagSlotID, u64(1)), field(tagToken, field(tagObject,
			cat(field(tagAttr, cat(field(tagAttrType, u64(1)), field(tagAttrBool, u64(1)))), field(tagAttr, cat(field(tagAttrType, u64(1)), field(tagAttrBool, u64(0)))))))))),
	} {
		if r, err := ParseResponse(b); err == nil {
			t.Errorf("%s: parsed as %+v", name, r)
		}
	}
	for name, b := range map[string][]byte{
		"no op":        field(tagVersion, u64(1)),
		"sign no data": cat(field(tagVersion, u64(1)), field(tagOp, u64(uint64(OpSign))), field(tagSignSlot, u64(1)), field(tagSignKeyID, nil), field(tagSignMech, u64(1))),
		"half PSS":     cat(field(tagVersion, u64(1)), field(tagOp, u64(1)), field(tagSignPSSHash, u64(CKM_SHA256))),
	} {
		if r, err := ParseRequest(b); err == nil {
			t.Errorf("%s: parsed as %+v", name, r)
		}
	}
}

// A newer peer's fields are skipped: minor additions need no version.
func TestParseSkipsUnknownTags(t *testing.T) {
	b := cat(field(0x7777, []byte("future")), field(tagVersion, u64(1)), field(tagStatus, u64(uint64(StatusUnchanged))),
		field(tagSlot, cat(field(tagSlotID, u64(5)), field(0x7778, nil))))
	r, err := ParseResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != StatusUnchanged || len(r.Slots) != 1 || r.Slots[0].ID != 5 {
		t.Errorf("got %+v", r)
	}
}

func TestMarshalRefusesBeyondLimits(t *testing.T) {
	r := &Response{Version: Version, Slots: make([]Slot, MaxSlots+1)}
	if _, err := r.MarshalBinary(); err == nil {
		t.Error("marshalled too many slots")
	}
	r = &Response{Version: Version, Slots: []Slot{{Token: &Token{Objects: make([]Object, MaxObjects+1)}}}}
	if _, err := r.MarshalBinary(); err == nil {
		t.Error("marshalled too many objects")
	}
	r = &Response{Version: Version, Signature: make([]byte, MaxMessage)}
	if _, err := r.MarshalBinary(); err != ErrTooLarge {
		t.Errorf("huge signature: %v", err)
	}
}

func attr(o Object, typ uint64) (Attribute, bool) {
	for _, a := range o.Attributes {
		if a.Type == typ {
			return a, true
		}
	}
	return Attribute{}, false
}

func TestKeyObjects(t *testing.T) {
	for _, isRSA := range []bool{true, false} {
		cert := testCert(t, isRSA)
		objs, err := KeyObjects(cert, []byte{0x45}, "CIE")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 3 {
			t.Fatalf("%d objects", len(objs))
		}
		for i, class := range []uint64{CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY} {
			if a, _ := attr(objs[i], CKA_CLASS); a.ULong != class {
				t.Errorf("object %d: class %d, want %d", i, a.ULong, class)
			}
			if a, _ := attr(objs[i], CKA_ID); !bytes.Equal(a.Bytes, []byte{0x45}) {
				t.Errorf("object %d: CKA_ID %x", i, a.Bytes)
			}
			if a, ok := attr(objs[i], CKA_PRIVATE); !ok || a.Bool {
				t.Errorf("object %d: CKA_PRIVATE %v %v, want present and false", i, ok, a.Bool)
			}
		}
		priv := objs[2]
		if a, ok := attr(priv, CKA_ALWAYS_AUTHENTICATE); !ok || a.Bool {
			t.Error("private key: CKA_ALWAYS_AUTHENTICATE must be present and false")
		}
		if a, _ := attr(priv, CKA_SIGN); !a.Bool {
			t.Error("private key does not sign")
		}
		want := uint64(64)
		if isRSA {
			want = 256
		}
		if priv.SignatureLen != want {
			t.Errorf("signature length %d, want %d", priv.SignatureLen, want)
		}
		ms := Mechanisms(cert, true)
		if isRSA && (len(ms) != 2 || ms[0].Type != CKM_RSA_PKCS || ms[1].Type != CKM_RSA_PKCS_PSS) {
			t.Errorf("RSA raw mechanisms %+v", ms)
		}
		if isRSA && len(Mechanisms(cert, false)) != 1 {
			t.Error("PSS offered without raw RSA")
		}
		if !isRSA && (len(ms) != 1 || ms[0].Type != CKM_ECDSA) {
			t.Errorf("EC mechanisms %+v", ms)
		}
	}
}

func TestTokenLabel(t *testing.T) {
	if got := TokenLabel("CIE", "MARIO ROSSI"); got != "CIE di MARIO ROSSI" {
		t.Errorf("got %q", got)
	}
	long := TokenLabel("CNS", "ÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀÀ")
	if len(long) > 32 || !strings.HasPrefix(long, "CNS di À") || !utf8Valid(long) {
		t.Errorf("got %q (%d bytes)", long, len(long))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// roundTrip checks that what parses marshals and parses again the same.
func roundTrip[T interface{ MarshalBinary() ([]byte, error) }](t *testing.T, b []byte, parse func([]byte) (T, error)) {
	r, err := parse(b)
	if err != nil {
		return
	}
	again, err := r.MarshalBinary()
	if err != nil {
		t.Fatalf("parsed but does not marshal: %v", err)
	}
	r2, err := parse(again)
	if err != nil || !reflect.DeepEqual(r, r2) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, r, r2)
	}
}

func FuzzParseResponse(f *testing.F) {
	b, _ := testSnapshot(f).MarshalBinary()
	f.Add(b)
	f.Add([]byte{0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, ParseResponse) })
}

func FuzzParseRequest(f *testing.F) {
	b, _ := (&Request{Version: Version, Op: OpSign, Sign: &SignRequest{Slot: 1, KeyID: []byte{1}, Mechanism: CKM_RSA_PKCS_PSS,
		PSS: &PSSParams{Hash: CKM_SHA256, MGF: CKG_MGF1_SHA256, SaltLen: 32}, Data: []byte{1, 2}}}).MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { roundTrip(t, b, ParseRequest) })
}
