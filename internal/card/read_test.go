package card_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/eidlink/eidlink/internal/card"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// Every virtual card type, inserted into vpcd: pcscd's ATR identifies the
// family, the public files read back as the card holds them, and vpcd has
// no PIN pad. The types share vpcd's two readers, one card at a time in
// each.
func TestThroughPCSCD(t *testing.T) {
	virtualcardtest.Context(t)
	var readers [2]sync.Mutex
	for i, ty := range virtualcard.Types {
		t.Run(ty.Name, func(t *testing.T) {
			t.Parallel()
			addr, reader := virtualcardtest.Addr0, virtualcardtest.Reader0
			if i%2 == 1 {
				addr, reader = virtualcardtest.Addr1, virtualcardtest.Reader1
			}
			readers[i%2].Lock()
			t.Cleanup(readers[i%2].Unlock) // after Insert's cleanup has removed the card
			ctx := virtualcardtest.Context(t)
			vc := virtualcardtest.NewCard(t, ty.Name, virtualcard.Options{})
			virtualcardtest.Insert(t, ctx, vc, addr, reader)
			c, err := ctx.Connect(context.Background(), reader)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect()
			atr, err := c.ATR()
			if err != nil {
				t.Fatal(err)
			}
			info := card.Identify(atr)
			if info.Name != ty.Name || info.Kind != ty.Kind || info.Contactless != (ty.Kind == eidcert.CIE) {
				t.Fatalf("pcscd ATR %X identified as %+v", atr, info)
			}
			p, err := card.ReadPublic(c, info.Kind)
			if err != nil {
				t.Fatal(err)
			}
			id := vc.Identity()
			if !bytes.Equal(p.Certificate, id.Cert.Raw) || p.Holder != id.Holder || p.Serial != id.Serial {
				t.Errorf("ReadPublic = serial %q holder %+v cert %d bytes; want serial %q holder %+v cert %d bytes",
					p.Serial, p.Holder, len(p.Certificate), id.Serial, id.Holder, len(id.Cert.Raw))
			}
			if info.Kind == eidcert.CIE && (len(p.PAN) != 12 || p.NIS != fmt.Sprintf("%X", p.PAN[5:11])) {
				t.Errorf("CIE NIS %q PAN %X", p.NIS, p.PAN)
			}
			if card.Pinpad(c) {
				t.Error("vpcd reported a PIN pad")
			}
		})
	}
}

// A card eidlink does not know is reported as unknown with its ATR, and
// reading it fails with an error, not a crash.
func TestUnknownCard(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	yubikey := atr("3B F8 13 00 00 81 31 FE 15 59 75 62 69 6B 65 79 34 D4")
	vc := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{ATR: yubikey})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	c, err := ctx.Connect(context.Background(), virtualcardtest.Reader0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect()
	got, err := c.ATR()
	if err != nil {
		t.Fatal(err)
	}
	info := card.Identify(got)
	if info.Kind != eidcert.Unknown || info.ATRHex() != "3BF81300008131FE15597562696B657934D4" {
		t.Errorf("Identify = %+v", info)
	}
	if _, err := card.ReadPublic(c, info.Kind); err == nil {
		t.Error("ReadPublic of an unknown card succeeded")
	}
	// The connection still works after the failed read.
	if _, err := pcsc.Exchange(c, []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00}); err != nil {
		t.Error(err)
	}
}

// Reading a CNS as if it were a CIE fails on the missing file with a
// status-word error.
func TestReadPublicErrors(t *testing.T) {
	c := &direct{card: virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})}
	if _, err := card.ReadPublic(c, eidcert.CIE); !errors.Is(err, pcsc.ErrNotFound) {
		t.Errorf("ReadPublic(CNS as CIE) = %v, want ErrNotFound", err)
	}
}

func TestParseFeatures(t *testing.T) {
	c := &direct{card: virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})}
	for _, tt := range []struct {
		tlv    []byte
		pinpad bool
	}{
		{[]byte{0x06, 0x04, 0x42, 0x33, 0x00, 0x06, 0x12, 0x04, 0x42, 0x33, 0x00, 0x12}, true},
		{[]byte{0x12, 0x04, 0x42, 0x33, 0x00, 0x12}, false},
		{[]byte{0x06, 0x02, 0x42, 0x33}, false},             // wrong length
		{[]byte{0x06, 0x04, 0x42, 0x33}, false},             // truncated
		{[]byte{0x01, 0x04, 0, 0, 0, 1, 0x06, 0x04}, false}, // truncated after a good entry
		{nil, false},
	} {
		c.features = tt.tlv
		if got := card.Pinpad(c); got != tt.pinpad {
			t.Errorf("Pinpad(% X) = %v", tt.tlv, got)
		}
	}
	c.features = []byte{0x06, 0x04, 0x42, 0x33, 0x00, 0x06}
	if f, err := card.Features(c); err != nil || f[card.FeatureVerifyPINDirect] != 0x42330006 {
		t.Errorf("Features = %v, %v", f, err)
	}
}

// direct is a pcsc.Card wired straight to a virtual card, for tests of
// APDU logic that need no reader.
type direct struct {
	card     *virtualcard.Card
	features []byte
}

func (d *direct) Transmit(apdu []byte) ([]byte, error) { return d.card.Process(apdu), nil }
func (d *direct) BeginTransaction() error              { return nil }
func (d *direct) EndTransaction() error                { return nil }
func (d *direct) ATR() ([]byte, error)                 { return d.card.ATR(), nil }
func (d *direct) Reconnect() error                     { d.card.Reset(); return nil }
func (d *direct) Disconnect() error                    { return nil }
func (d *direct) Control(code uint32, in []byte) ([]byte, error) {
	if code != pcsc.CtlCode(3400) {
		return nil, errors.New("unsupported control code")
	}
	return d.features, nil
}
