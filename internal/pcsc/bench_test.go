package pcsc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/eidlink/eidlink/internal/pcsc"
	"github.com/eidlink/eidlink/internal/virtualcard"
	"github.com/eidlink/eidlink/internal/virtualcard/virtualcardtest"
)

// Card inserted -> CardInserted delivered by the monitor. vpcd is polled by
// pcscd, so this measures mostly that poll; run with -benchtime=10x.
func BenchmarkInsertEvent(b *testing.B) {
	ctx := virtualcardtest.Context(b)
	virtualcardtest.WaitCard(b, ctx, virtualcardtest.Reader0, nil)
	wctx, cancel := context.WithCancel(context.Background())
	events := (&pcsc.Monitor{}).Watch(wctx)
	defer func() {
		cancel()
		for range events {
		}
	}()
	wait := func(kind pcsc.EventKind) {
		for e := range events {
			if e.Reader == virtualcardtest.Reader0 && e.Kind == kind {
				return
			}
		}
	}
	slot := &virtualcard.Slot{Card: virtualcardtest.NewCard(b, "cns-incard", virtualcard.Options{}), Addr: virtualcardtest.Addr0}
	defer slot.Remove()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := slot.Insert(); err != nil {
			b.Fatal(err)
		}
		wait(pcsc.CardInserted)
		took = append(took, time.Since(start))
		b.StopTimer()
		slot.Remove()
		wait(pcsc.CardRemoved)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
}

// One SELECT through pcscd and vpcd to the virtual card and back, with and
// without TCP_QUICKACK on the card's socket.
func BenchmarkTransmit(b *testing.B) {
	for _, noQuickAck := range []bool{false, true} {
		name := map[bool]string{false: "quickack", true: "no-quickack"}[noQuickAck]
		b.Run(name, func(b *testing.B) {
			ctx := virtualcardtest.Context(b)
			virtualcardtest.WaitCard(b, ctx, virtualcardtest.Reader0, nil)
			vc := virtualcardtest.NewCard(b, "cns-incard", virtualcard.Options{})
			slot := &virtualcard.Slot{Card: vc, Addr: virtualcardtest.Addr0, NoQuickAck: noQuickAck}
			if err := slot.Insert(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				slot.Remove()
				virtualcardtest.WaitCard(b, ctx, virtualcardtest.Reader0, nil)
			}()
			virtualcardtest.WaitCard(b, ctx, virtualcardtest.Reader0, vc.ATR())
			c, err := ctx.Connect(context.Background(), virtualcardtest.Reader0)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Disconnect()
			selectMF := []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00}
			for b.Loop() {
				if _, err := pcsc.Exchange(c, selectMF); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
