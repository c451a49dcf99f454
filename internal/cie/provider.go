package cie

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
)

// ModuleName names the native driver where status lists card software.
const ModuleName = protocol.ModuleNativeCIE

// Provider finds CIEs in the PC/SC readers for the command loop (it
// satisfies command.Provider through command.Cards) and presents them as
// slots to eidlink's PKCS#11 module (Slots, OpenSlot). A Token keeps its
// PC/SC connection, and so its secure session, until Close.
//
// The certificate of the CIE in a reader is read once per insertion (the
// reader's event count tells): a later listing or opening sends no APDU
// for it, so that listing the slots never disturbs the secure session of
// a Token open on the card, and opening it costs no second reading.
type Provider struct {
	mu      sync.Mutex
	readers map[string]*inReader // the readers that held a CIE
	inUse   int                  // Tokens not closed
}

// InUse tells whether a Token is open: a secure session may be alive on
// a card, which any other program's plain command to it would end (a
// PKCS#11 module that probes a card it does not know, as OpenSC does at
// each slot listing).
func (p *Provider) InUse() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse > 0
}

// inReader is what the provider read from the CIE in a reader.
type inReader struct {
	mu     sync.Mutex // one reading or opening at a time
	events uint32     // the reader's event count (insertions, removals) then
	atr    []byte
	cert   *x509.Certificate // nil: not read, or unreadable (err)
	info   protocol.TokenStatus
	err    error
}

// fresh tells whether r was read from the card that is in the reader in
// state s.
func (r *inReader) fresh(s pcsc.ReaderState) bool {
	return (r.cert != nil || r.err != nil) && r.events == uint32(s.Event)>>16 && bytes.Equal(r.atr, s.ATR)
}

// Known tells whether the provider tried to read the certificate of the
// CIE in the reader in state s since the card came in, and returns it
// (nil when the card shows it only after the PIN).
func (p *Provider) Known(s pcsc.ReaderState) (*x509.Certificate, bool) {
	r := p.reader(s.Reader, false)
	if r == nil || !isCIE(s) {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert, r.fresh(s)
}

// ErrNoCIE is Open's error when no reader holds a CIE.
var ErrNoCIE = protocol.Errorf(protocol.CodeNoCard, "no CIE in the readers")

// slotKeyPrefix starts the keys of the native driver's slots.
const slotKeyPrefix = "eidlink-cie\x00"

// OwnsSlot tells whether key names one of the native driver's slots.
func OwnsSlot(key string) bool { return strings.HasPrefix(key, slotKeyPrefix) }

// isCIE tells whether a CIE is in the reader in state s.
func isCIE(s pcsc.ReaderState) bool {
	return s.Event.Has(pcsc.StatePresent) && card.Identify(s.ATR).Kind == eidcert.CIE
}

// reader returns what is known of name, creating it when add is set.
func (p *Provider) reader(name string, add bool) *inReader {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.readers[name]
	if r == nil && add {
		if p.readers == nil {
			p.readers = map[string]*inReader{}
		}
		r = &inReader{}
		p.readers[name] = r
	}
	return r
}

// states connects to PC/SC and reads the readers' states.
func states(ctx context.Context) (pcsc.Context, []pcsc.ReaderState, error) {
	pc, err := pcsc.Establish(ctx)
	if err != nil {
		return nil, nil, err
	}
	st, err := pcsc.Snapshot(ctx, pc)
	if err != nil {
		pc.Release()
		return nil, nil, err
	}
	return pc, st, nil
}

// Open connects to the first CIE in the readers and reads its
// certificate.
func (p *Provider) Open(ctx context.Context) (*Token, error) {
	pc, st, err := states(ctx)
	if err != nil {
		return nil, ErrNoCIE // no PC/SC: the PKCS#11 modules may still serve a card
	}
	for _, s := range st {
		if isCIE(s) {
			return p.open(ctx, pc, s.Reader)
		}
	}
	pc.Release()
	return nil, ErrNoCIE
}

// OpenSlot opens the CIE in the slot with that key (Slots).
func (p *Provider) OpenSlot(ctx context.Context, key string) (*Token, error) {
	name, ok := strings.CutPrefix(key, slotKeyPrefix)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeNoReader, "not a slot of the native CIE driver")
	}
	pc, st, err := states(ctx)
	if err != nil {
		return nil, protoErr(err)
	}
	for _, s := range st {
		if s.Reader == name && isCIE(s) {
			return p.open(ctx, pc, name)
		}
	}
	pc.Release()
	return nil, protocol.Errorf(protocol.CodeNoCard, "no CIE in %s", name)
}

// open connects to the CIE in reader, reads its certificate unless it
// was read since it came in, and the tries left; the Token owns pc.
func (p *Provider) open(ctx context.Context, pc pcsc.Context, reader string) (*Token, error) {
	r := p.reader(reader, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	h, c, err := r.connect(ctx, pc, reader, true)
	if err != nil {
		pc.Release()
		return nil, protoErr(err)
	}
	t := &Token{c: c, h: h, pc: pc, reader: reader, cert: r.cert, tries: -1, p: p}
	p.mu.Lock()
	p.inUse++
	p.mu.Unlock()
	// The tries left, spending none; the secure session opened for it
	// serves the login that follows.
	if n, err := c.TriesLeft(); err == nil {
		t.tries = n
	}
	return t, nil
}

// connect connects to the CIE in reader and reads its certificate, or
// takes the one read since the card came in. Call it with r.mu held.
//
// A Token's connection (own) keeps other programs out when none is
// connected yet: another program's plain command (OpenSC probing a card
// it does not know, at each slot listing) would end the secure session,
// and with it a verified PIN.
func (r *inReader) connect(ctx context.Context, pc pcsc.Context, reader string, own bool) (pcsc.Card, *Card, error) {
	var h pcsc.Card
	var err error
	if own {
		h, err = pc.ConnectExclusive(ctx, reader)
	}
	if !own || errors.Is(err, pcsc.ErrSharingViolation) {
		h, err = pc.Connect(ctx, reader)
	}
	if err != nil {
		return nil, nil, err
	}
	// The state after connecting: the card of this connection (another
	// one would make the connection fail).
	st, err := pcsc.Snapshot(ctx, pc)
	var s pcsc.ReaderState
	for _, x := range st {
		if x.Reader == reader {
			s = x
		}
	}
	var c *Card
	if err == nil {
		c, err = New(h)
	}
	if err != nil {
		h.Disconnect()
		return nil, nil, err
	}
	if r.fresh(s) && r.cert != nil {
		c.cert = r.cert.Raw
		return h, c, nil
	}
	r.events, r.atr, r.cert, r.err = uint32(s.Event)>>16, s.ATR, nil, nil
	var der []byte
	if der, err = c.Certificate(); err == nil {
		r.cert, err = x509.ParseCertificate(der)
	}
	if err != nil && !transient(ctx, err) { // the card's answer: kept until it leaves
		r.err = err
	}
	if errors.Is(err, ErrLoginRequired) { // shown after the PIN only: the Token reads it then
		return h, c, nil
	}
	if err != nil {
		c.Close()
		h.Disconnect()
		return nil, nil, err
	}
	r.info = status(reader, c.Family, r.cert, -1)
	return h, c, nil
}

// transient tells whether err may not come again: the card busy, PC/SC
// slow, a reset or a cancelled context.
func transient(ctx context.Context, err error) bool {
	for _, e := range []error{pcsc.ErrSharingViolation, pcsc.ErrNotAnswering, pcsc.ErrTimeout, pcsc.ErrCardReset, pcsc.ErrCardRemoved} {
		if errors.Is(err, e) {
			return true
		}
	}
	return ctx.Err() != nil
}

// Slots lists, for eidlink's PKCS#11 module, a slot for each reader that
// holds or held a CIE since the provider started (so that a card taken
// out and put back is in the same slot), with the CIE's certificate; a
// CIE whose certificate cannot be read shows as an empty slot.
func (p *Provider) Slots(ctx context.Context) []cryptoki.Slot {
	pc, st, err := states(ctx)
	if err != nil {
		return nil
	}
	defer pc.Release()
	var out []cryptoki.Slot
	for _, s := range st {
		r := p.reader(s.Reader, isCIE(s))
		if r == nil {
			continue
		}
		slot := cryptoki.Slot{Key: slotKeyPrefix + s.Reader, Description: s.Reader}
		if isCIE(s) {
			r.mu.Lock()
			if !r.fresh(s) {
				if h, c, err := r.connect(ctx, pc, s.Reader, false); err == nil {
					c.Close()
					h.Disconnect()
				}
			}
			if r.cert != nil {
				slot.Card = &cryptoki.SlotCard{Info: r.info, Cert: r.cert}
			}
			r.mu.Unlock()
		}
		out = append(out, slot)
	}
	return out
}

// Status lists the driver as a module and, without touching the cards
// (status must not disturb a session), no tokens: the reader scan names
// the CIEs.
func (p *Provider) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	return []protocol.ModuleStatus{{Name: ModuleName, Source: "builtin", Present: true, Loaded: true,
		Library: "eidlink " + protocol.Version}}, nil
}

// Token is an open CIE for the command loop (command.Card).
type Token struct {
	c      *Card
	h      pcsc.Card
	pc     pcsc.Context
	reader string
	cert   *x509.Certificate
	tries  int // -1: not known yet
	p      *Provider
	closed sync.Once
}

// Info describes the card; the PIN is always all 8 digits.
func (t *Token) Info() protocol.TokenStatus { return status(t.reader, t.c.Family, t.cert, t.tries) }

// status describes the CIE of family with cert (nil: not shown before
// the PIN) in reader; tries -1 when not known.
func status(reader string, family card.Family, cert *x509.Certificate, tries int) protocol.TokenStatus {
	var h eidcert.Holder
	if cert != nil {
		h = eidcert.HolderOf(cert)
	}
	return protocol.TokenStatus{Module: ModuleName, SlotDesc: reader, Label: "CIE", Manufacturer: family.Vendor,
		Model: family.Name, CardKind: string(eidcert.CIE), Holder: h.Name(), CodiceFiscale: h.CodiceFiscale,
		HasAuthKey: true, HasSignKey: true, TriesLeft: tries, PINLocked: tries == 0,
		MinPINLength: 8, MaxPINLength: 8, PINPart: "full"}
}

// AuthCertificate is the certificate of EF 1003.
func (t *Token) AuthCertificate() *x509.Certificate { return t.cert }

// SigningCertificate is the same: a CIE has one key pair.
func (t *Token) SigningCertificate() *x509.Certificate { return t.cert }

// Login verifies the full PIN once.
func (t *Token) Login(_ context.Context, pin []byte) error {
	if pin == nil {
		return protocol.Errorf(protocol.CodePINFormat, "the CIE needs all 8 digits of the PIN")
	}
	err := t.c.Login(pin)
	var ae *pcsc.AuthError
	if errors.As(err, &ae) {
		t.tries = ae.Retries
	} else if err == nil {
		t.tries = 3
	}
	if err == nil && t.cert == nil { // a card that shows it after the PIN
		var der []byte
		if der, err = t.c.Certificate(); err == nil {
			t.cert, err = x509.ParseCertificate(der)
		}
	}
	return protoErr(err)
}

// Sign signs a digest made with h (RSA PKCS#1 v1.5: the driver builds the
// DigestInfo, the card pads it).
func (t *Token) Sign(_ context.Context, cert *x509.Certificate, h crypto.Hash, digest []byte) ([]byte, error) {
	if !cert.Equal(t.cert) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "the CIE holds no key for that certificate")
	}
	if h.Size() != len(digest) {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "digest of %d bytes for %v", len(digest), h)
	}
	sig, err := t.c.Sign(cryptoki.DigestInfo(h, digest))
	return sig, protoErr(err)
}

// Close ends the session and the connection.
func (t *Token) Close() error {
	err := t.c.Close()
	t.closed.Do(func() {
		t.h.Disconnect()
		t.pc.Release()
		t.p.mu.Lock()
		t.p.inUse--
		t.p.mu.Unlock()
	})
	return err
}

// protoErr gives an error of the driver its protocol code.
func protoErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return err
	}
	var ae *pcsc.AuthError
	code := protocol.CodeCardError
	var tries *int
	switch {
	case errors.As(err, &ae) && ae.Retries > 0:
		code, tries = protocol.CodePINIncorrect, &ae.Retries
	case errors.Is(err, pcsc.ErrBlocked):
		code = protocol.CodePINBlocked
	case errors.Is(err, ErrPINFormat):
		code = protocol.CodePINFormat
	case errors.Is(err, pcsc.ErrCardRemoved), errors.Is(err, pcsc.ErrNoCard):
		code = protocol.CodeCardRemoved
	case errors.Is(err, pcsc.ErrNoReaders):
		code = protocol.CodeNoReader
	case errors.Is(err, pcsc.ErrNoService), errors.Is(err, pcsc.ErrNotAnswering):
		code = protocol.CodePCSCUnavailable
	case errors.Is(err, pcsc.ErrSharingViolation):
		code = protocol.CodeCardInUse
	case errors.Is(err, ErrLoginRequired), errors.Is(err, iasecc.ErrMAC), errors.Is(err, iasecc.ErrSMFormat):
		code = protocol.CodeCardError
	}
	return &protocol.Error{Code: code, Message: fmt.Sprintf("%v (%s)", err, Hint(err)), TriesLeft: tries, Err: err}
}
