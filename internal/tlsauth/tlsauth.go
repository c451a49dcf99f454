// Package tlsauth is the service's side of TLS client authentication
// through eidlink's PKCS#11 module (pkcs11/): the snapshot of the cards
// the module presents to the browsers, the signatures it asks for, and
// the narrow unlock that lets those signatures go without a PIN prompt
// inside the browser.
//
// # Snapshot
//
// Each slot a PKCS#11 module shows (a reader, or a module's virtual slot)
// gets an id, kept while the service runs, so that a card taken out and
// put back is in the same slot. A card in a slot is presented by its
// authentication key only (a CNS's signature key never reaches a
// browser): certificate, public and private key with one CKA_ID
// (p11wire.KeyObjects), and its serial, derived from the certificate, so
// that a different card in the same slot is a different token. The
// generation changes whenever the snapshot does.
//
// # Unlock
//
// A browser signs the TLS handshake in the middle of a page load (Firefox
// on its networking thread, so no PIN window may wait there). So the
// holder gives the PIN before: the "unlock" command (the extension, when
// the holder clicks a site's CIE or CNS login; "eidlink unlock" in a
// terminal) logs in to the card and hands it to the Bridge, which keeps
// it logged in for a short while (Config.UnlockFor, a minute) and a few
// signatures (Config.Signatures: Firefox signs once per connection). The
// unlock ends when either runs out, when the card leaves, when a Web eID
// command takes the card (Drop), and with the service. While it lasts the
// card's turn (the service's queue) stays with it.
//
// A signature with nothing unlocked asks the PIN through Config.Ask when
// set (an extension connected to the service) and else is refused with
// p11wire.StatusNotAvailable: the browser fails the handshake with
// CKR_FUNCTION_CANCELED and no dialog. A signature with another card than
// the unlocked one asks that card's PIN the same way, in the unlock's turn
// (Config.OpenHeld), and leaves the unlock alone.
//
// Which card "unlock" takes, when several are inserted, is Choose's: the
// kind of the login control the holder clicked, or the card named to
// "eidlink unlock --card".
package tlsauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/p11wire"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Defaults of Config.
const (
	DefaultUnlockFor  = time.Minute
	DefaultSignatures = 4
	// DefaultFresh is how long a snapshot is reused: the module asks
	// for one on every C_GetSlotList, and reading the cards through
	// their module costs milliseconds to tenths of a second.
	DefaultFresh = time.Second
)

// maxSlots is the protocol's limit of slots in a snapshot.
const maxSlots = 32

// Cards lists the slots and the cards in them, without taking the card's
// turn: *cryptoki.Provider.
type Cards interface {
	Slots(ctx context.Context) []cryptoki.Slot
}

// Card is an open session on a card: Card, which this package
// does not import (it sits below the command loop).
type Card interface {
	Info() protocol.TokenStatus
	AuthCertificate() *x509.Certificate
	SigningCertificate() *x509.Certificate
	Login(ctx context.Context, pin []byte) error
	Sign(ctx context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error)
	Close() error
}

// RawSigner is a card that applies its raw RSA operation to a block
// (cryptoki: CKM_RSA_X_509), for the PSS that the service encodes.
type RawSigner interface {
	SignRaw(ctx context.Context, cert *x509.Certificate, block []byte) ([]byte, error)
}

// ErrNotAvailable is what Config.Ask returns when nothing can ask the
// PIN (no extension connected): the signature is refused with
// StatusNotAvailable.
var ErrNotAvailable = errors.New("the card is not unlocked and no eidlink extension is connected to ask the PIN: unlock it first (the site's login button, or eidlink unlock)")

// Config configures a Bridge.
type Config struct {
	Cards Cards
	// Open opens the card in the slot with that key (cryptoki.Slot.Key)
	// in its turn, as the Web eID commands do: an unlocked card gives its
	// turn up first.
	Open func(ctx context.Context, key string) (Card, error)
	// OpenHeld, when set, opens the card in the slot with that key in the
	// turn that an unlocked card already holds, for a signature with
	// another card that must not end the unlock; nil opens it with Open.
	OpenHeld func(ctx context.Context, key string) (Card, error)
	// Ask, when set, gets the PIN for card at signing time and logs in
	// (an extension's PIN window); nil refuses such signatures with
	// StatusNotAvailable.
	Ask func(ctx context.Context, card Card) error
	// UnlockFor, Signatures and Fresh: 0 means their Default.
	UnlockFor  time.Duration
	Signatures int
	Fresh      time.Duration
	Log        *slog.Logger
}

// Bridge answers eidlink's PKCS#11 module (a p11wire.Handler) and keeps
// the unlocked card (Keep: the service's command.Unlocker).
type Bridge struct {
	cfg     Config
	started time.Time

	mu      sync.Mutex
	ids     map[string]uint64 // slot key -> id
	keys    map[uint64]string
	nextID  uint64
	gen     uint64
	last    []byte // the encoded slots of generation gen
	slots   []p11wire.Slot
	raw     map[string]bool // card serial -> its key does raw RSA
	tls12   []string        // labels of the cards TLS 1.3 cannot use (TLSStatus.TLS12Only)
	cards   []choice        // the cards of the snapshot, for Choose
	scanned time.Time       // zero: to scan again
	unlock  *unlocked
	refusal string // the last signature refused: when and why
	refused struct {
		code protocol.Code
		at   time.Time
	}

	scan sync.Mutex // one scan at a time
}

var _ p11wire.Handler = (*Bridge)(nil)

// unlocked is a card the holder unlocked: logged in, holding its turn.
type unlocked struct {
	card   Card
	serial string
	left   int // signatures
	until  time.Time
	timer  *time.Timer
	users  sync.WaitGroup // signatures under way
	closed chan struct{}  // closed once card is, after the unlock ended
}

// New returns a Bridge.
func New(cfg Config) *Bridge {
	if cfg.UnlockFor <= 0 {
		cfg.UnlockFor = DefaultUnlockFor
	}
	if cfg.Signatures <= 0 {
		cfg.Signatures = DefaultSignatures
	}
	if cfg.Fresh <= 0 {
		cfg.Fresh = DefaultFresh
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Bridge{cfg: cfg, started: time.Now(), ids: map[string]uint64{}, keys: map[uint64]string{}, raw: map[string]bool{}}
}

// KeyID returns the CKA_ID, and Serial the token serial, under which the
// module sees the card with cert: derived from the certificate, so that
// another card is another token.
func KeyID(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return sum[:8]
}

// Serial is the token serial of the card with cert (16 characters).
func Serial(cert *x509.Certificate) string { return hex.EncodeToString(KeyID(cert)) }

// Changed tells the bridge that a card or reader event came: the next
// snapshot reads the cards again. PC/SC lost ends the unlock; a card or
// reader that left ends it when the cards, read again at once, no longer
// hold the unlocked one (the event may be another reader's).
func (b *Bridge) Changed(event string) {
	b.mu.Lock()
	b.scanned = time.Time{}
	b.mu.Unlock()
	switch event {
	case "pcsc-lost":
		b.Drop()
	case "card-removed", "reader-removed":
		go b.refresh(context.Background())
	}
}

// Snapshot implements p11wire.Handler.
func (b *Bridge) Snapshot(ctx context.Context, known uint64) *p11wire.Response {
	b.refresh(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if known != 0 && known == b.gen {
		return &p11wire.Response{Status: p11wire.StatusUnchanged, Generation: b.gen}
	}
	return &p11wire.Response{Status: p11wire.StatusOK, Generation: b.gen, Slots: b.slots}
}

// refresh reads the cards again when the last reading is stale.
func (b *Bridge) refresh(ctx context.Context) {
	b.scan.Lock()
	defer b.scan.Unlock()
	b.mu.Lock()
	fresh := !b.scanned.IsZero() && time.Since(b.scanned) < b.cfg.Fresh
	b.mu.Unlock()
	if fresh {
		return
	}
	found := b.cfg.Cards.Slots(ctx)
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	slots := make([]p11wire.Slot, 0, len(found))
	raw := map[string]bool{}
	var tls12 []string
	var cards []choice
	for _, s := range found {
		if len(slots) == maxSlots {
			b.cfg.Log.Warn("more slots than the PKCS#11 module takes: the rest are left out", "max", maxSlots)
			break
		}
		id, ok := b.ids[s.Key]
		if !ok {
			b.nextID++
			id = b.nextID
			b.ids[s.Key], b.keys[id] = id, s.Key
		}
		slot := p11wire.Slot{ID: id, Description: p11wire.Truncate(s.Description, 64)}
		if s.Card != nil {
			tok, err := token(s.Card)
			if err != nil {
				b.cfg.Log.Warn("cannot present the card to the PKCS#11 module", "slot", s.Description, "err", err)
			} else {
				slot.Token = tok
				raw[tok.Serial] = s.Card.RawRSA
				cards = append(cards, choice{id: id, key: s.Key, kind: s.Card.Info.CardKind, label: tok.Label, serial: tok.Serial})
				if _, isRSA := s.Card.Cert.PublicKey.(*rsa.PublicKey); isRSA && !s.Card.RawRSA {
					tls12 = append(tls12, tok.Label)
				}
			}
		}
		slots = append(slots, slot)
	}
	enc, err := (&p11wire.Response{Slots: slots}).MarshalBinary()
	if err != nil {
		b.cfg.Log.Warn("cannot encode the snapshot", "err", err)
		return
	}
	if b.gen == 0 || !bytes.Equal(enc, b.last) {
		b.gen++
		b.last, b.slots, b.raw = enc, slots, raw
	}
	b.scanned, b.tls12, b.cards = time.Now(), tls12, cards
	if u := b.unlock; u != nil && !hasSerial(slots, u.serial) {
		b.dropLocked(u, "the card left")
	}
}

func hasSerial(slots []p11wire.Slot, serial string) bool {
	for _, s := range slots {
		if s.Token != nil && s.Token.Serial == serial {
			return true
		}
	}
	return false
}

// token presents a card.
func token(c *cryptoki.SlotCard) (*p11wire.Token, error) {
	kind := strings.ToUpper(c.Info.CardKind)
	if kind == "" || kind == "UNKNOWN" {
		kind = c.Info.Label
	}
	label := p11wire.TokenLabel(kind, c.Info.Holder)
	objs, err := p11wire.KeyObjects(c.Cert, KeyID(c.Cert), label)
	if err != nil {
		return nil, err
	}
	return &p11wire.Token{
		Label:        label,
		Manufacturer: p11wire.Truncate(c.Info.Manufacturer, 32),
		Model:        p11wire.Truncate(c.Info.Model, 16),
		Serial:       Serial(c.Cert),
		Mechanisms:   p11wire.Mechanisms(c.Cert, c.RawRSA),
		Objects:      objs,
	}, nil
}

// choice is a card of the snapshot as Choose sees it.
type choice struct {
	id                       uint64 // the slot's id, the module's slot number
	key, kind, label, serial string
}

func (c choice) String() string {
	return fmt.Sprintf("slot %d %q (%s)", c.id, c.label, c.kind)
}

// Choose returns the slot key and the token serial of the card that want
// names, as "unlock" names it (protocol.UnlockArgs.Card): a card kind
// ("cie", "cns"), the slot number that eidlink's PKCS#11 module shows,
// the token serial, or (part of) the token label, case aside; "" names
// the only card there is. The cards are read again first. No card that
// fits is CodeNoCard (a card wait asks again); several are
// CodeCardAmbiguous, with the list of the cards.
func (b *Bridge) Choose(ctx context.Context, want string) (key, serial string, err error) {
	b.mu.Lock()
	b.scanned = time.Time{}
	b.mu.Unlock()
	b.refresh(ctx)
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	b.mu.Lock()
	cards := b.cards
	b.mu.Unlock()
	var fit []choice
	for _, c := range cards {
		if c.fits(want) {
			fit = append(fit, c)
		}
	}
	list := func(cs []choice) string {
		s := make([]string, len(cs))
		for i, c := range cs {
			s[i] = c.String()
		}
		return strings.Join(s, ", ")
	}
	switch {
	case len(fit) == 1:
		return fit[0].key, fit[0].serial, nil
	case len(cards) == 0:
		return "", "", protocol.Errorf(protocol.CodeNoCard, "no card with an authentication certificate in any reader")
	case len(fit) == 0:
		return "", "", protocol.Errorf(protocol.CodeNoCard, "no card is %q; the cards: %s", want, list(cards))
	case want == "":
		return "", "", protocol.Errorf(protocol.CodeCardAmbiguous, "%d cards are inserted (%s): name the one to unlock by its kind, slot number or label", len(fit), list(fit))
	}
	return "", "", protocol.Errorf(protocol.CodeCardAmbiguous, "%d cards are %q (%s): name the one to unlock by its slot number or label", len(fit), want, list(fit))
}

// fits tells whether want names c (Choose). A kind names cards of that
// kind only, never a label that happens to contain it.
func (c choice) fits(want string) bool {
	if want == "" {
		return true
	}
	if n, err := strconv.ParseUint(want, 10, 64); err == nil {
		return n == c.id
	}
	if kind := eidcert.Kind(strings.ToLower(want)); kind == eidcert.CIE || kind == eidcert.CNS {
		return strings.EqualFold(c.kind, want)
	}
	return strings.EqualFold(c.serial, want) || strings.Contains(strings.ToLower(c.label), strings.ToLower(want))
}

// Keep keeps card, logged in, for the
// module's signatures, in place of any card unlocked before, and closes
// it when the unlock ends.
func (b *Bridge) Keep(card Card, origin string) (*protocol.Unlocked, error) {
	return b.keep(card, origin, b.cfg.Signatures)
}

func (b *Bridge) keep(card Card, origin string, n int) (*protocol.Unlocked, error) {
	info := card.Info()
	u := &unlocked{card: card, serial: Serial(card.AuthCertificate()), left: n, until: time.Now().Add(b.cfg.UnlockFor), closed: make(chan struct{})}
	b.Drop()
	b.mu.Lock()
	b.unlock = u
	u.timer = time.AfterFunc(b.cfg.UnlockFor, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.dropLocked(u, "time is up")
	})
	b.mu.Unlock()
	b.cfg.Log.Info("card unlocked for TLS signatures", "origin", origin, "signatures", n, "seconds", b.cfg.UnlockFor.Seconds())
	return &protocol.Unlocked{ExpiresIn: int(b.cfg.UnlockFor / time.Second), Signatures: n, Origin: origin,
		CardKind: info.CardKind, Holder: info.Holder, TokenLabel: info.Label}, nil
}

// Drop ends the unlock, if any: the card is logged out and its turn
// given up. The service calls it before a Web eID command takes the card.
func (b *Bridge) Drop() { b.drop("dropped") }

// Close ends the unlock, if any, and returns once its card is closed: the
// service calls it when it stops, so that no connection to the card (an
// exclusive one, for a CIE on the native driver) outlives it.
func (b *Bridge) Close() {
	if closed := b.drop("the service stops"); closed != nil {
		<-closed
	}
}

// drop ends the unlock, if any, and returns a channel closed once its
// card is (nil if nothing was unlocked).
func (b *Bridge) drop(why string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.unlock
	if u == nil {
		return nil
	}
	b.dropLocked(u, why)
	return u.closed
}

// Unlocked reports the unlock: the card's serial and the signatures
// left, or "" and 0.
func (b *Bridge) Unlocked() (serial string, left int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.unlock == nil {
		return "", 0
	}
	return b.unlock.serial, b.unlock.left
}

// Status reports the unlock and the last refusal, for "status".
func (b *Bridge) Status() *protocol.TLSStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := &protocol.TLSStatus{LastRefusal: b.refusal, TLS12Only: b.tls12, LastRefusalCode: b.refused.code, StartedAt: b.started.UnixMilli()}
	if !b.refused.at.IsZero() {
		st.LastRefusalAt = b.refused.at.UnixMilli()
	}
	if u := b.unlock; u != nil {
		st.Unlocked, st.SignaturesLeft = true, u.left
		st.ExpiresIn = int(time.Until(u.until).Round(time.Second) / time.Second)
	}
	return st
}

// dropLocked ends u if it is the unlock; its card is closed once the
// signatures under way are done.
func (b *Bridge) dropLocked(u *unlocked, why string) {
	if b.unlock != u {
		return
	}
	b.unlock = nil
	u.timer.Stop()
	b.cfg.Log.Info("TLS unlock ended", "why", why)
	go func() {
		u.users.Wait()
		u.card.Close()
		close(u.closed)
	}()
}

// take returns the unlock for a signature with the card serial, one
// signature fewer, or nil.
func (b *Bridge) take(serial string) *unlocked {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.unlock
	if u == nil || u.serial != serial || u.left <= 0 {
		return nil
	}
	u.left--
	u.users.Add(1)
	if u.left == 0 {
		b.dropLocked(u, "signatures used up")
	}
	return u
}

// Sign implements p11wire.Handler.
func (b *Bridge) Sign(ctx context.Context, req *p11wire.SignRequest) *p11wire.Response {
	res := b.sign(ctx, req)
	if res.Status != p11wire.StatusOK {
		b.cfg.Log.Warn("refused a TLS signature", "status", res.Status, "why", res.Message)
		now := time.Now()
		b.mu.Lock()
		b.refusal = now.Format(time.TimeOnly) + " " + res.Message
		b.refused.code, b.refused.at = refusalCode(res), now
		b.mu.Unlock()
	}
	return res
}

// refusalCode is the code under which the extension explains a refused
// signature (the status's tls.lastRefusalCode).
func refusalCode(res *p11wire.Response) protocol.Code {
	switch res.Status {
	case p11wire.StatusCancelled:
		return protocol.CodeUserCancelled
	case p11wire.StatusTokenRemoved, p11wire.StatusNoToken:
		return protocol.CodeCardRemoved
	case p11wire.StatusPINLocked:
		return protocol.CodePINBlocked
	case p11wire.StatusKeyNotFound:
		return protocol.CodeNoCertificate
	case p11wire.StatusNotAvailable:
		if res.Message == ErrNotAvailable.Error() {
			return protocol.CodeTLSNotUnlocked
		}
		return protocol.CodeBusy
	case p11wire.StatusDataInvalid, p11wire.StatusMechanism:
		return protocol.CodeInvalidArgument
	}
	return protocol.CodeCardError
}

func (b *Bridge) sign(ctx context.Context, req *p11wire.SignRequest) *p11wire.Response {
	b.mu.Lock()
	key, known := b.keys[req.Slot]
	rawRSA := b.raw[req.Serial]
	b.mu.Unlock()
	if !known {
		return fail(p11wire.StatusNoToken, "no such slot")
	}
	if u := b.take(req.Serial); u != nil {
		defer u.users.Done()
		res := signWith(ctx, u.card, req, rawRSA)
		if res.Status == p11wire.StatusTokenRemoved {
			b.mu.Lock()
			b.dropLocked(u, "the card left")
			b.mu.Unlock()
		}
		return res
	}
	if b.cfg.Ask == nil {
		return failErr(ErrNotAvailable)
	}
	card, beside, err := b.open(ctx, key, req.Serial)
	if err != nil {
		return failErr(err)
	}
	if beside != nil {
		defer beside.users.Done()
	}
	if Serial(card.AuthCertificate()) != req.Serial {
		card.Close()
		return fail(p11wire.StatusTokenRemoved, "another card is in the slot")
	}
	if err := b.cfg.Ask(ctx, card); err != nil {
		card.Close()
		return failErr(err)
	}
	res := signWith(ctx, card, req, rawRSA)
	if res.Status != p11wire.StatusOK || b.cfg.Signatures < 2 || beside != nil {
		card.Close()
		return res
	}
	b.keep(card, "", b.cfg.Signatures-1) // the rest of the page's connections
	return res
}

// open opens the card in the slot with key for a signature at signing
// time. With another card unlocked (and OpenHeld), the card is opened in
// the turn that unlock holds, which stays held until the caller is done
// with it (beside.users.Done): the unlock goes on, and this card is
// closed after its signature. Otherwise Open ends any unlock first.
func (b *Bridge) open(ctx context.Context, key, serial string) (card Card, beside *unlocked, err error) {
	if b.cfg.OpenHeld != nil {
		b.mu.Lock()
		if beside = b.unlock; beside != nil && beside.serial == serial {
			beside = nil // unlocked meanwhile, used up since: Open ends it
		} else if beside != nil {
			beside.users.Add(1) // under mu, while it is the unlock: before any drop's Wait
		}
		b.mu.Unlock()
	}
	if beside == nil {
		card, err = b.cfg.Open(ctx, key)
		return card, nil, err
	}
	if card, err = b.cfg.OpenHeld(ctx, key); err != nil {
		beside.users.Done()
		return nil, nil, err
	}
	return card, beside, nil
}

func fail(s p11wire.Status, msg string) *p11wire.Response {
	return &p11wire.Response{Status: s, Message: msg}
}

// failErr answers a failure of the card path.
func failErr(err error) *p11wire.Response {
	s := p11wire.StatusDeviceError
	if errors.Is(err, ErrNotAvailable) {
		s = p11wire.StatusNotAvailable
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s = p11wire.StatusCancelled
	} else {
		switch protocol.AsError(err).Code {
		case protocol.CodeUserCancelled, protocol.CodeUserTimeout:
			s = p11wire.StatusCancelled
		case protocol.CodeBusy:
			s = p11wire.StatusNotAvailable
		case protocol.CodePINBlocked:
			s = p11wire.StatusPINLocked
		case protocol.CodeCardRemoved, protocol.CodeNoCard, protocol.CodeNoReader:
			s = p11wire.StatusTokenRemoved
		case protocol.CodeNoCertificate:
			s = p11wire.StatusKeyNotFound
		case protocol.CodeInvalidArgument:
			s = p11wire.StatusDataInvalid
		}
	}
	return fail(s, err.Error())
}

// signWith makes the signature req asks for with card, logged in.
func signWith(ctx context.Context, card Card, req *p11wire.SignRequest, rawRSA bool) *p11wire.Response {
	cert := card.AuthCertificate()
	if Serial(cert) != req.Serial {
		return fail(p11wire.StatusTokenRemoved, "another card is in the slot")
	}
	if !bytes.Equal(req.KeyID, KeyID(cert)) {
		return fail(p11wire.StatusKeyNotFound, "no key with that CKA_ID")
	}
	var sig []byte
	var err error
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		raw, _ := card.(RawSigner)
		if !rawRSA {
			raw = nil
		}
		switch req.Mechanism {
		case p11wire.CKM_RSA_PKCS:
			if h, digest, ok := cryptoki.ParseDigestInfo(req.Data); ok {
				sig, err = card.Sign(ctx, cert, h, digest)
			} else if raw != nil && len(req.Data) <= pub.Size()-11 {
				sig, err = raw.SignRaw(ctx, cert, pkcs1Block(req.Data, pub.Size()))
			} else {
				return fail(p11wire.StatusDataInvalid, "CKM_RSA_PKCS takes a SHA-2 or SHA-3 DigestInfo on this card")
			}
		case p11wire.CKM_RSA_PKCS_PSS:
			if raw == nil {
				return fail(p11wire.StatusMechanism, "this card pads PKCS#1 v1.5 itself: no PSS")
			}
			block, perr := pssBlock(pub, req.PSS, req.Data)
			if perr != nil {
				return fail(p11wire.StatusMechanism, perr.Error())
			}
			sig, err = raw.SignRaw(ctx, cert, block)
		default:
			return fail(p11wire.StatusMechanism, "an RSA key signs with CKM_RSA_PKCS or CKM_RSA_PKCS_PSS")
		}
	case *ecdsa.PublicKey:
		if req.Mechanism != p11wire.CKM_ECDSA {
			return fail(p11wire.StatusMechanism, "an EC key signs with CKM_ECDSA")
		}
		h, ok := hashOfSize(len(req.Data))
		if !ok {
			return fail(p11wire.StatusDataInvalid, "CKM_ECDSA takes a SHA-224, SHA-256, SHA-384 or SHA-512 hash")
		}
		sig, err = card.Sign(ctx, cert, h, req.Data)
		if err == nil {
			sig, err = rawECDSA(sig, (pub.Curve.Params().BitSize+7)/8)
		}
	default:
		return fail(p11wire.StatusMechanism, "the key is neither RSA nor EC")
	}
	if err != nil {
		return failErr(err)
	}
	return &p11wire.Response{Status: p11wire.StatusOK, Signature: sig}
}

// hashOfSize is the SHA-2 function whose digests are n bytes long.
func hashOfSize(n int) (crypto.Hash, bool) {
	for _, h := range []crypto.Hash{crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		if h.Size() == n {
			return h, true
		}
	}
	return 0, false
}
