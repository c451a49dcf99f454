package cryptoki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha3"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
)

func TestClassifyAndKind(t *testing.T) {
	ds, nr := x509.KeyUsageDigitalSignature, x509.KeyUsageContentCommitment
	for _, tc := range []struct {
		cert  x509.Certificate
		label string
		want  role
	}{
		{x509.Certificate{KeyUsage: ds}, "", roleAuth},
		{x509.Certificate{KeyUsage: ds | x509.KeyUsageKeyEncipherment}, "", roleAuth},
		{x509.Certificate{}, "", roleAuth},
		{x509.Certificate{KeyUsage: nr}, "", roleSign},
		{x509.Certificate{KeyUsage: ds | nr}, "", roleSign},
		{x509.Certificate{KeyUsage: x509.KeyUsageKeyEncipherment}, "CIE0", roleAuth},
		{x509.Certificate{KeyUsage: ds | nr}, "CIE0", roleAuth},
		{x509.Certificate{KeyUsage: x509.KeyUsageKeyEncipherment}, "", roleNone},
		{x509.Certificate{KeyUsage: x509.KeyUsageCertSign, IsCA: true}, "", roleNone},
	} {
		if got := classify(&tc.cert, tc.label); got != tc.want {
			t.Errorf("classify(%v, %q) = %v, want %v", tc.cert.KeyUsage, tc.label, got, tc.want)
		}
	}
	oid := func(s string) x509.OID { o, _ := x509.ParseOID(s); return o }
	for _, tc := range []struct {
		policy, manufacturer, label string
		want                        eidcert.Kind
	}{
		{"1.3.76.47.4", "", "", eidcert.CIE},
		{"1.3.76.16.2.1", "Bit4id", "CNS", eidcert.CNS},
		{"", "IPZS", "", eidcert.CIE},
		{"", "SoftHSM project", "CIE", eidcert.CIE},
		{"2.5.29.32.0", "", "", eidcert.Unknown},
	} {
		c := &x509.Certificate{}
		if tc.policy != "" {
			c.Policies = []x509.OID{oid(tc.policy)}
		}
		if got := cardKind(c, tc.manufacturer, tc.label); got != tc.want {
			t.Errorf("cardKind(%s, %q, %q) = %s, want %s", tc.policy, tc.manufacturer, tc.label, got, tc.want)
		}
	}
}

// TestDigestInfo checks every DigestInfo against crypto/rsa's own: a raw
// PKCS#1 v1.5 signature over ours must verify as a signature of the hash.
func TestDigestInfo(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for h := range hashArcs {
		digest := make([]byte, h.Size())
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.Hash(0), DigestInfo(h, digest))
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, h, digest, sig); err != nil {
			t.Errorf("%v: %v", h, err)
		}
		digest[0] = byte(h)
		if got, d, ok := ParseDigestInfo(DigestInfo(h, digest)); !ok || got != h || !bytes.Equal(d, digest) {
			t.Errorf("ParseDigestInfo(%v) = %v, %x, %v", h, got, d, ok)
		}
	}
	di := DigestInfo(crypto.SHA256, make([]byte, 32))
	for _, bad := range [][]byte{nil, di[:len(di)-1], append(di[:len(di):len(di)], 0), append([]byte{0x31}, di[1:]...)} {
		if _, _, ok := ParseDigestInfo(bad); ok {
			t.Errorf("ParseDigestInfo(%x) took it", bad)
		}
	}
}

func FuzzParseDigestInfo(f *testing.F) {
	f.Add(DigestInfo(crypto.SHA384, make([]byte, 48)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, d, ok := ParseDigestInfo(b); ok && !bytes.Equal(DigestInfo(h, d), b) {
			t.Fatalf("%x is not the DigestInfo of %v %x", b, h, d)
		}
	})
}

func TestMatchKey(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := ek.PublicKey.Bytes()
	wrapped, _ := asn1.Marshal(point)
	// A bare P-256 point whose second byte is 0x3f (63, the length of the
	// rest) reads as a complete DER OCTET STRING.
	var dk *ecdsa.PrivateKey
	var derLikePoint []byte
	for dk == nil || derLikePoint[1] != 0x3f {
		dk, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		derLikePoint, _ = dk.PublicKey.Bytes()
	}
	derLike := &x509.Certificate{PublicKey: &dk.PublicKey}
	rsaCert := &x509.Certificate{PublicKey: &rk.PublicKey}
	ecCert := &x509.Certificate{PublicKey: &ek.PublicKey}
	keys := []object{
		{h: 1, id: []byte{9}, label: "other"},
		{h: 2, id: []byte{7}, modulus: rk.N.Bytes()},
		{h: 3, ecPoint: wrapped},
		{h: 4, ecPoint: point},
		{h: 5, id: []byte{1}, label: "CIE0"},
	}
	for _, tc := range []struct {
		cert *x509.Certificate
		o    object
		keys []object
		want int // handle, 0: no match
	}{
		{rsaCert, object{id: []byte{1}}, keys, 5},             // CKA_ID first
		{rsaCert, object{id: []byte{8}}, keys, 2},             // then the modulus
		{ecCert, object{}, keys, 3},                           // then the EC point (DER-wrapped)
		{ecCert, object{}, keys[3:4], 4},                      // or bare
		{&x509.Certificate{}, object{label: "CIE0"}, keys, 5}, // then the label
		{&x509.Certificate{}, object{label: "nope"}, keys, 0},
		{rsaCert, object{}, keys[2:4], 0},
		{derLike, object{}, []object{{h: 6, ecPoint: derLikePoint}}, 6}, // bare, yet parses as DER
	} {
		k, ok := matchKey(tc.cert, tc.o, tc.keys)
		if ok != (tc.want != 0) || int(k.h) != tc.want {
			t.Errorf("matchKey(%+v) = %d, %v, want %d", tc.o, k.h, ok, tc.want)
		}
	}
}
