package p11wire

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"unicode/utf8"
)

// The PKCS#11 2.40 values the token model uses.
const (
	CKO_CERTIFICATE = 0x1
	CKO_PUBLIC_KEY  = 0x2
	CKO_PRIVATE_KEY = 0x3
	CKC_X_509       = 0x0
	CKK_RSA         = 0x0
	CKK_EC          = 0x3

	CKA_CLASS                = 0x0
	CKA_TOKEN                = 0x1
	CKA_PRIVATE              = 0x2
	CKA_LABEL                = 0x3
	CKA_VALUE                = 0x11
	CKA_CERTIFICATE_TYPE     = 0x80
	CKA_ISSUER               = 0x81
	CKA_SERIAL_NUMBER        = 0x82
	CKA_TRUSTED              = 0x86
	CKA_CERTIFICATE_CATEGORY = 0x87
	CKA_KEY_TYPE             = 0x100
	CKA_SUBJECT              = 0x101
	CKA_ID                   = 0x102
	CKA_SENSITIVE            = 0x103
	CKA_ENCRYPT              = 0x104
	CKA_DECRYPT              = 0x105
	CKA_WRAP                 = 0x106
	CKA_UNWRAP               = 0x107
	CKA_SIGN                 = 0x108
	CKA_SIGN_RECOVER         = 0x109
	CKA_VERIFY               = 0x10A
	CKA_DERIVE               = 0x10C
	CKA_MODULUS              = 0x120
	CKA_MODULUS_BITS         = 0x121
	CKA_PUBLIC_EXPONENT      = 0x122
	CKA_EXTRACTABLE          = 0x162
	CKA_LOCAL                = 0x163
	CKA_NEVER_EXTRACTABLE    = 0x164
	CKA_ALWAYS_SENSITIVE     = 0x165
	CKA_MODIFIABLE           = 0x170
	CKA_EC_PARAMS            = 0x180
	CKA_EC_POINT             = 0x181
	CKA_ALWAYS_AUTHENTICATE  = 0x202

	CKM_RSA_PKCS     = 0x1
	CKM_RSA_PKCS_PSS = 0xD
	CKM_ECDSA        = 0x1041
	CKM_SHA_1        = 0x220
	CKM_SHA224       = 0x255
	CKM_SHA256       = 0x250
	CKM_SHA384       = 0x260
	CKM_SHA512       = 0x270
	CKG_MGF1_SHA1    = 0x1
	CKG_MGF1_SHA256  = 0x2
	CKG_MGF1_SHA384  = 0x3
	CKG_MGF1_SHA512  = 0x4
	CKG_MGF1_SHA224  = 0x5

	CKF_HW            = 0x1
	CKF_SIGN          = 0x800
	CKF_EC_F_P        = 0x100000
	CKF_EC_NAMEDCURVE = 0x800000
	CKF_EC_UNCOMPRESS = 0x1000000
)

// Truncate returns s cut to at most n bytes on a character boundary: the
// token's fixed-width strings.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// TokenLabel is the label of a card of the kind ("CIE", "CNS") held by
// holder: "CIE di MARIO ROSSI", cut to the 32 bytes of a token label.
func TokenLabel(kind, holder string) string {
	if holder == "" {
		return Truncate(kind, 32)
	}
	return Truncate(kind+" di "+holder, 32)
}

// KeyObjects returns the certificate, public key and private key objects
// of one card key, with the same CKA_ID and CKA_LABEL: what Chromium and
// Firefox look for to offer the certificate for TLS client
// authentication. The private key is visible without login (CKA_PRIVATE
// false), signs, and needs no context-specific login.
func KeyObjects(cert *x509.Certificate, id []byte, label string) ([]Object, error) {
	common := func(class uint64) []Attribute {
		return []Attribute{
			ULong(CKA_CLASS, class), Bool(CKA_TOKEN, true), Bool(CKA_PRIVATE, false),
			Bool(CKA_MODIFIABLE, false), Bytes(CKA_LABEL, []byte(label)), Bytes(CKA_ID, id),
		}
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	certObj := Object{Attributes: append(common(CKO_CERTIFICATE),
		ULong(CKA_CERTIFICATE_TYPE, CKC_X_509), Bool(CKA_TRUSTED, false), ULong(CKA_CERTIFICATE_CATEGORY, 1),
		Bytes(CKA_VALUE, cert.Raw), Bytes(CKA_ISSUER, cert.RawIssuer), Bytes(CKA_SUBJECT, cert.RawSubject),
		Bytes(CKA_SERIAL_NUMBER, serial))}

	var keyAttrs []Attribute
	var keyType, sigLen uint64
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		keyType, sigLen = CKK_RSA, uint64(k.Size())
		keyAttrs = []Attribute{Bytes(CKA_MODULUS, k.N.Bytes()), ULong(CKA_MODULUS_BITS, uint64(k.N.BitLen())),
			Bytes(CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		params, err := curveParams(k.Curve)
		if err != nil {
			return nil, err
		}
		raw, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		point, _ := asn1.Marshal(raw) // CKA_EC_POINT is the DER OCTET STRING
		keyType, sigLen = CKK_EC, uint64(2*((k.Curve.Params().BitSize+7)/8))
		keyAttrs = []Attribute{Bytes(CKA_EC_PARAMS, params), Bytes(CKA_EC_POINT, point)}
	default:
		return nil, fmt.Errorf("certificate key %T: want RSA or ECDSA", cert.PublicKey)
	}
	key := func(class uint64) []Attribute {
		return append(common(class), ULong(CKA_KEY_TYPE, keyType), Bytes(CKA_SUBJECT, cert.RawSubject),
			Bool(CKA_LOCAL, true), Bool(CKA_DERIVE, false))
	}
	pub := Object{Attributes: append(append(key(CKO_PUBLIC_KEY), keyAttrs...),
		Bool(CKA_VERIFY, true), Bool(CKA_ENCRYPT, false), Bool(CKA_WRAP, false))}
	priv := Object{SignatureLen: sigLen, Attributes: append(append(key(CKO_PRIVATE_KEY), keyAttrs...),
		Bool(CKA_SIGN, true), Bool(CKA_SIGN_RECOVER, false), Bool(CKA_DECRYPT, false), Bool(CKA_UNWRAP, false),
		Bool(CKA_SENSITIVE, true), Bool(CKA_EXTRACTABLE, false), Bool(CKA_ALWAYS_SENSITIVE, true),
		Bool(CKA_NEVER_EXTRACTABLE, true), Bool(CKA_ALWAYS_AUTHENTICATE, false))}
	return []Object{certObj, pub, priv}, nil
}

// curveParams is CKA_EC_PARAMS: the DER OID of a named curve.
func curveParams(c elliptic.Curve) ([]byte, error) {
	var oid asn1.ObjectIdentifier
	switch c {
	case elliptic.P256():
		oid = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	case elliptic.P384():
		oid = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	case elliptic.P521():
		oid = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	default:
		return nil, fmt.Errorf("curve %s: want P-256, P-384 or P-521", c.Params().Name)
	}
	return asn1.Marshal(oid)
}

// Mechanisms lists what a card key signs with, for C_GetMechanismList:
// CKM_RSA_PKCS for RSA (the browser passes the DigestInfo), plus
// CKM_RSA_PKCS_PSS only when the card path does raw RSA (rawRSA: the
// service then does the EMSA-PSS encoding itself), CKM_ECDSA for EC. No
// hash-and-sign mechanisms: the module does no multi-part signing.
func Mechanisms(cert *x509.Certificate, rawRSA bool) []Mechanism {
	switch k := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		bits := uint64(k.N.BitLen())
		ms := []Mechanism{{Type: CKM_RSA_PKCS, MinKeySize: bits, MaxKeySize: bits, Flags: CKF_HW | CKF_SIGN}}
		if rawRSA {
			ms = append(ms, Mechanism{Type: CKM_RSA_PKCS_PSS, MinKeySize: bits, MaxKeySize: bits, Flags: CKF_HW | CKF_SIGN})
		}
		return ms
	case *ecdsa.PublicKey:
		bits := uint64(k.Curve.Params().BitSize)
		return []Mechanism{{Type: CKM_ECDSA, MinKeySize: bits, MaxKeySize: bits,
			Flags: CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS}}
	}
	return nil
}
