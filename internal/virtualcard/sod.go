package virtualcard

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"time"

	"github.com/eidlink/eidlink/internal/iasecc"
)

// Object identifiers of the SOD (ICAO 9303 part 10, RFC 5652).
var (
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidLDSSO         = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA256RSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

func der(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes are marshalled here
	}
	return b
}

// algID is an AlgorithmIdentifier with NULL parameters.
func algID(oid asn1.ObjectIdentifier) []byte {
	return iasecc.TLV(0x30, der(oid), []byte{0x05, 0x00})
}

// newDSCert makes the self-signed document signer certificate of the
// virtual CIEs (no trust anchor: the middleware checks none).
func newDSCert(key *rsa.PrivateKey) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Country: []string{"IT"}, Organization: []string{"eidlink test"}, CommonName: "eidlink virtual CIE document signer (NOT FOR PRODUCTION)"},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	raw, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(raw)
}

// sod builds EF.SOD (cie-protocol.md §9): tag 77 around a CMS SignedData
// (sha256 branch) whose LDSSecurityObject hashes the data groups A1..A5
// and 1B, with each group number a one-byte INTEGER as the middleware
// reads it.
func sod(groups map[byte][]byte, ds *x509.Certificate, key *rsa.PrivateKey) ([]byte, error) {
	var hashes []byte
	for _, n := range []byte{0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0x1B} {
		h := sha256.Sum256(groups[n])
		hashes = append(hashes, iasecc.TLV(0x30, []byte{0x02, 0x01, n}, iasecc.TLV(0x04, h[:]))...)
	}
	ldsso := iasecc.TLV(0x30, []byte{0x02, 0x01, 0x00}, algID(oidSHA256), iasecc.TLV(0x30, hashes))
	digest := sha256.Sum256(ldsso)
	attrs := [][]byte{
		iasecc.TLV(0x30, der(oidContentType), iasecc.TLV(0x31, der(oidLDSSO))),
		iasecc.TLV(0x30, der(oidMessageDigest), iasecc.TLV(0x31, iasecc.TLV(0x04, digest[:]))),
	}
	signed := sha256.Sum256(iasecc.TLV(0x31, attrs...))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, signed[:])
	if err != nil {
		return nil, err
	}
	signer := iasecc.TLV(0x30, []byte{0x02, 0x01, 0x01},
		iasecc.TLV(0x30, ds.RawIssuer, der(ds.SerialNumber)),
		algID(oidSHA256), iasecc.TLV(0xA0, attrs...), algID(oidSHA256RSA), iasecc.TLV(0x04, sig))
	signedData := iasecc.TLV(0x30, []byte{0x02, 0x01, 0x03}, iasecc.TLV(0x31, algID(oidSHA256)),
		iasecc.TLV(0x30, der(oidLDSSO), iasecc.TLV(0xA0, iasecc.TLV(0x04, ldsso))),
		iasecc.TLV(0xA0, ds.Raw), iasecc.TLV(0x31, signer))
	return iasecc.TLV(0x77, iasecc.TLV(0x30, der(oidSignedData), iasecc.TLV(0xA0, signedData))), nil
}
