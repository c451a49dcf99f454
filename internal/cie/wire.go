package cie

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/eidlink/eidlink/internal/iasecc"
	"github.com/eidlink/eidlink/internal/pcsc"
)

// TraceEnv names the file to which APDU traces are appended.
const TraceEnv = "EIDLINK_APDU_TRACE"

// wire is the card connection as the driver sees it: it counts APDUs,
// notices reconnections (a reset) and writes the trace.
type wire struct {
	pcsc.Card
	count int
	reset bool
	trace io.WriteCloser // nil: no trace
}

var traceMu sync.Mutex // several cards may share one trace file

func newWire(c pcsc.Card) (*wire, error) {
	w := &wire{Card: c}
	if name := os.Getenv(TraceEnv); name != "" {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		w.trace = f
	}
	return w, nil
}

func (w *wire) close() error {
	if w.trace == nil {
		return nil
	}
	err := w.trace.Close()
	w.trace = nil
	return err
}

func (w *wire) Transmit(apdu []byte) ([]byte, error) {
	w.count++
	w.printf("> %s", redactWire(apdu))
	resp, err := w.Card.Transmit(apdu)
	if err == nil && len(resp) < 2 {
		// pcscd's answer when a T=0 card goes mid-command.
		err = fmt.Errorf("%w: answer without a status word", pcsc.ErrCardRemoved)
	}
	if err != nil {
		w.printf("< error: %v", err)
	} else {
		w.printf("< %s", redactWire(resp))
	}
	return resp, err
}

func (w *wire) Reconnect() error {
	w.reset = true
	w.printf("reconnect (the card was reset)")
	return w.Card.Reconnect()
}

func (w *wire) printf(format string, args ...any) {
	if w.trace == nil {
		return
	}
	traceMu.Lock()
	defer traceMu.Unlock()
	fmt.Fprintf(w.trace, format+"\n", args...)
}

// plain traces the plain form of a protected command, without the data of
// VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.
func (w *wire) plain(a iasecc.APDU) {
	if w.trace == nil {
		return
	}
	data := hex.EncodeToString(a.Data)
	switch a.INS {
	case 0x20, 0x24, 0x2C:
		if len(a.Data) > 0 {
			data = fmt.Sprintf("<secret: %d bytes>", len(a.Data))
		}
	}
	w.printf("  sm> %02X %02X %02X %02X [%s] Le %d", a.CLA, a.INS, a.P1, a.P2, data, a.Le)
}

func (w *wire) plainResp(data []byte, sw uint16) {
	w.printf("  sm< %X %04X", data, sw)
}

// redactWire writes an APDU in hex with the value of a trailing DO8E
// (a MAC) replaced by its length.
func redactWire(b []byte) string {
	s := strings.ToUpper(hex.EncodeToString(b))
	for _, tail := range []int{2, 1, 0} { // after the MAC: Le, SW, nothing
		if i := len(b) - tail - 10; i >= 0 && b[i] == 0x8E && b[i+1] == 0x08 {
			return s[:2*(i+2)] + "<mac>" + s[2*(i+10):]
		}
	}
	return s
}

// exchange sends a plain APDU (61xx and 6Cxx followed) and returns the
// data or a status error.
func (w *wire) exchange(apdu []byte) ([]byte, error) { return pcsc.Exchange(w, apdu) }

// chained sends a plain command whose data exceeds 255 bytes with ISO
// command chaining (CLA 10 on all pieces but the last).
func (w *wire) chained(ins, p1, p2 byte, data []byte) error {
	for len(data) > 255 {
		if _, err := w.exchange(append([]byte{0x10, ins, p1, p2, 0xFF}, data[:255]...)); err != nil {
			return err
		}
		data = data[255:]
	}
	_, err := w.exchange(append([]byte{0x00, ins, p1, p2, byte(len(data))}, data...))
	return err
}
