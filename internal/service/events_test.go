package service

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/reader"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// TestReaderEvents inserts and pulls a virtual card in a vpcd reader of
// the real pcscd and checks that both connected hosts hear of it.
func TestReaderEvents(t *testing.T) {
	pc := virtualcardtest.Context(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ts := startService(t, nil, reader.Events(ctx), "")
	conns := []*ipc.Conn{ts.dial(t), ts.dial(t)}
	card := virtualcardtest.NewCard(t, "cns-incard", virtualcard.Options{})
	slot := virtualcardtest.Insert(t, pc, card, virtualcardtest.Addr1, virtualcardtest.Reader1)
	for _, c := range conns {
		r := awaitEvent(t, c, "card-inserted")
		if r.Name != virtualcardtest.Reader1 || !r.CardPresent || r.CardKind != "cns" || r.Family != "cns-incard" || !strings.EqualFold(r.ATR, hex.EncodeToString(card.ATR())) {
			t.Fatalf("card-inserted %+v", r)
		}
	}
	slot.Remove()
	for _, c := range conns {
		if r := awaitEvent(t, c, "card-removed"); r.Name != virtualcardtest.Reader1 || r.CardPresent {
			t.Fatalf("card-removed %+v", r)
		}
	}
}

// awaitEvent reads c until the event named kind about a vpcd reader 1
// arrives.
func awaitEvent(t *testing.T, c *ipc.Conn, kind string) protocol.ReaderStatus {
	t.Helper()
	deadline := time.AfterFunc(virtualcardtest.Timeout, func() { c.Close() })
	defer deadline.Stop()
	for {
		b, err := c.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", kind, err)
		}
		var ev struct {
			Event string
			Data  protocol.ReaderStatus
		}
		json.Unmarshal(b, &ev)
		if ev.Event == kind && ev.Data.Name == virtualcardtest.Reader1 {
			return ev.Data
		}
	}
}
