package reader

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/bounded"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// These tests run against the real pcscd with the vpcd virtual reader.

var opensc = protocol.ModuleStatus{Name: "OpenSC", Path: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so", Present: true}

func find(t *testing.T, readers []protocol.ReaderStatus, name string) protocol.ReaderStatus {
	for _, r := range readers {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("reader %q not in %+v", name, readers)
	return protocol.ReaderStatus{}
}

func TestScanCNS(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cns-cardos", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)

	readers, problem := Scan(context.Background(), []protocol.ModuleStatus{opensc}, nil)
	r := find(t, readers, virtualcardtest.Reader0)
	if problem != "" || !r.CardPresent || r.CardKind != "cns" || r.Family != "cns-cardos" || r.Contactless ||
		r.Holder != "MARIO ROSSI" || r.CodiceFiscale != "RSSMRA80A01H501U" || r.Module != opensc.Path || r.Problem != "" {
		t.Fatalf("reader = %+v (problem %q)", r, problem)
	}
	if n := Tries(virtualcardtest.Reader0); n != 3 {
		t.Fatalf("Tries = %d, want 3", n)
	}
	if sw := vc.Process([]byte{0x00, 0x20, 0x00, 0x10, 0x08, '0', '0', '0', '0', '0', '0', '0', '0'}); string(sw) != "\x63\xC2" {
		t.Fatalf("wrong PIN answered % X", sw)
	}
	if n := Tries(virtualcardtest.Reader0); n != 2 {
		t.Fatalf("Tries after a wrong PIN = %d, want 2", n)
	}
	// No module for a CNS: the reader says what to install.
	readers, _ = Scan(context.Background(), nil, nil)
	if r := find(t, readers, virtualcardtest.Reader0); r.Module != "" || r.Problem == "" {
		t.Fatalf("without a module: %+v", r)
	}
}

func TestScanCIEWithoutMiddleware(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	vc := virtualcardtest.NewCard(t, "cie-nxp", virtualcard.Options{})
	virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	readers, _ := Scan(context.Background(), []protocol.ModuleStatus{opensc}, nil)
	r := find(t, readers, virtualcardtest.Reader0)
	if r.CardKind != "cie" || !r.Contactless || r.Holder != "MARIO ROSSI" || r.Module != "" ||
		r.Problem == "" || Tries(virtualcardtest.Reader0) != -1 {
		t.Fatalf("CIE without the IPZS module: %+v", r)
	}
	ipzs := protocol.ModuleStatus{Name: "IPZS CIE", Path: "/usr/local/lib/libcie-pkcs11.so", Present: true}
	readers, _ = Scan(context.Background(), []protocol.ModuleStatus{opensc, ipzs}, nil)
	if r := find(t, readers, virtualcardtest.Reader0); r.Module != ipzs.Path || r.Problem != "" {
		t.Fatalf("CIE with the IPZS module: %+v", r)
	}
}

func TestChooseModuleBySlot(t *testing.T) {
	tokens := []protocol.TokenStatus{{Module: "/opt/vendor.so", SlotDesc: "Virtual PCD 00 00"}}
	mods := []protocol.ModuleStatus{opensc}
	if m, p := chooseModule(eidcert.CNS, "Virtual PCD 00 00", mods, tokens); m != "/opt/vendor.so" || p != "" {
		t.Fatalf("by slot: %q %q", m, p)
	}
	if m, _ := chooseModule(eidcert.CNS, "Virtual PCD 00 01", mods, tokens); m != opensc.Path {
		t.Fatalf("by kind: %q", m)
	}
	if _, p := chooseModule(eidcert.Unknown, "x", mods, nil); p == "" {
		t.Fatal("unknown card without a problem")
	}
	native := protocol.ModuleStatus{Name: protocol.ModuleNativeCIE, Present: true, Loaded: true}
	withNative := []protocol.ModuleStatus{native, opensc}
	if m, p := chooseModule(eidcert.CIE, "x", withNative, nil); m != protocol.ModuleNativeCIE || p != "" {
		t.Fatalf("CIE with the native driver: %q %q", m, p)
	}
	if m, _ := chooseModule(eidcert.CNS, "x", withNative, nil); m != opensc.Path {
		t.Fatalf("CNS beside the native CIE driver: %q", m)
	}
}

func TestNoService(t *testing.T) {
	defer func(f func(context.Context) (pcsc.Context, error)) { establish = f }(establish)
	establish = func(context.Context) (pcsc.Context, error) { return nil, pcsc.ErrNoService }
	readers, problem := Scan(context.Background(), nil, nil)
	if readers != nil || problem == "" || Tries("any") != -1 {
		t.Fatalf("without pcscd: %v %q", readers, problem)
	}
}

func TestEvents(t *testing.T) {
	ctx := virtualcardtest.Context(t)
	watch, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := Events(watch)
	next := func(name string) protocol.ReaderStatus {
		t.Helper()
		for {
			select {
			case m := <-events:
				if m.Event == name {
					return m.Data.(protocol.ReaderStatus)
				}
			case <-time.After(virtualcardtest.Timeout):
				t.Fatalf("no %s event", name)
			}
		}
	}
	next("reader-added")
	vc := virtualcardtest.NewCard(t, "cns-athena", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, ctx, vc, virtualcardtest.Addr0, virtualcardtest.Reader0)
	if d := next("card-inserted"); d.Name != virtualcardtest.Reader0 || d.Family != "cns-athena" || d.CardKind != "cns" {
		t.Fatalf("card-inserted %+v", d)
	}
	slot.Remove()
	if d := next("card-removed"); d.Name != virtualcardtest.Reader0 || d.CardPresent {
		t.Fatalf("card-removed %+v", d)
	}
	cancel()
	for range events {
	}
}

// stateContext is a PC/SC service whose one reader is in a given state.
type stateContext struct {
	pcsc.Context
	state pcsc.State
}

func (c stateContext) ListReaders(context.Context) ([]string, error) { return []string{"R"}, nil }
func (c stateContext) Release() error                                { return nil }
func (c stateContext) Wait(_ context.Context, s []pcsc.ReaderState) error {
	s[0].Event = c.state
	return nil
}

// Check names a card another program holds, and a card software that
// does not answer while the card is there, without calling either "no
// card"; a card that is there and free, used by no one or shared, is left
// to the card software's own error.
func TestCheckCardThere(t *testing.T) {
	defer func(f func(context.Context) (pcsc.Context, error)) { establish = f }(establish)
	mute := &protocol.Error{Code: protocol.CodeNoCard, Err: fmt.Errorf("the module does not answer: %w", bounded.ErrTimeout)}
	unreadable := protocol.Errorf(protocol.CodeNoCard, "not readable")
	for _, c := range []struct {
		state pcsc.State
		cause error
		want  protocol.Code // "" for nil
	}{
		{pcsc.StatePresent | pcsc.StateExclusive, unreadable, protocol.CodeCardInUse},
		{pcsc.StatePresent | pcsc.StateInUse, mute, protocol.CodeCardInUse},
		{pcsc.StatePresent | pcsc.StateInUse, unreadable, ""},
		{pcsc.StatePresent, mute, protocol.CodeCardError},
		{pcsc.StatePresent, unreadable, ""},
		{pcsc.StateEmpty, mute, protocol.CodeNoCard},
	} {
		establish = func(context.Context) (pcsc.Context, error) { return stateContext{state: c.state}, nil }
		err := protocol.AsError(Check(context.Background(), c.cause))
		switch {
		case c.want == "" && err != nil, c.want != "" && (err == nil || err.Code != c.want):
			t.Errorf("state %#x, cause %v: got %v, want %q", c.state, c.cause, err, c.want)
		case err != nil && err.Code != protocol.CodeNoCard && !err.Retryable:
			t.Errorf("state %#x: %v is not retryable", c.state, err)
		}
	}
}
