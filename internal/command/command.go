// Package command serves eidlink's native commands (the Web eID native
// application protocol plus "status" and the PIN conversation) over any
// message transport: stdio framing for browsers, WebSocket for the service.
//
// One Server handles one port (one browser connection) and one card
// command at a time; it keeps answering "status" while a command waits for
// the card or the PIN.
package command

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/eidlink/eidlink/internal/authtoken"
	"github.com/eidlink/eidlink/internal/protocol"
)

// DefaultPINTimeout bounds how long the host waits for the holder's PIN.
const DefaultPINTimeout = 5 * time.Minute

// Config configures a Server.
type Config struct {
	Provider Provider
	Version  string // "1.2.3"
	Options  protocol.Options
	// PINTimeout bounds each wait for a "pin" or "cancel" message.
	PINTimeout time.Duration
	// Status, when set, completes the status report (readers, service).
	Status func(ctx context.Context, s *protocol.Status)
	// Check, when set, says as PC/SC sees it why Provider.Open found no
	// card (reader.Check), given the provider's error: its error (such as
	// CodePCSCUnavailable, CodeNoReader, CodeCardInUse) replaces the
	// provider's CodeNoCard, so that a command names the same cause as the
	// status, and a card that is there is never "no card".
	Check func(ctx context.Context, cause error) error
	// Events, when set, starts a source of card and reader events that
	// Serve forwards to the extension as they come (reader.Events); they
	// also wake a card wait.
	Events func(ctx context.Context) <-chan protocol.EventMessage
	// CardPoll is how often a card wait asks the provider again; 0 means
	// DefaultCardPoll.
	CardPoll time.Duration
	// NoCardWait makes a host of before the card wait: it does not list
	// the feature and fails at once without a card (mock scenarios).
	NoCardWait bool
	// Unlocker, when set, keeps the card that "unlock" logged in for
	// the TLS signatures of eidlink's PKCS#11 module (the service's
	// tlsauth.Bridge). Without it "unlock" is refused: only the service
	// signs for the module.
	Unlocker Unlocker
	// TLSPIN, when set, takes the "tls-pin" answers to the service's
	// "tls-pin-request" events; it owns the PIN it is given. Without it
	// "tls-pin" is refused.
	TLSPIN func(*protocol.TLSPINArgs) error
	Log    *slog.Logger
}

// Hello is the version message the host writes first.
func (c *Config) Hello() protocol.VersionMessage {
	if c.NoCardWait {
		return protocol.VersionMessage{Version: c.Version}
	}
	return protocol.Hello(c.Version)
}

// AppVersion is the appVersion URL written into tokens.
func (c *Config) AppVersion() string {
	return "https://eidlink.it/eidlink-host/" + c.Version
}

// Server runs the commands of one port.
type Server struct {
	cfg Config
	out func(v any) error

	changed chan struct{} // a card event came: a card wait tries again

	mu     sync.Mutex
	asking asking         // what the holder is asked for: "pin" and "cancel" answer it
	pins   chan pinAnswer // the answer, handed to the command (capacity 1)
}

// asking is what a command waits for from the holder.
type asking int

const (
	askingNothing asking = iota
	askingPIN            // a PINRequest is out
	askingCard           // a CardRequest is out
)

// pinAnswer is the extension's answer to a PIN or card request: a PIN, or
// an error ("cancel").
type pinAnswer struct {
	pin protocol.PIN
	err error
}

// result is the outcome of a command that ran on its own goroutine.
type result struct {
	command string
	v       any
	err     error
	start   time.Time
}

// Serve handles messages from in until in is closed, "quit" arrives or ctx
// is done. It owns every message it receives and zeroes each one after use.
// out must be safe for concurrent use (events are written from elsewhere).
//
// Serve keeps reading while a card command (authenticate, sign,
// get-signing-certificate) runs on its own goroutine, however long that
// command waits for the card or the PIN: "status" is answered at once,
// "pin" and "cancel" go to the pending PIN or card request, "quit" ends the
// command and the session, and another card command gets CodeBusy.
// Everything else is answered in the order it arrived.
func Serve(ctx context.Context, cfg Config, in <-chan protocol.Input, out func(v any) error) error {
	if cfg.PINTimeout == 0 {
		cfg.PINTimeout = DefaultPINTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.CardPoll == 0 {
		cfg.CardPoll = DefaultCardPoll
	}
	s := &Server{cfg: cfg, out: out, pins: make(chan pinAnswer, 1), changed: make(chan struct{}, 1)}
	if cfg.Events != nil {
		go func() {
			for ev := range cfg.Events(ctx) {
				if out(ev) != nil {
					return
				}
				select {
				case s.changed <- struct{}{}:
				default:
				}
			}
		}()
	}
	var (
		running bool
		stop    context.CancelFunc
		done    = make(chan result, 1)
	)
	// end cancels the command that runs, if any, and waits for it: its
	// answer is dropped, the session is over.
	end := func() {
		if running {
			stop()
			<-done
			running = false
		}
	}
	defer end()
	for {
		// A finished command is answered before the next message is
		// looked at, so that it does not find the port busy.
		select {
		case r := <-done:
			running = false
			if err := s.answer(r); err != nil {
				return err
			}
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-done:
			running = false
			if err := s.answer(r); err != nil {
				return err
			}
		case it, ok := <-in:
			if !ok {
				return nil
			}
			command, job, err := s.handle(ctx, it, running)
			if err == errQuit {
				end()
				s.out(struct{}{})
				return nil
			}
			if err != nil {
				return err
			}
			if job == nil {
				continue
			}
			jctx, jstop := context.WithCancel(ctx)
			stop, running = jstop, true
			go func(command string) {
				defer jstop()
				start := time.Now()
				v, err := job(jctx)
				done <- result{command, v, err, start}
			}(command)
		}
	}
}

// errQuit ends Serve after "quit".
var errQuit = errors.New("quit")

// handle takes one input: it answers at once (a refusal, the status, a
// PIN or cancel handed to the waiting command) or returns the card
// command to start. Its errors end the session; errQuit asks to.
func (s *Server) handle(ctx context.Context, it protocol.Input, running bool) (command string, job func(context.Context) (any, error), err error) {
	if it.Err != nil {
		return "", nil, s.fail("", it.Err)
	}
	req, err := protocol.ParseRequest(it.Msg)
	clear(it.Msg)
	if err != nil {
		return "", nil, s.fail("", err)
	}
	defer clear(req.Arguments)
	switch req.Command {
	case protocol.CmdQuit, protocol.CmdStatus:
		if err := protocol.ParseNoArguments(req.Arguments); err != nil {
			return "", nil, s.fail(req.Command, err)
		}
		if req.Command == protocol.CmdQuit {
			return "", nil, errQuit
		}
		return "", nil, s.out(s.status(ctx))
	case protocol.CmdPIN, protocol.CmdCancel:
		if err := s.handOver(req); err != nil {
			return "", nil, s.fail(req.Command, err)
		}
		return "", nil, nil
	case protocol.CmdTLSPIN: // answered at once, whatever runs: it is not this port's request
		if s.cfg.TLSPIN == nil {
			return "", nil, s.fail(req.Command, protocol.Errorf(protocol.CodeUnknownCommand, "\"tls-pin\" needs the eidlink service"))
		}
		a, err := protocol.ParseTLSPIN(req.Arguments)
		if err == nil {
			err = s.cfg.TLSPIN(a)
		}
		if err != nil {
			return "", nil, s.fail(req.Command, err)
		}
		return "", nil, s.out(struct{}{})
	}
	if running {
		return "", nil, s.fail(req.Command, s.busy())
	}
	if job, err = s.prepare(req); err != nil {
		return "", nil, s.fail(req.Command, err)
	}
	return req.Command, job, nil
}

// answer writes the final answer of a command.
func (s *Server) answer(r result) error {
	if r.err != nil {
		return s.fail(r.command, r.err)
	}
	s.cfg.Log.Info("command done", "command", r.command, "ms", time.Since(r.start).Milliseconds())
	return s.out(r.v)
}

func (s *Server) fail(command string, err error) error {
	pe := protocol.AsError(err)
	s.cfg.Log.Warn("command failed", "command", command, "code", pe.Code, "error", pe.Error())
	return s.out(protocol.ErrorMessage{Error: pe})
}

// busy is the error for a card command sent while another runs.
func (s *Server) busy() error {
	s.mu.Lock()
	asking := s.asking
	s.mu.Unlock()
	var e *protocol.Error
	switch asking {
	case askingPIN:
		e = protocol.Errorf(protocol.CodeBusy, "a PIN request is pending: send \"pin\" or \"cancel\" first")
	case askingCard:
		e = protocol.Errorf(protocol.CodeBusy, "a card request is pending: present the card or send \"cancel\" first")
	default:
		e = protocol.Errorf(protocol.CodeBusy, "another command is running on this connection")
	}
	e.Retryable = true
	return e
}

// prepare checks a card command's arguments and returns the work to run.
func (s *Server) prepare(req *protocol.Request) (func(context.Context) (any, error), error) {
	switch req.Command {
	case protocol.CmdAuthenticate:
		a, err := protocol.ParseAuthenticate(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) { return s.authenticate(ctx, a) }, nil
	case protocol.CmdGetSigningCertificate:
		a, err := protocol.ParseGetSigningCertificate(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) { return s.signingCertificate(ctx, a) }, nil
	case protocol.CmdSign:
		a, err := protocol.ParseSign(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(a.Certificate)
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidArgument, "certificate does not parse: %v", err)
		}
		return func(ctx context.Context) (any, error) { return s.sign(ctx, a, cert) }, nil
	case protocol.CmdUnlock:
		if s.cfg.Unlocker == nil {
			return nil, protocol.Errorf(protocol.CodeUnknownCommand, "\"unlock\" needs the eidlink service, which signs for eidlink's PKCS#11 module")
		}
		a, err := protocol.ParseUnlock(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) { return s.unlock(ctx, a) }, nil
	}
	if !utf8.ValidString(req.Command) || len(req.Command) > 64 {
		return nil, protocol.Errorf(protocol.CodeUnknownCommand, "unknown command")
	}
	return nil, protocol.Errorf(protocol.CodeUnknownCommand, "unknown command %q", req.Command)
}

func (s *Server) authenticate(ctx context.Context, a *protocol.AuthenticateArgs) (any, error) {
	card, err := s.openCard(ctx, a.Origin, protocol.CmdAuthenticate, ms(a.WaitForCard))
	if err != nil {
		return nil, err
	}
	defer card.Close()
	if err := s.login(ctx, card, a.Origin, protocol.CmdAuthenticate); err != nil {
		return nil, err
	}
	cert := card.AuthCertificate() // after the PIN: a CIE may show it only then
	return authtoken.Create(ctx, cert, CertSigner{card, cert}, a.Origin, a.ChallengeNonce, s.cfg.AppVersion())
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// open opens the card with open (the provider's Open); when there is
// none, the error says why (see Config.Check).
func (s *Server) open(ctx context.Context, open func(context.Context) (Card, error)) (Card, error) {
	card, err := open(ctx)
	if err == nil || s.cfg.Check == nil || protocol.AsError(err).Code != protocol.CodeNoCard {
		return card, err
	}
	if why := protocol.AsError(s.cfg.Check(ctx, err)); why != nil && why.Code != protocol.CodeNoCard {
		s.cfg.Log.Debug("the card software found no card", "err", err, "pcsc", why)
		return nil, why
	}
	return nil, err
}

// CertSigner signs with the key of Card that goes with Cert: the signer
// authtoken.Create takes.
type CertSigner struct {
	Card Card
	Cert *x509.Certificate
}

func (c CertSigner) Sign(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	return c.Card.Sign(ctx, c.Cert, h, digest)
}

func (s *Server) signingCertificate(ctx context.Context, a *protocol.GetSigningCertificateArgs) (any, error) {
	card, err := s.openCard(ctx, a.Origin, protocol.CmdGetSigningCertificate, ms(a.WaitForCard))
	if err != nil {
		return nil, err
	}
	defer card.Close()
	cert := card.SigningCertificate()
	return &protocol.SigningCertificateResult{
		Certificate:                  base64.StdEncoding.EncodeToString(cert.Raw),
		SupportedSignatureAlgorithms: supportedAlgorithms(cert),
	}, nil
}

// supportedAlgorithms lists what the card can sign with cert's key: eidlink
// signs digests, so every hash function goes with the key's one scheme.
func supportedAlgorithms(cert *x509.Certificate) []protocol.SignatureAlgorithm {
	kind, padding := "RSA", "PKCS1.5"
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); ok {
		kind, padding = "ECC", "NONE"
	} else if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return nil
	}
	var algs []protocol.SignatureAlgorithm
	for _, h := range []string{"SHA-224", "SHA-256", "SHA-384", "SHA-512", "SHA3-224", "SHA3-256", "SHA3-384", "SHA3-512"} {
		algs = append(algs, protocol.SignatureAlgorithm{CryptoAlgorithm: kind, HashFunction: h, PaddingScheme: padding})
	}
	return algs
}

// sign runs "sign" r, for the certificate want (r.Certificate parsed).
func (s *Server) sign(ctx context.Context, r *protocol.SignRequest, want *x509.Certificate) (any, error) {
	card, err := s.openCard(ctx, r.Origin, protocol.CmdSign, ms(r.WaitForCard))
	if err != nil {
		return nil, err
	}
	defer card.Close()
	cert := card.SigningCertificate()
	if !cert.Equal(want) {
		return nil, protocol.Errorf(protocol.CodeNoCertificate, "the card in the reader does not hold the requested signing certificate")
	}
	if err := s.login(ctx, card, r.Origin, protocol.CmdSign); err != nil {
		return nil, err
	}
	sig, err := card.Sign(ctx, cert, protocol.HashFunctions[r.HashFunc], r.Hash)
	if err != nil {
		return nil, err
	}
	alg := supportedAlgorithms(cert)[0]
	alg.HashFunction = r.HashFunc
	return &protocol.SignResult{Signature: base64.StdEncoding.EncodeToString(sig), SignatureAlgorithm: alg}, nil
}

// Unlocker keeps a card unlocked for TLS signatures (Config.Unlocker).
type Unlocker interface {
	// Open opens, in its turn, the card that "unlock" names
	// (protocol.UnlockArgs.Card; "" for the only card inserted). Its
	// errors are those of Provider.Open, and CodeCardAmbiguous, listing
	// the cards, when the name fits several.
	Open(ctx context.Context, card string) (Card, error)
	// Keep takes card, logged in with the holder's PIN for origin ("" from
	// a command-line tool), and keeps it for the signatures of eidlink's
	// PKCS#11 module; it closes card when the unlock ends.
	Keep(card Card, origin string) (*protocol.Unlocked, error)
}

// unlock runs "unlock": the PIN conversation of a login, purpose "tls",
// then the card goes to the Unlocker.
func (s *Server) unlock(ctx context.Context, a *protocol.UnlockArgs) (any, error) {
	card, err := s.openCardWith(ctx, a.Origin, protocol.PurposeTLS, ms(a.WaitForCard), func(ctx context.Context) (Card, error) {
		return s.cfg.Unlocker.Open(ctx, a.Card)
	})
	if err != nil {
		return nil, err
	}
	if err := s.login(ctx, card, a.Origin, protocol.PurposeTLS); err != nil {
		card.Close()
		return nil, err
	}
	u, err := s.cfg.Unlocker.Keep(card, a.Origin)
	if err != nil {
		card.Close()
		return nil, err
	}
	return &protocol.UnlockResult{Unlocked: u}, nil
}

func (s *Server) status(ctx context.Context) *protocol.Status {
	st := &protocol.Status{Version: s.cfg.Version, Mode: protocol.ModeInProcess}
	st.Modules, st.Tokens = s.cfg.Provider.Status(ctx)
	if s.cfg.Status != nil {
		s.cfg.Status(ctx, st)
	}
	return st
}
