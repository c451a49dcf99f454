// Package mockhost is a native-messaging host with scripted behaviours,
// for testing the extension and relying parties' login pages without a
// card, headless, in CI. It speaks the real protocol through internal/command
// with a software card (Card) in place of PKCS#11, so the PIN
// conversation, the argument checks and the tokens are the real host's: a
// scripted success returns a web-eid:1.0 token that relyingparty accepts
// with the card's ca.pem as trust anchor.
//
// Every connection (every browser port) starts from the scenario's
// initial state: the tries left are not remembered between connections.
// Loopback http origins are accepted: this is a development host.
package mockhost

import (
	"context"
	"crypto"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/nativemsg"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Scenario is a scripted behaviour.
type Scenario struct{ Name, About string }

// Scenarios lists the behaviours by name. "User cancels" needs none of
// its own: it is "ok" with a click on Cancel in the PIN window.
var Scenarios = []Scenario{
	{"ok", "a ready card: the right PIN logs in, a wrong one costs a try (3 tries)"},
	{"wrong-pin-once", "the first PIN is refused as wrong (2 tries left), whatever it is; then as ok"},
	{"last-try", "one try left: the PIN window warns; a wrong PIN blocks the PIN"},
	{"pin-blocked", "the PIN is blocked (ERR_EIDLINK_PIN_BLOCKED)"},
	{"last4", "a CIE behind the IPZS module: only the last 4 digits of the PIN are asked"},
	{"pinpad", "a pinpad reader: the holder types the PIN on the reader (2 s); succeeds"},
	{"timeout", "the host stops waiting for the PIN after 2 s (ERR_WEBEID_USER_TIMEOUT)"},
	{"card-removed", "the card is pulled during the login (ERR_EIDLINK_CARD_REMOVED)"},
	{"crash", "the host exits during the login, as when a card module crashes"},
	{"no-card", "a reader without a card (ERR_EIDLINK_NO_CARD at once: a host that does not wait for the card)"},
	{"card-later", "no card at first: asked to wait, the host sends a cardRequest and the card arrives 2 s later; then as ok"},
	{"no-reader", "no reader (ERR_EIDLINK_NO_READER at once: a host that does not wait for the card)"},
	{"no-module", "a CIE in the reader but no card software (ERR_EIDLINK_NO_MODULE)"},
	{"wrong-version", "the host says it is version 99.0.0 (ERR_WEBEID_VERSION_MISMATCH)"},
	{"echo", "after the version, every message is sent back as it is (transport benchmarks)"},
}

// TimeoutPINTimeout is how long the "timeout" scenario waits for a PIN.
const TimeoutPINTimeout = 2 * time.Second

// PinpadTyping is how long the holder of the "pinpad" scenario takes to
// type the PIN on the reader: the PIN window shows its pinpad state
// meanwhile.
const PinpadTyping = 2 * time.Second

// CardLater is how long after the first card command the card of the
// "card-later" scenario arrives.
const CardLater = 2 * time.Second

// ErrCrashed is returned by Serve when the "crash" scenario crashed: the
// caller exits without writing anything more.
var ErrCrashed = errors.New("mockhost: crashed as scripted")

// Options configures Serve.
type Options struct {
	Scenario string // a name from Scenarios; "" is "ok"
	// Card is the card of every scenario but the no-card, no-reader,
	// no-module, wrong-version and echo ones.
	Card *Card
	// PINTimeout bounds each wait for the PIN; 0 means
	// command.DefaultPINTimeout, or TimeoutPINTimeout in "timeout".
	PINTimeout time.Duration
	Log        *slog.Logger
}

// Known reports whether name is a scenario of Scenarios.
func Known(name string) bool {
	for _, s := range Scenarios {
		if s.Name == name {
			return true
		}
	}
	return false
}

// NeedsCard reports whether the scenario uses a Card.
func NeedsCard(name string) bool {
	switch name {
	case "no-card", "no-reader", "no-module", "wrong-version", "echo":
		return false
	}
	return true
}

// Serve serves one browser connection on r and w (the host's stdin and
// stdout) until the browser closes it, as the scenario scripts.
func Serve(ctx context.Context, o Options, r io.Reader, w io.Writer) error {
	if o.Scenario == "" {
		o.Scenario = "ok"
	}
	if !Known(o.Scenario) {
		names := make([]string, len(Scenarios))
		for i, s := range Scenarios {
			names[i] = s.Name
		}
		return fmt.Errorf("mockhost: unknown scenario %q (known: %s)", o.Scenario, strings.Join(names, ", "))
	}
	if o.Card == nil && NeedsCard(o.Scenario) {
		return fmt.Errorf("mockhost: scenario %q needs a mock card", o.Scenario)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Log.Info("mock host", "scenario", o.Scenario)
	if o.Scenario == "echo" {
		return echo(r, w)
	}
	if o.PINTimeout == 0 && o.Scenario == "timeout" {
		o.PINTimeout = TimeoutPINTimeout
	}
	cw := &crashWriter{w: w}
	h := &host{scenario: o.Scenario, card: o.Card, tries: 3, crash: func() { cw.crashed.Store(true) }}
	switch o.Scenario {
	case "last-try":
		h.tries = 1
	case "pin-blocked":
		h.tries = 0
	}
	version := protocol.Version
	if o.Scenario == "wrong-version" {
		version = "99.0.0"
	}
	cfg := command.Config{
		Provider:   h,
		Version:    version,
		Options:    protocol.Options{AllowLoopbackHTTP: true},
		PINTimeout: o.PINTimeout,
		Status:     h.complete,
		CardPoll:   100 * time.Millisecond,
		NoCardWait: o.Scenario == "no-card" || o.Scenario == "no-reader",
		Log:        o.Log,
	}
	err := command.ServeStream(ctx, cfg, r, cw)
	if cw.crashed.Load() {
		return ErrCrashed
	}
	return err
}

// crashWriter stops all output once the host has crashed.
type crashWriter struct {
	w       io.Writer
	crashed atomic.Bool
}

func (c *crashWriter) Write(p []byte) (int, error) {
	if c.crashed.Load() {
		return 0, ErrCrashed
	}
	return c.w.Write(p)
}

func echo(r io.Reader, w io.Writer) error {
	if err := nativemsg.WriteJSON(w, protocol.Hello(protocol.Version)); err != nil {
		return err
	}
	fr := nativemsg.NewReader(r, 0)
	for {
		msg, err := fr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := nativemsg.Write(w, msg); err != nil {
			return err
		}
	}
}

// host is the scripted card world of one connection: a command.Provider
// whose one card is also its command.Card.
type host struct {
	scenario string
	card     *Card
	tries    int
	refused  bool // wrong-pin-once: the first PIN was refused
	crash    func()
	arrives  time.Time // card-later: when the card is in the reader
}

// pinpadTyping is PinpadTyping, shorter in tests.
var pinpadTyping = PinpadTyping

const (
	moduleName = "eidlink mock card"
	readerName = "eidlink mock reader 00 00"
)

func (h *host) Open(context.Context) (command.Card, error) {
	switch h.scenario {
	case "no-card":
		return nil, protocol.Errorf(protocol.CodeNoCard, "no card in the reader (mock)")
	case "no-reader":
		return nil, protocol.Errorf(protocol.CodeNoReader, "no card reader (mock)")
	case "no-module":
		return nil, protocol.Errorf(protocol.CodeNoModule, "no PKCS#11 module for the card (mock)")
	case "card-later":
		if h.arrives.IsZero() {
			h.arrives = time.Now().Add(CardLater)
		}
		if !h.cardIn() {
			return nil, protocol.Errorf(protocol.CodeNoCard, "no card in the reader yet (mock)")
		}
	}
	return h, nil
}

// cardIn reports whether the card is in the reader: card-later's only
// once it has arrived.
func (h *host) cardIn() bool {
	return h.scenario != "card-later" || !h.arrives.IsZero() && !time.Now().Before(h.arrives)
}

func (h *host) Status(context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	if h.scenario == "no-module" {
		return []protocol.ModuleStatus{}, []protocol.TokenStatus{}
	}
	mods := []protocol.ModuleStatus{{Name: moduleName, Path: "eidlink-mockhost", Source: "builtin", Present: true, Loaded: true, Library: moduleName + " " + protocol.Version}}
	if h.card == nil || h.scenario == "no-card" || h.scenario == "no-reader" || !h.cardIn() {
		return mods, []protocol.TokenStatus{}
	}
	return mods, []protocol.TokenStatus{h.Info()}
}

// complete adds the readers to a status report.
func (h *host) complete(_ context.Context, st *protocol.Status) {
	st.Mode = "mock"
	st.Readers = []protocol.ReaderStatus{}
	switch h.scenario {
	case "no-reader":
	case "no-card":
		st.Readers = append(st.Readers, protocol.ReaderStatus{Name: readerName})
	case "no-module":
		st.Readers = append(st.Readers, protocol.ReaderStatus{Name: readerName, CardPresent: true, Family: "CIE 3.0", CardKind: "cie", Contactless: true,
			Problem: "the CIE software (IPZS CIE middleware) is not installed"})
	case "card-later":
		if !h.cardIn() {
			st.Readers = append(st.Readers, protocol.ReaderStatus{Name: readerName})
			break
		}
		fallthrough
	default:
		if h.card != nil {
			st.Readers = append(st.Readers, protocol.ReaderStatus{Name: readerName, CardPresent: true, CardKind: string(h.card.Kind), Contactless: h.card.Kind == eidcert.CIE,
				Pinpad: h.scenario == "pinpad", Module: moduleName, Holder: h.card.Holder(), CodiceFiscale: h.card.CodiceFiscale})
		}
	}
}

func (h *host) Info() protocol.TokenStatus {
	c := h.card
	ts := protocol.TokenStatus{
		Module: "eidlink-mockhost", Label: strings.ToUpper(string(c.Kind)), Manufacturer: "eidlink", Model: "mock",
		CardKind: string(c.Kind), Holder: c.Holder(), CodiceFiscale: c.CodiceFiscale,
		HasAuthKey: true, HasSignKey: c.Kind == eidcert.CNS,
		TriesLeft: h.tries, PINLocked: h.tries == 0, Pinpad: h.scenario == "pinpad",
		MinPINLength: 5, MaxPINLength: 8, PINPart: "full",
	}
	if c.Kind == eidcert.CIE {
		ts.MinPINLength = 8
	}
	if h.scenario == "last4" {
		ts.MinPINLength, ts.MaxPINLength, ts.PINPart = 4, 4, "last4"
	}
	return ts
}

func (h *host) AuthCertificate() *x509.Certificate    { return h.card.Identity.Cert }
func (h *host) SigningCertificate() *x509.Certificate { return h.card.Identity.Cert }

func (h *host) Login(ctx context.Context, pin []byte) error {
	switch h.scenario {
	case "crash":
		h.crash()
		return ErrCrashed
	case "card-removed":
		return protocol.Errorf(protocol.CodeCardRemoved, "the card was removed during the login (mock)")
	case "pinpad":
		if pin == nil { // typed on the reader
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pinpadTyping):
				return nil
			}
		}
	}
	want := h.card.PIN
	if h.scenario == "last4" {
		want = want[len(want)-4:]
	}
	if h.scenario == "wrong-pin-once" && !h.refused {
		h.refused = true
		return h.wrongPIN()
	}
	if subtle.ConstantTimeCompare(pin, []byte(want)) == 1 {
		h.tries = 3
		return nil
	}
	return h.wrongPIN()
}

func (h *host) wrongPIN() error {
	h.tries--
	left := h.tries
	return &protocol.Error{Code: protocol.CodePINIncorrect, Message: "wrong PIN", TriesLeft: &left}
}

func (h *host) Sign(_ context.Context, _ *x509.Certificate, hash crypto.Hash, digest []byte) ([]byte, error) {
	return h.card.sign(hash, digest)
}

func (h *host) Close() error { return nil }
