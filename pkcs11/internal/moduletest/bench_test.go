//go:build linux

package moduletest

import (
	"testing"

	"github.com/miekg/pkcs11"
)

// What a browser's calls cost through the module (miekg/pkcs11's cgo
// included): NSS's trust lookup, answered from the snapshot, and a
// signature, one round trip to the (fake) service.
func BenchmarkTrustLookup(b *testing.B) {
	newService(b, newCard(b, 1, false, false))
	p := open(b)
	s := session(b, p, 1)
	trust := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, uint(0xCE534353))}
	b.ResetTimer()
	for b.Loop() {
		if err := p.FindObjectsInit(s, trust); err != nil {
			b.Fatal(err)
		}
		if objs, _, err := p.FindObjects(s, 10); err != nil || len(objs) != 0 {
			b.Fatal(objs, err)
		}
		if err := p.FindObjectsFinal(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSlotList(b *testing.B) {
	newService(b, newCard(b, 1, false, false))
	p := open(b)
	for b.Loop() {
		if slots, err := p.GetSlotList(true); err != nil || len(slots) != 1 {
			b.Fatal(slots, err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	newService(b, newCard(b, 1, false, false))
	p := open(b)
	s := session(b, p, 1)
	key := privateKey(b, p, s)
	ecdsa := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	data := make([]byte, 32)
	for b.Loop() {
		if err := p.SignInit(s, ecdsa, key); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Sign(s, data); err != nil {
			b.Fatal(err)
		}
	}
}
