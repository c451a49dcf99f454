package tlsauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/eidlink/eidlink/internal/p11wire"
)

// pkcs1Block is the EMSA-PKCS1-v1_5 block of data (RFC 8017 9.2 from step
// 3), k bytes: for a card that does raw RSA and data that is no SHA-2
// DigestInfo (TLS 1.1's MD5+SHA-1). len(data) <= k-11.
func pkcs1Block(data []byte, k int) []byte {
	em := make([]byte, k)
	em[1] = 1
	for i := 2; i < k-len(data)-1; i++ {
		em[i] = 0xff
	}
	copy(em[k-len(data):], data)
	return em
}

// pssHashes maps the PSS hash mechanisms to their hash and MGF1.
var pssHashes = map[uint64]struct {
	h   crypto.Hash
	mgf uint64
}{
	p11wire.CKM_SHA_1:  {crypto.SHA1, p11wire.CKG_MGF1_SHA1},
	p11wire.CKM_SHA224: {crypto.SHA224, p11wire.CKG_MGF1_SHA224},
	p11wire.CKM_SHA256: {crypto.SHA256, p11wire.CKG_MGF1_SHA256},
	p11wire.CKM_SHA384: {crypto.SHA384, p11wire.CKG_MGF1_SHA384},
	p11wire.CKM_SHA512: {crypto.SHA512, p11wire.CKG_MGF1_SHA512},
}

// pssBlock is the EMSA-PSS encoding (RFC 8017 9.1.1) of the hash mHash
// for pub, with the parameters the browser gave (MGF1 with the same
// hash), as long as the modulus: the block the raw RSA operation signs.
func pssBlock(pub *rsa.PublicKey, p *p11wire.PSSParams, mHash []byte) ([]byte, error) {
	if p == nil {
		return nil, errors.New("CKM_RSA_PKCS_PSS without parameters")
	}
	ph, ok := pssHashes[p.Hash]
	if !ok || p.MGF != ph.mgf {
		return nil, fmt.Errorf("PSS with hash %#x and MGF %#x: want MGF1 with the same SHA hash", p.Hash, p.MGF)
	}
	h := ph.h
	hLen := h.Size()
	if len(mHash) != hLen {
		return nil, fmt.Errorf("PSS over %d bytes with a %d-byte hash", len(mHash), hLen)
	}
	emBits := pub.N.BitLen() - 1
	emLen := (emBits + 7) / 8
	if p.SaltLen > uint64(emLen) || emLen < hLen+int(p.SaltLen)+2 {
		return nil, fmt.Errorf("PSS salt of %d bytes does not fit the key", p.SaltLen)
	}
	sLen := int(p.SaltLen)
	salt := make([]byte, sLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	hh := h.New()
	hh.Write(make([]byte, 8))
	hh.Write(mHash)
	hh.Write(salt)
	H := hh.Sum(nil)
	db := make([]byte, emLen-hLen-1)
	db[len(db)-sLen-1] = 1
	copy(db[len(db)-sLen:], salt)
	mgf1XOR(db, h, H)
	db[0] &= 0xff >> (8*emLen - emBits)
	em := make([]byte, pub.Size()) // a leading zero when emLen is one byte shorter
	off := len(em) - emLen
	copy(em[off:], db)
	copy(em[off+len(db):], H)
	em[len(em)-1] = 0xbc
	return em, nil
}

// mgf1XOR XORs out with MGF1(seed) made with h (RFC 8017 B.2.1).
func mgf1XOR(out []byte, h crypto.Hash, seed []byte) {
	var counter [4]byte
	for done := 0; done < len(out); {
		d := h.New()
		d.Write(seed)
		d.Write(counter[:])
		for _, b := range d.Sum(nil) {
			if done == len(out) {
				break
			}
			out[done] ^= b
			done++
		}
		for i := 3; i >= 0; i-- {
			if counter[i]++; counter[i] != 0 {
				break
			}
		}
	}
}

// rawECDSA returns an ECDSA signature as r||s of twice size bytes: as it
// is, or converted from the DER that some card paths give.
func rawECDSA(sig []byte, size int) ([]byte, error) {
	if len(sig) == 2*size {
		return sig, nil
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) > 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 ||
		rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, fmt.Errorf("the card's ECDSA signature is %d bytes, neither r||s nor DER", len(sig))
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
