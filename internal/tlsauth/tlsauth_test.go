package tlsauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/protocol"
)

var ctx = context.Background()

// fakeCard is a logged-in card with a software key.
type fakeCard struct {
	info    protocol.TokenStatus
	key     crypto.Signer
	cert    *x509.Certificate
	mu      sync.Mutex
	removed bool
	der     bool // ECDSA answers in DER
	closed  chan struct{}
	once    sync.Once
}

func newFakeCard(t testing.TB, key crypto.Signer) *fakeCard {
	t.Helper()
	return newFakeCardOf(t, key, protocol.TokenStatus{CardKind: "cie", Holder: "MARIO ROSSI", Label: "CIE"})
}

// newFakeCardOf is a card of info's kind and holder.
func newFakeCardOf(t testing.TB, key crypto.Signer, info protocol.TokenStatus) *fakeCard {
	t.Helper()
	ca, caKey, err := eidcert.NewTestCA("tlsauth test CA")
	if err != nil {
		t.Fatal(err)
	}
	h := eidcert.Holder{GivenName: "MARIO", Surname: "ROSSI", CodiceFiscale: "RSSMRA80A01H501U"}
	der, err := x509.CreateCertificate(rand.Reader, eidcert.Template(eidcert.CIE, h, "CA00000AA"), ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &fakeCard{info: info, key: key, cert: cert, closed: make(chan struct{})}
}

func (c *fakeCard) Info() protocol.TokenStatus            { return c.info }
func (c *fakeCard) AuthCertificate() *x509.Certificate    { return c.cert }
func (c *fakeCard) SigningCertificate() *x509.Certificate { return c.cert }
func (c *fakeCard) Login(context.Context, []byte) error   { return nil }
func (c *fakeCard) Close() error                          { c.once.Do(func() { close(c.closed) }); return nil }
func (c *fakeCard) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *fakeCard) gone() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return protocol.Errorf(protocol.CodeCardRemoved, "removed")
	}
	if c.isClosed() {
		return protocol.Errorf(protocol.CodeCardError, "closed")
	}
	return nil
}

func (c *fakeCard) Sign(_ context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error) {
	if err := c.gone(); err != nil {
		return nil, err
	}
	if k, ok := c.key.(*ecdsa.PrivateKey); ok && c.der {
		return ecdsa.SignASN1(rand.Reader, k, digest)
	}
	return eidcert.SignDigest(c.key, h, digest)
}

func (c *fakeCard) SignRaw(_ context.Context, cert *x509.Certificate, block []byte) ([]byte, error) {
	if err := c.gone(); err != nil {
		return nil, err
	}
	k := c.key.(*rsa.PrivateKey)
	m := new(big.Int).SetBytes(block)
	return m.Exp(m, k.D, k.N).FillBytes(make([]byte, k.Size())), nil
}

// fakeCards is a reader or two.
type fakeCards struct {
	mu    sync.Mutex
	slots []cryptoki.Slot
	scans int
}

func (f *fakeCards) Slots(context.Context) []cryptoki.Slot {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scans++
	return append([]cryptoki.Slot(nil), f.slots...)
}

func (f *fakeCards) set(slots ...cryptoki.Slot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slots = slots
}

func slotWith(key string, c *fakeCard, raw bool) cryptoki.Slot {
	s := cryptoki.Slot{Key: key, Description: "reader " + key}
	if c != nil {
		s.Card = &cryptoki.SlotCard{Info: c.Info(), Cert: c.cert, RawRSA: raw}
	}
	return s
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newBridge(cards *fakeCards, cfg Config) *Bridge {
	cfg.Cards = cards
	cfg.Fresh = time.Hour // the tests say when the cards changed
	return New(cfg)
}

// The snapshot: one slot per reader, its id kept across card changes and
// new readers, the generation moving with every change and only then.
func TestSnapshot(t *testing.T) {
	card, other := newFakeCard(t, rsaKey(t)), newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false), slotWith("b", nil, false))
	b := newBridge(cards, Config{})
	s := b.Snapshot(ctx, 0)
	if s.Status != p11wire.StatusOK || len(s.Slots) != 2 || s.Generation == 0 {
		t.Fatalf("snapshot = %+v", s)
	}
	tok := s.Slots[0].Token
	if tok == nil || s.Slots[1].Token != nil || tok.Label != "CIE di MARIO ROSSI" || tok.Serial != Serial(card.cert) || len(tok.Serial) != 16 {
		t.Fatalf("slots = %+v", s.Slots)
	}
	if len(tok.Mechanisms) != 1 || tok.Mechanisms[0].Type != p11wire.CKM_RSA_PKCS || len(tok.Objects) != 3 {
		t.Fatalf("token = %+v: want CKM_RSA_PKCS only (no raw RSA) and the three objects of the key", tok)
	}
	if u := b.Snapshot(ctx, s.Generation); u.Status != p11wire.StatusUnchanged || len(u.Slots) != 0 {
		t.Fatalf("same generation: %+v", u)
	}
	ida, idb := s.Slots[0].ID, s.Slots[1].ID
	// the card leaves, another comes to reader b, a reader c appears
	cards.set(slotWith("c", nil, false), slotWith("b", other, true), slotWith("a", nil, false))
	b.Changed("card-inserted")
	s2 := b.Snapshot(ctx, s.Generation)
	if s2.Status != p11wire.StatusOK || s2.Generation == s.Generation || len(s2.Slots) != 3 {
		t.Fatalf("after the change: %+v", s2)
	}
	if s2.Slots[2].ID != ida || s2.Slots[1].ID != idb || s2.Slots[0].ID == ida || s2.Slots[0].ID == idb || s2.Slots[0].ID >= 1<<24 {
		t.Fatalf("ids %d %d %d: want the readers' ids kept (a %d, b %d) and a new one", s2.Slots[0].ID, s2.Slots[1].ID, s2.Slots[2].ID, ida, idb)
	}
	if m := s2.Slots[1].Token.Mechanisms; len(m) != 2 || m[1].Type != p11wire.CKM_RSA_PKCS_PSS {
		t.Fatalf("raw RSA card mechanisms = %+v, want PSS too", m)
	}
	// read again with nothing changed: same generation
	b.Changed("reader-added")
	if s3 := b.Snapshot(ctx, s2.Generation); s3.Status != p11wire.StatusUnchanged {
		t.Fatalf("nothing changed, got %+v", s3)
	}
	// the snapshot is reused until an event or Fresh
	n := cards.scans
	b.Snapshot(ctx, 0)
	if cards.scans != n {
		t.Fatal("a fresh snapshot read the cards again")
	}
}

// signReq is a sign request for card's key in the bridge's slot "a".
func signReq(t *testing.T, b *Bridge, c *fakeCard, mech uint64, data []byte) *p11wire.SignRequest {
	t.Helper()
	s := b.Snapshot(ctx, 0)
	for _, sl := range s.Slots {
		if sl.Token != nil && sl.Token.Serial == Serial(c.cert) {
			return &p11wire.SignRequest{Slot: sl.ID, Serial: sl.Token.Serial, KeyID: KeyID(c.cert), Mechanism: mech, Data: data}
		}
	}
	t.Fatal("the card is not in the snapshot")
	return nil
}

func digestInfo(_ *testing.T, digest []byte) []byte {
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	return append(prefix, digest...)
}

// Nothing unlocked and nobody to ask the PIN: refused, the card untouched.
func TestSignNotAvailable(t *testing.T) {
	card := newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	opened := false
	b := newBridge(cards, Config{Open: func(context.Context, string) (Card, error) { opened = true; return card, nil }})
	d := sha256.Sum256([]byte("x"))
	if st := b.Status(); st.Unlocked || st.LastRefusal != "" || st.StartedAt < time.Now().Add(-time.Minute).UnixMilli() || st.StartedAt > time.Now().UnixMilli() {
		t.Fatalf("status before = %+v", st)
	}
	if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))); r.Status != p11wire.StatusNotAvailable || opened {
		t.Fatalf("sign = %+v, opened %v", r, opened)
	}
	if st := b.Status(); !strings.Contains(st.LastRefusal, "no eidlink extension is connected") || st.LastRefusalCode != protocol.CodeTLSNotUnlocked || st.LastRefusalAt < time.Now().Add(-time.Minute).UnixMilli() {
		t.Fatalf("status after = %+v: want why it refused, its code and when", st)
	}
}

// An unlock serves its signatures, RSA PKCS#1 and PSS, then ends; the
// card is closed (its turn given back) when it does.
func TestUnlockSignaturesUsedUp(t *testing.T) {
	key := rsaKey(t)
	card := newFakeCard(t, key)
	cards := &fakeCards{}
	cards.set(slotWith("a", card, true))
	b := newBridge(cards, Config{Signatures: 3})
	u, err := b.Keep(card, "https://idp.example")
	if err != nil || u.Signatures != 3 || u.ExpiresIn != 60 || u.Holder != "MARIO ROSSI" || u.Origin != "https://idp.example" {
		t.Fatalf("Keep = %+v, %v", u, err)
	}
	d := sha256.Sum256([]byte("tls 1.2 handshake"))
	r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:])))
	if r.Status != p11wire.StatusOK || rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, d[:], r.Signature) != nil {
		t.Fatalf("RSA-PKCS: %+v", r)
	}
	req := signReq(t, b, card, p11wire.CKM_RSA_PKCS_PSS, d[:])
	req.PSS = &p11wire.PSSParams{Hash: p11wire.CKM_SHA256, MGF: p11wire.CKG_MGF1_SHA256, SaltLen: 32}
	r = b.Sign(ctx, req)
	if r.Status != p11wire.StatusOK || rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, d[:], r.Signature, &rsa.PSSOptions{SaltLength: 32}) != nil {
		t.Fatalf("PSS: %+v", r)
	}
	if card.isClosed() {
		t.Fatal("closed with a signature left")
	}
	if st := b.Status(); !st.Unlocked || st.SignaturesLeft != 1 || st.ExpiresIn <= 0 || st.ExpiresIn > 60 {
		t.Fatalf("status = %+v, want unlocked for one more signature", st)
	}
	// TLS 1.1's MD5+SHA-1: no DigestInfo, padded here for a raw-RSA card
	md5sha1 := make([]byte, 36)
	r = b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, md5sha1))
	if r.Status != p11wire.StatusOK || rsa.VerifyPKCS1v15(&key.PublicKey, 0, md5sha1, r.Signature) != nil {
		t.Fatalf("raw PKCS#1: %+v", r)
	}
	select {
	case <-card.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the card was not closed when the unlock was used up")
	}
	if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))); r.Status != p11wire.StatusNotAvailable {
		t.Fatalf("a fourth signature: %+v", r)
	}
}

// The unlock ends in time, unused.
func TestUnlockExpires(t *testing.T) {
	card := newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	b := newBridge(cards, Config{UnlockFor: time.Millisecond})
	b.Keep(card, "")
	select {
	case <-card.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the unlock did not end in time")
	}
	if s, _ := b.Unlocked(); s != "" {
		t.Fatalf("still unlocked: %s", s)
	}
	d := sha256.Sum256([]byte("x"))
	if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))); r.Status != p11wire.StatusNotAvailable {
		t.Fatalf("after expiry: %+v", r)
	}
}

// Another reader's card taken out (another program's, another test's)
// leaves the unlock of a card still present alone.
func TestUnlockOtherCardRemoved(t *testing.T) {
	card := newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	b := newBridge(cards, Config{})
	b.Keep(card, "")
	b.Changed("card-removed")
	b.Changed("reader-removed")
	b.Snapshot(ctx, 0) // after the event's own reading, or instead of it
	if s, left := b.Unlocked(); s == "" || left != DefaultSignatures {
		t.Fatalf("unlock after another card's removal: %q, %d signatures", s, left)
	}
	b.Changed("pcsc-lost")
	if s, _ := b.Unlocked(); s != "" {
		t.Fatal("still unlocked with PC/SC lost")
	}
}

// A card taken out ends the unlock: at once on the event, or when a
// signature finds it gone, or when a snapshot no longer shows it.
func TestUnlockCardRemoved(t *testing.T) {
	for _, how := range []string{"event", "sign", "snapshot"} {
		t.Run(how, func(t *testing.T) {
			card := newFakeCard(t, rsaKey(t))
			cards := &fakeCards{}
			cards.set(slotWith("a", card, false))
			b := newBridge(cards, Config{})
			d := sha256.Sum256([]byte("x"))
			req := signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))
			b.Keep(card, "")
			switch how {
			case "event":
				cards.set(slotWith("a", nil, false))
				b.Changed("card-removed")
			case "sign":
				card.mu.Lock()
				card.removed = true
				card.mu.Unlock()
				if r := b.Sign(ctx, req); r.Status != p11wire.StatusTokenRemoved {
					t.Fatalf("sign on a removed card: %+v", r)
				}
				if st := b.Status(); st.LastRefusalCode != protocol.CodeCardRemoved {
					t.Fatalf("status = %+v: want the refusal's code", st)
				}
			case "snapshot":
				cards.set(slotWith("a", nil, false))
				b.Changed("")
				b.Snapshot(ctx, 0)
			}
			select {
			case <-card.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the unlock outlived its card")
			}
			if s, _ := b.Unlocked(); s != "" {
				t.Fatal("still unlocked")
			}
		})
	}
}

// Another card, another key, a mechanism the key has not: refused.
func TestSignRefusals(t *testing.T) {
	card := newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	b := newBridge(cards, Config{Signatures: 100})
	b.Keep(card, "")
	d := sha256.Sum256([]byte("x"))
	for name, tc := range map[string]struct {
		edit func(r *p11wire.SignRequest)
		want p11wire.Status
	}{
		"other serial": {func(r *p11wire.SignRequest) { r.Serial = "0000000000000000" }, p11wire.StatusNotAvailable},
		"other key":    {func(r *p11wire.SignRequest) { r.KeyID = []byte{1} }, p11wire.StatusKeyNotFound},
		"no slot":      {func(r *p11wire.SignRequest) { r.Slot = 999 }, p11wire.StatusNoToken},
		"ECDSA on RSA": {func(r *p11wire.SignRequest) { r.Mechanism = p11wire.CKM_ECDSA }, p11wire.StatusMechanism},
		"PSS, no raw":  {func(r *p11wire.SignRequest) { r.Mechanism, r.Data = p11wire.CKM_RSA_PKCS_PSS, d[:] }, p11wire.StatusMechanism},
		"bare hash":    {func(r *p11wire.SignRequest) { r.Data = d[:] }, p11wire.StatusDataInvalid},
	} {
		req := signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))
		tc.edit(req)
		if r := b.Sign(ctx, req); r.Status != tc.want {
			t.Errorf("%s: %+v, want status %d", name, r, tc.want)
		}
	}
}

// ECDSA answers r||s, also when the card path gives DER.
func TestSignECDSA(t *testing.T) {
	for _, der := range []bool{false, true} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		card := newFakeCard(t, key)
		card.der = der
		cards := &fakeCards{}
		cards.set(slotWith("a", card, false))
		b := newBridge(cards, Config{})
		b.Keep(card, "")
		d := sha256.Sum256([]byte("tls 1.3"))
		r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_ECDSA, d[:]))
		if r.Status != p11wire.StatusOK || len(r.Signature) != 64 {
			t.Fatalf("der %v: %+v", der, r)
		}
		rr, ss := new(big.Int).SetBytes(r.Signature[:32]), new(big.Int).SetBytes(r.Signature[32:])
		if !ecdsa.Verify(&key.PublicKey, d[:], rr, ss) {
			t.Fatalf("der %v: the r||s signature does not verify", der)
		}
		if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_ECDSA, d[:20])); r.Status != p11wire.StatusDataInvalid {
			t.Fatalf("a SHA-1 hash: %+v", r)
		}
	}
}

// At signing time with nothing unlocked, Ask gets the PIN; the card then
// stays unlocked for the page's other connections.
func TestSignAsks(t *testing.T) {
	key := rsaKey(t)
	card := newFakeCard(t, key)
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	asked := 0
	var answer error
	b := newBridge(cards, Config{Signatures: 2,
		Open: func(_ context.Context, k string) (Card, error) {
			if k != "a" {
				t.Errorf("opened slot %q", k)
			}
			return card, nil
		},
		Ask: func(context.Context, Card) error { asked++; return answer }})
	d := sha256.Sum256([]byte("x"))
	answer = protocol.Errorf(protocol.CodeUserCancelled, "cancel")
	if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))); r.Status != p11wire.StatusCancelled || !card.isClosed() {
		t.Fatalf("cancelled: %+v", r)
	}
	card.closed, card.once = make(chan struct{}), sync.Once{}
	answer = nil
	for i := range 2 {
		if r := b.Sign(ctx, signReq(t, b, card, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:]))); r.Status != p11wire.StatusOK {
			t.Fatalf("signature %d: %+v", i, r)
		}
	}
	if asked != 2 {
		t.Fatalf("asked %d times, want once for the cancel and once for both signatures", asked)
	}
}

func TestPSSBlock(t *testing.T) {
	key := rsaKey(t)
	for _, bits := range []int{2048, 2047, 1025} { // emLen one byte shorter than the modulus, and not
		k := key
		if bits != 2048 {
			var err error
			if k, err = rsa.GenerateKey(rand.Reader, bits); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range []struct {
			mech, mgf uint64
			hash      crypto.Hash
		}{{p11wire.CKM_SHA256, p11wire.CKG_MGF1_SHA256, crypto.SHA256}, {p11wire.CKM_SHA384, p11wire.CKG_MGF1_SHA384, crypto.SHA384}} {
			d := make([]byte, h.hash.Size())
			block, err := pssBlock(&k.PublicKey, &p11wire.PSSParams{Hash: h.mech, MGF: h.mgf, SaltLen: uint64(h.hash.Size())}, d)
			if err != nil {
				t.Fatal(err)
			}
			m := new(big.Int).SetBytes(block)
			sig := m.Exp(m, k.D, k.N).FillBytes(make([]byte, k.Size()))
			if err := rsa.VerifyPSS(&k.PublicKey, h.hash, d, sig, &rsa.PSSOptions{SaltLength: h.hash.Size()}); err != nil {
				t.Errorf("%d bits, %v: %v", bits, h.hash, err)
			}
		}
	}
	for _, p := range []*p11wire.PSSParams{nil, {Hash: p11wire.CKM_SHA256, MGF: p11wire.CKG_MGF1_SHA1, SaltLen: 32},
		{Hash: p11wire.CKM_SHA256, MGF: p11wire.CKG_MGF1_SHA256, SaltLen: 1 << 20}, {Hash: 12345, MGF: p11wire.CKG_MGF1_SHA256}} {
		if _, err := pssBlock(&key.PublicKey, p, make([]byte, 32)); err == nil {
			t.Errorf("pssBlock took %+v", p)
		}
	}
	if _, err := pssBlock(&key.PublicKey, &p11wire.PSSParams{Hash: p11wire.CKM_SHA256, MGF: p11wire.CKG_MGF1_SHA256}, make([]byte, 48)); err == nil {
		t.Error("pssBlock took a hash of the wrong length")
	}
}

func TestRawECDSA(t *testing.T) {
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{big.NewInt(1), big.NewInt(2)})
	if sig, err := rawECDSA(der, 32); err != nil || len(sig) != 64 || sig[31] != 1 || sig[63] != 2 {
		t.Fatalf("rawECDSA(DER) = %x, %v", sig, err)
	}
	big33 := new(big.Int).Lsh(big.NewInt(1), 8*32)
	for _, bad := range [][]byte{nil, {0x30, 0}, mustDER(big33, big.NewInt(1)), mustDER(big.NewInt(0), big.NewInt(1)), append(der, 0)} {
		if _, err := rawECDSA(bad, 32); err == nil {
			t.Errorf("rawECDSA(%x) took it", bad)
		}
	}
}

func mustDER(r, s *big.Int) []byte {
	b, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	return b
}

func FuzzRawECDSA(f *testing.F) {
	f.Add(mustDER(big.NewInt(5), big.NewInt(7)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sig, err := rawECDSA(b, 32); err == nil && len(sig) != 64 {
			t.Fatalf("%d bytes", len(sig))
		}
	})
}

// A card whose RSA key only the card pads (no raw RSA) is named in the
// status as one that TLS 1.3 sites cannot use; an EC card and a raw-RSA
// card are not.
func TestStatusTLS12Only(t *testing.T) {
	pkcs1 := newFakeCard(t, rsaKey(t))
	raw := newFakeCard(t, rsaKey(t))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cards := &fakeCards{}
	cards.set(slotWith("a", pkcs1, false), slotWith("b", raw, true), slotWith("c", newFakeCard(t, ec), false))
	b := newBridge(cards, Config{})
	b.Snapshot(ctx, 0)
	if got := b.Status().TLS12Only; len(got) != 1 || got[0] != b.slots[0].Token.Label {
		t.Fatalf("TLS12Only = %q, want only the first card's label", got)
	}
}

// "unlock" takes the card it is told (the kind of the control the holder
// clicked, or eidlink unlock --card), never just the first: by kind, slot
// number, serial or part of the label; an ambiguous name, or none with
// several cards, lists the cards; a name that fits none is "no card", so
// that a card wait goes on.
func TestChoose(t *testing.T) {
	cie := newFakeCard(t, rsaKey(t))
	cns := newFakeCardOf(t, rsaKey(t), protocol.TokenStatus{CardKind: "cns", Holder: "LUCIE BIANCHI", Label: "CNS"})
	cards := &fakeCards{}
	cards.set(slotWith("a", cie, false), slotWith("b", cns, false), slotWith("c", nil, false))
	b := newBridge(cards, Config{})
	s := b.Snapshot(ctx, 0)
	ida, idb := s.Slots[0].ID, s.Slots[1].ID
	for want, key := range map[string]string{
		"cns": "b", "CIE": "a", // "cie" is also in "LUCIE": a kind names cards of that kind only
		strconv.FormatUint(idb, 10): "b", strconv.FormatUint(ida, 10): "a",
		"bianchi": "b", "CIE di MARIO ROSSI": "a", Serial(cns.cert): "b",
	} {
		k, serial, err := b.Choose(ctx, want)
		if err != nil || k != key {
			t.Errorf("Choose(%q) = %q, %v; want slot %q", want, k, err, key)
		} else if c := map[string]*fakeCard{"a": cie, "b": cns}[key]; serial != Serial(c.cert) {
			t.Errorf("Choose(%q): serial %s", want, serial)
		}
	}
	for want, code := range map[string]protocol.Code{"": protocol.CodeCardAmbiguous, "di": protocol.CodeCardAmbiguous, "99": protocol.CodeNoCard, "VERDI": protocol.CodeNoCard} {
		_, _, err := b.Choose(ctx, want)
		e := protocol.AsError(err)
		if e == nil || e.Code != code || !strings.Contains(e.Message, `"CIE di MARIO ROSSI" (cie)`) || !strings.Contains(e.Message, `"CNS di LUCIE BIANCHI" (cns)`) {
			t.Errorf("Choose(%q) = %v; want %s listing both cards", want, err, code)
		}
	}
	// The cards are read again: the CNS taken out, the CIE is the only card.
	cards.set(slotWith("a", cie, false), slotWith("b", nil, false))
	if k, _, err := b.Choose(ctx, ""); err != nil || k != "a" {
		t.Fatalf("Choose(\"\") with one card = %q, %v", k, err)
	}
	if _, _, err := b.Choose(ctx, "cns"); protocol.AsError(err).Code != protocol.CodeNoCard {
		t.Fatalf("Choose(cns) with the CNS gone = %v, want no card", err)
	}
	cards.set()
	if _, _, err := b.Choose(ctx, ""); protocol.AsError(err).Code != protocol.CodeNoCard {
		t.Fatalf("Choose with no card = %v", err)
	}
}

// A signature with another card than the unlocked one asks that card's
// PIN in the unlock's turn and leaves the unlock alone: it serves its
// signatures afterwards, and the other card is not kept.
func TestSignOtherCardKeepsUnlock(t *testing.T) {
	cieKey, cnsKey := rsaKey(t), rsaKey(t)
	cie := newFakeCard(t, cieKey)
	cns := newFakeCardOf(t, cnsKey, protocol.TokenStatus{CardKind: "cns", Holder: "ANNA BIANCHI", Label: "CNS"})
	cards := &fakeCards{}
	cards.set(slotWith("a", cie, false), slotWith("b", cns, false))
	var b *Bridge
	var asked []Card
	b = newBridge(cards, Config{Signatures: 2,
		// Open takes the card's turn, as the service's queue does: the unlock ends first.
		Open: func(context.Context, string) (Card, error) { b.Drop(); return cns, nil },
		OpenHeld: func(_ context.Context, k string) (Card, error) {
			return map[string]*fakeCard{"a": cie, "b": cns}[k], nil
		},
		Ask: func(_ context.Context, c Card) error { asked = append(asked, c); return nil }})
	b.Keep(cie, "https://www.inps.it")
	d := sha256.Sum256([]byte("another site's handshake"))
	r := b.Sign(ctx, signReq(t, b, cns, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:])))
	if r.Status != p11wire.StatusOK || rsa.VerifyPKCS1v15(&cnsKey.PublicKey, crypto.SHA256, d[:], r.Signature) != nil {
		t.Fatalf("the other card's signature: %+v", r)
	}
	if len(asked) != 1 || asked[0] != Card(cns) {
		t.Fatalf("asked the PIN of %v, want the other card's once", asked)
	}
	if !cns.isClosed() {
		t.Fatal("the other card was kept open")
	}
	if serial, left := b.Unlocked(); serial != Serial(cie.cert) || left != 2 || cie.isClosed() {
		t.Fatalf("the unlock after another card's signature: %q, %d signatures, closed %v", serial, left, cie.isClosed())
	}
	r = b.Sign(ctx, signReq(t, b, cie, p11wire.CKM_RSA_PKCS, digestInfo(t, d[:])))
	if r.Status != p11wire.StatusOK || rsa.VerifyPKCS1v15(&cieKey.PublicKey, crypto.SHA256, d[:], r.Signature) != nil || len(asked) != 1 {
		t.Fatalf("the unlocked card's signature: %+v, asked %d times", r, len(asked))
	}
}

// Close ends the unlock and returns only once the card is closed, after
// the signature under way: nothing of the card outlives a stopping
// service.
func TestCloseWaitsForTheCard(t *testing.T) {
	card := newFakeCard(t, rsaKey(t))
	cards := &fakeCards{}
	cards.set(slotWith("a", card, false))
	b := newBridge(cards, Config{})
	b.Close() // nothing unlocked: returns at once
	b.Keep(card, "")
	u := b.take(Serial(card.AuthCertificate())) // a signature under way
	done := make(chan struct{})
	go func() {
		b.Close()
		close(done)
	}()
	for serial, _ := b.Unlocked(); serial != ""; serial, _ = b.Unlocked() {
		runtime.Gosched() // until Close has ended the unlock
	}
	select {
	case <-done:
		t.Fatal("Close returned with a signature under way")
	default:
	}
	if card.isClosed() {
		t.Fatal("the card closed with a signature under way")
	}
	u.users.Done()
	<-done
	if !card.isClosed() {
		t.Fatal("Close returned before the card was closed")
	}
}
