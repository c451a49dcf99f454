// Package cryptoki drives Italian eID cards (CIE, CNS) through the PKCS#11
// modules of their middleware.
//
// # Modules
//
// Discover lists the candidate modules: $EIDLINK_PKCS11_MODULE first, then
// the config file, then a per-OS table of known middleware (IPZS CIE,
// Bit4id, Athena, CardOS, Incard, OpenSC). A Provider loads each module at
// most once, when it first needs it, and unloads them all on Close.
//
// # Cards
//
// Provider.Open returns the first token, in module order, that holds an
// authentication certificate (digitalSignature without nonRepudiation, or
// the IPZS label "CIE0"), preferring one whose key is visible before
// login. A certificate with nonRepudiation is the signature certificate.
// Certificates and keys are paired by CKA_ID, then by public key, then by
// label. The card kind comes from the certificate policy (eidcert.Kind),
// else from the token (manufacturer "IPZS" or label "CIE"); the holder
// from the certificate subject (eidcert.HolderOf).
//
// # PINs
//
// PKCS#11 reports no try counter, only flags; TokenStatus.TriesLeft is
// derived from them and the card kind's known maximum (3 for CIE and CNS).
// Card.Login refuses a PIN whose length the token cannot accept without
// sending it, so no try is lost; with the IPZS CIE module that means
// exactly the last 4 digits. A PIN is never retried or kept.
//
// # Signatures
//
// RSA keys sign with CKM_RSA_PKCS over a DigestInfo built here, never with
// a CKM_SHAxxx_RSA_PKCS mechanism (the IPZS module's CKM_SHA256_RSA_PKCS
// uses the wrong DigestInfo). EC keys sign with CKM_ECDSA and return r||s.
// Keys marked CKA_ALWAYS_AUTHENTICATE want the PIN again for every
// signature (a context-specific login after C_SignInit); since Login
// never keeps the PIN, signing with such a key fails with CodeCardError
// when the module enforces it.
package cryptoki

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eidlink/eidlink/internal/bounded"
	"github.com/eidlink/eidlink/internal/protocol"
)

// Config configures a Provider. The zero value discovers modules from the
// environment, the default config file and the built-in table.
type Config struct {
	// Modules, when non-nil, replaces discovery: only these are tried,
	// in order. An empty Source reads as SourceConfig.
	Modules []Module
	// ConfigFile is the config file for discovery; "" means
	// DefaultConfigFile.
	ConfigFile string
	Logger     *slog.Logger
	// Tries, when set, asks the card in the reader a slot describes for
	// its PIN tries left (-1: cannot tell). It is used when the token flags
	// do not say (reader.Tries reads them over PC/SC).
	Tries func(slotDescription string) int
}

// Provider finds cards through PKCS#11 modules; command.Cards makes it a
// command.Provider. It is safe for concurrent use.
type Provider struct {
	cfg        Config
	log        *slog.Logger
	loadModule func(path string) (cryptoki, bool, error)

	mu        sync.Mutex
	mods      []*module // nil until first needed
	configErr error
	closed    bool
}

// module is a candidate module and, once loaded, its handle.
//
// Calls into a module may never return: OpenSC and the card makers'
// modules ask pcscd, and a wedged pcscd never answers. So the Provider
// loads and scans each module through its gate (package bounded), for at
// most loadBound and scanBound: a module that does not answer is reported
// so and skipped until its abandoned call returns. While that call runs
// only it touches the fields below.
type module struct {
	Module
	gate    bounded.Gate
	p11     cryptoki
	shared  bool // initialised by someone else in this process: not finalised here
	tried   bool
	err     error
	library string
}

// How long loading a module (C_Initialize) and reading its tokens may take.
const (
	loadBound = 5 * time.Second
	scanBound = 20 * time.Second
)

// call runs fn, which calls into m, through m's gate: at most for bound and
// while ctx lasts. drop releases what an abandoned fn returns.
func call[T any](ctx context.Context, m *module, bound time.Duration, fn func() (T, error), drop func(T)) (T, error) {
	v, err := bounded.Call(ctx, &m.gate, bound, fn, drop)
	if bounded.NoAnswer(err) {
		err = fmt.Errorf("the module does not answer (a wedged smart-card service?): %w", err)
	}
	return v, err
}

// load loads m, at most once, through its gate, and reports why it is not
// usable.
func (p *Provider) load(ctx context.Context, m *module) error {
	_, err := call(ctx, m, loadBound, func() (struct{}, error) {
		if !p.loaded(m) {
			return struct{}{}, m.err
		}
		return struct{}{}, nil
	}, nil)
	return err
}

// NewProvider returns a Provider; it loads nothing until used.
func NewProvider(cfg Config) *Provider {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Provider{cfg: cfg, log: log, loadModule: loadModule}
}

// modules returns the candidates, discovering them on first use.
func (p *Provider) modules() []*module {
	if p.mods != nil {
		return p.mods
	}
	list := p.cfg.Modules
	if list == nil {
		if p.cfg.ConfigFile == "" {
			p.cfg.ConfigFile, p.configErr = DefaultConfigFile()
		}
		var err error
		list, err = Discover(p.cfg.ConfigFile)
		if err != nil {
			p.configErr = err
			p.log.Warn("ignoring eidlink config file", "err", err)
		}
	}
	p.mods = []*module{}
	for _, m := range list {
		if m.Source == "" {
			m.Source = SourceConfig
		}
		m.Present = present(m.Path)
		p.mods = append(p.mods, &module{Module: m})
	}
	return p.mods
}

// loaded loads m on first call and reports whether it is usable.
func (p *Provider) loaded(m *module) bool {
	if m.tried {
		return m.p11 != nil
	}
	m.tried = true
	m.p11, m.shared, m.err = p.loadModule(m.Path)
	if m.err != nil {
		p.log.Warn("cannot load PKCS#11 module", "module", m.Path, "err", m.err)
		return false
	}
	if info, err := m.p11.GetInfo(); err == nil {
		m.library = fmt.Sprintf("%s %d.%d (%s)", info.LibraryDescription, info.LibraryVersion.Major, info.LibraryVersion.Minor, info.ManufacturerID)
	}
	p.log.Debug("loaded PKCS#11 module", "module", m.Path, "library", m.library)
	return true
}

// Open returns a session on the first token holding an authentication
// certificate. See command.Provider.
func (p *Provider) Open(ctx context.Context) (*Card, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, protocol.Errorf(protocol.CodeFatal, "token provider is closed")
	}
	var (
		fallback                     *Card // key hidden until login
		present, loaded, found, mute int
		unreadable                   int // tokens a module lists but cannot read
		lastErr                      error
	)
	for _, m := range p.modules() {
		if err := ctx.Err(); err != nil {
			fallback.Close()
			return nil, err
		}
		if !m.Present {
			continue
		}
		present++
		if err := p.load(ctx, m); err != nil {
			lastErr = err
			if m.gate.Stuck() {
				mute++
			}
			continue
		}
		loaded++
		r, err := call(ctx, m, scanBound, func() (scan, error) { return p.scan(m), nil }, scan.close)
		if err != nil {
			p.log.Warn("cannot read the tokens", "module", m.Path, "err", err)
			lastErr = err
			mute++
			continue
		}
		unreadable += r.unreadable
		if r.err != nil {
			lastErr = r.err
		}
		for _, c := range r.cards {
			found++
			switch {
			case c.auth != nil && c.auth.keySeen:
				fallback.Close()
				return c, nil
			case c.auth != nil && fallback == nil:
				fallback = c
			default:
				c.Close()
			}
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	var e *protocol.Error
	switch {
	case present == 0:
		e = protocol.Errorf(protocol.CodeNoModule, "no PKCS#11 module found: install the card's software (CIE or CNS middleware, OpenSC) or set %s", EnvModule)
	case found == 0 && mute > 0:
		e = protocol.Errorf(protocol.CodeNoCard, "no card found: the card software does not answer")
	case loaded == 0:
		e = protocol.Errorf(protocol.CodeNoModule, "no PKCS#11 module could be loaded")
	case found == 0 && unreadable > 0:
		e = protocol.Errorf(protocol.CodeNoCard, "the card in the reader is not readable by the installed modules (a CIE needs the official CIE software)")
	case found == 0:
		e = protocol.Errorf(protocol.CodeNoCard, "no card found: insert the card (a CIE goes on a contactless reader)")
	default:
		e = protocol.Errorf(protocol.CodeNoCertificate, "no card holds an authentication certificate")
	}
	e.Err = lastErr
	return nil, e
}

// scan is what one module shows: the tokens it could open, up to the
// first whose authentication key is visible before login.
type scan struct {
	cards      []*Card
	unreadable int   // tokens listed but not readable
	err        error // the last error
}

func (s scan) close() {
	for _, c := range s.cards {
		c.Close()
	}
}

// scan opens the tokens of m, a loaded module. Call it through m's gate.
func (p *Provider) scan(m *module) scan {
	var s scan
	slots, err := m.p11.GetSlotList(true)
	if err != nil {
		p.log.Warn("cannot list slots", "module", m.Path, "err", err)
		s.err = err
		return s
	}
	for _, slot := range slots {
		c, err := openToken(m, slot, p.cfg.Tries)
		if err != nil {
			p.log.Debug("skipping token", "module", m.Path, "slot", slot, "err", err)
			s.err = err
			s.unreadable++
			continue
		}
		if c == nil {
			continue
		}
		s.cards = append(s.cards, c)
		if c.auth != nil && c.auth.keySeen {
			break
		}
	}
	return s
}

// Status reports every module and every initialised token. It loads the
// modules it has not loaded yet and never fails as a whole: a module's
// problem, not answering included, is in its ModuleStatus.Error. An
// unreadable config file is reported as a module named "config file".
func (p *Provider) Status(ctx context.Context) ([]protocol.ModuleStatus, []protocol.TokenStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ms, ts := []protocol.ModuleStatus{}, []protocol.TokenStatus{}
	mods := p.modules()
	if p.configErr != nil {
		ms = append(ms, protocol.ModuleStatus{Name: "config file", Path: p.cfg.ConfigFile, Source: SourceConfig, Present: present(p.cfg.ConfigFile), Error: p.configErr.Error()})
	}
	for _, m := range mods {
		s := protocol.ModuleStatus{Name: m.Name, Path: m.Path, Source: m.Source, Present: m.Present}
		if !m.Present || p.closed || ctx.Err() != nil {
			ms = append(ms, s)
			continue
		}
		if err := p.load(ctx, m); err != nil {
			s.Error = err.Error()
			ms = append(ms, s)
			continue
		}
		s.Loaded, s.Library = true, m.library
		r, err := call(ctx, m, scanBound, func() (tokens, error) { return p.tokens(m), nil }, nil)
		s.Error = r.problem
		if err != nil {
			s.Error = err.Error()
		}
		ts = append(ts, r.tokens...)
		ms = append(ms, s)
	}
	return ms, ts
}

// tokens is the initialised tokens of a module and its last problem.
type tokens struct {
	tokens  []protocol.TokenStatus
	problem string
}

// tokens describes the initialised tokens of m, a loaded module. Call it
// through m's gate.
func (p *Provider) tokens(m *module) tokens {
	var r tokens
	slots, err := m.p11.GetSlotList(true)
	if err != nil {
		r.problem = cardError("list slots", err).Message
	}
	for _, slot := range slots {
		c, err := openToken(m, slot, p.cfg.Tries)
		if err != nil {
			r.problem = fmt.Sprintf("slot %d: %v", slot, err)
			continue
		}
		if c != nil {
			r.tokens = append(r.tokens, c.status())
			c.p11.CloseSession(c.sh)
		}
	}
	return r
}

// Close unloads every module. Cards opened from p stop working.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, m := range p.mods {
		if m.gate.Stuck() {
			p.log.Warn("leaving a PKCS#11 module loaded: a call into it has not returned", "module", m.Path)
			continue
		}
		if m.p11 == nil {
			continue
		}
		if !m.shared {
			if err := m.p11.Finalize(); err != nil {
				p.log.Debug("finalizing PKCS#11 module", "module", m.Path, "err", err)
			}
		}
		m.p11.Destroy()
		m.p11 = nil
	}
	return nil
}
