package cryptoki

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/miekg/pkcs11"
)

// Slot is one place a card can be, as a module shows it: what the
// service presents to eidlink's own PKCS#11 module.
type Slot struct {
	// Key names the slot while its module and reader stay: the module's
	// path, the slot description and, for the virtual slots a module
	// gives one reader (OpenSC: one per PIN), their order.
	Key         string
	Description string
	Card        *SlotCard // nil: no card, or none with an authentication certificate
}

// SlotCard is the card in a Slot.
type SlotCard struct {
	Info protocol.TokenStatus
	// Cert is the authentication certificate; the signature key (CNS)
	// is never presented.
	Cert *x509.Certificate
	// RawRSA says that the module offers a raw RSA operation
	// (CKM_RSA_X_509) on the token: Card.SignRaw works.
	RawRSA bool
}

// Slots lists the slots of every module that loads, with the card in
// each. A module that does not answer is left out (Status says why).
func (p *Provider) Slots(ctx context.Context) []Slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []Slot
	for _, m := range p.modules() {
		if !m.Present || p.closed || ctx.Err() != nil || p.load(ctx, m) != nil {
			continue
		}
		r, err := call(ctx, m, scanBound, func() ([]Slot, error) { return p.slots(m), nil }, nil)
		if err != nil {
			p.log.Warn("cannot read the slots", "module", m.Path, "err", err)
			continue
		}
		all = append(all, r...)
	}
	return all
}

// slotKeys returns the keys of m's slots, in the module's order.
func slotKeys(m *module) ([]uint, []string, error) {
	ids, err := m.p11.GetSlotList(false)
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, len(ids))
	seen := map[string]int{}
	for i, id := range ids {
		desc := ""
		if si, err := m.p11.GetSlotInfo(id); err == nil {
			desc = trim(si.SlotDescription)
		}
		keys[i] = fmt.Sprintf("%s\x00%s\x00%d", m.Path, desc, seen[desc])
		seen[desc]++
	}
	return ids, keys, nil
}

// slots reads the slots of m, a loaded module. Call it through m's gate.
func (p *Provider) slots(m *module) []Slot {
	ids, keys, err := slotKeys(m)
	if err != nil {
		p.log.Debug("cannot list slots", "module", m.Path, "err", err)
		return nil
	}
	out := make([]Slot, 0, len(ids))
	for i, id := range ids {
		s := Slot{Key: keys[i], Description: strings.SplitN(keys[i], "\x00", 3)[1]}
		si, err := m.p11.GetSlotInfo(id)
		if err == nil && si.Flags&pkcs11.CKF_TOKEN_PRESENT != 0 {
			if c, err := openToken(m, id, p.cfg.Tries); err == nil && c != nil {
				if c.auth != nil {
					s.Card = &SlotCard{Info: c.status(), Cert: c.auth.cert, RawRSA: rawRSA(m.p11, id, c.auth.cert)}
				}
				c.p11.CloseSession(c.sh)
			}
		}
		out = append(out, s)
	}
	return out
}

// rawRSA reports whether the module offers CKM_RSA_X_509 for cert's key
// on the token in slot.
func rawRSA(m cryptoki, slot uint, cert *x509.Certificate) bool {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return false
	}
	mechs, err := m.GetMechanismList(slot)
	if err != nil || !slices.ContainsFunc(mechs, func(x *pkcs11.Mechanism) bool { return x.Mechanism == pkcs11.CKM_RSA_X_509 }) {
		return false
	}
	info, err := m.GetMechanismInfo(slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)})
	if err != nil {
		return false
	}
	bits := uint(pub.N.BitLen())
	return info.Flags&pkcs11.CKF_SIGN != 0 && (info.MinKeySize == 0 || info.MinKeySize <= bits) && (info.MaxKeySize == 0 || bits <= info.MaxKeySize)
}

// OpenSlot opens a session on the card in the slot with that key, as
// Open does on the first card: CodeNoCard when the slot has none (or it
// left), CodeNoReader when the slot is gone.
func (p *Provider) OpenSlot(ctx context.Context, key string) (*Card, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, protocol.Errorf(protocol.CodeFatal, "token provider is closed")
	}
	path, _, _ := strings.Cut(key, "\x00")
	for _, m := range p.modules() {
		if m.Path != path || !m.Present {
			continue
		}
		if err := p.load(ctx, m); err != nil {
			return nil, protocol.Errorf(protocol.CodeCardError, "%v", err)
		}
		c, err := call(ctx, m, scanBound, func() (*Card, error) {
			ids, keys, err := slotKeys(m)
			if err != nil {
				return nil, cardError("list slots", err)
			}
			i := slices.Index(keys, key)
			if i < 0 {
				return nil, protocol.Errorf(protocol.CodeNoReader, "the reader is gone")
			}
			c, err := openToken(m, ids[i], p.cfg.Tries)
			if err != nil || c == nil || c.auth == nil {
				c.Close()
				return nil, &protocol.Error{Code: protocol.CodeNoCard, Message: "no card with an authentication certificate in the reader", Err: err}
			}
			return c, nil
		}, func(c *Card) { c.Close() })
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return nil, protocol.Errorf(protocol.CodeNoReader, "the module of that slot is gone")
}

// SignRaw applies the raw RSA private-key operation (CKM_RSA_X_509) of
// cert's key to block, an encoded message as long as the modulus: the
// service encodes EMSA-PSS itself for the cards whose module offers it
// (SlotCard.RawRSA).
func (c *Card) SignRaw(ctx context.Context, cert *x509.Certificate, block []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || len(block) != pub.Size() {
		return nil, protocol.Errorf(protocol.CodeInvalidArgument, "a raw RSA operation takes a block as long as the RSA modulus")
	}
	p := c.pairFor(cert)
	if p == nil {
		return nil, protocol.Errorf(protocol.CodeNoCertificate, "the certificate is not on this card")
	}
	key, err := c.privateKey(p)
	if err != nil {
		return nil, err
	}
	if err := c.p11.SignInit(c.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)}, key); err != nil {
		return nil, c.fail("sign", err)
	}
	sig, err := c.p11.Sign(c.sh, block)
	if err != nil {
		return nil, c.fail("sign", err)
	}
	return sig, nil
}
