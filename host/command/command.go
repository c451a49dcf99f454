// Package command serves eidlink's native commands (the Web eID native
// application protocol plus "status" and the PIN conversation) over any
// message transport: stdio framing for browsers, WebSocket for the service.
//
// One Server handles one port (one browser connection) and one command at a
// time, as the browser sends them.
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
	"time"
	"unicode/utf8"

	"github.com/eidlink/eidlink/host/authtoken"
	"github.com/eidlink/eidlink/host/protocol"
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
	// card (reader.Check): its error, when it has CodePCSCUnavailable or
	// CodeNoReader, replaces the provider's CodeNoCard, so that a command
	// names the same cause as the status.
	Check func(ctx context.Context) error
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
	Log        *slog.Logger
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

// Server runs commands read from in and writes replies with out. out must
// be safe for concurrent use (events may be written from elsewhere).
type Server struct {
	cfg     Config
	in      <-chan []byte
	out     func(v any) error
	changed chan struct{} // a card event came: a card wait tries again
}

// errQuit ends Serve after "quit".
var errQuit = errors.New("quit")

// Serve handles messages from in until in is closed, "quit" arrives or ctx
// is done. It owns every message it receives and zeroes each one after use.
func Serve(ctx context.Context, cfg Config, in <-chan []byte, out func(v any) error) error {
	if cfg.PINTimeout == 0 {
		cfg.PINTimeout = DefaultPINTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CardPoll == 0 {
		cfg.CardPoll = DefaultCardPoll
	}
	s := &Server{cfg: cfg, in: in, out: out, changed: make(chan struct{}, 1)}
	if cfg.Events != nil {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
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
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg, ok := <-in:
			if !ok {
				return nil
			}
			err := s.handle(ctx, msg)
			clear(msg)
			if err == errQuit {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

// handle runs one message. Errors returned end the session (transport
// failures); command failures are written to the extension.
func (s *Server) handle(ctx context.Context, msg []byte) error {
	req, err := protocol.ParseRequest(msg)
	if err != nil {
		return s.fail("", err)
	}
	defer clear(req.Arguments)
	start := time.Now()
	result, err := s.run(ctx, req)
	if err == errQuit || err == errClosed {
		if err == errQuit {
			s.out(struct{}{})
		}
		return errQuit
	}
	if err != nil {
		return s.fail(req.Command, err)
	}
	s.cfg.Log.Info("command done", "command", req.Command, "ms", time.Since(start).Milliseconds())
	return s.out(result)
}

func (s *Server) fail(command string, err error) error {
	pe := protocol.AsError(err)
	s.cfg.Log.Warn("command failed", "command", command, "code", pe.Code, "error", pe.Error())
	return s.out(protocol.ErrorMessage{Error: pe})
}

func (s *Server) run(ctx context.Context, req *protocol.Request) (any, error) {
	switch req.Command {
	case protocol.CmdAuthenticate:
		a, err := protocol.ParseAuthenticate(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return s.authenticate(ctx, a)
	case protocol.CmdGetSigningCertificate:
		a, err := protocol.ParseGetSigningCertificate(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return s.signingCertificate(ctx, a)
	case protocol.CmdSign:
		a, err := protocol.ParseSign(req.Arguments, s.cfg.Options)
		if err != nil {
			return nil, err
		}
		return s.sign(ctx, a)
	case protocol.CmdStatus:
		if err := protocol.ParseNoArguments(req.Arguments); err != nil {
			return nil, err
		}
		return s.status(ctx), nil
	case protocol.CmdQuit:
		if err := protocol.ParseNoArguments(req.Arguments); err != nil {
			return nil, err
		}
		return nil, errQuit
	case protocol.CmdPIN, protocol.CmdCancel:
		return nil, protocol.Errorf(protocol.CodeUnexpectedPIN, "%q sent while no PIN was requested", req.Command)
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
	cert := card.AuthCertificate()
	if err := s.login(ctx, card, a.Origin, protocol.CmdAuthenticate); err != nil {
		return nil, err
	}
	return authtoken.Create(ctx, cert, certSigner{card, cert}, a.Origin, a.ChallengeNonce, s.cfg.AppVersion())
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// open opens the card with the provider; when there is none, the error
// says why (see Config.Check).
func (s *Server) open(ctx context.Context) (Card, error) {
	card, err := s.cfg.Provider.Open(ctx)
	if err == nil || s.cfg.Check == nil || protocol.AsError(err).Code != protocol.CodeNoCard {
		return card, err
	}
	why := s.cfg.Check(ctx)
	if c := protocol.AsError(why); c != nil && (c.Code == protocol.CodePCSCUnavailable || c.Code == protocol.CodeNoReader) {
		return nil, why
	}
	return nil, err
}

type certSigner struct {
	card Card
	cert *x509.Certificate
}

func (c certSigner) Sign(ctx context.Context, h crypto.Hash, digest []byte) ([]byte, error) {
	return c.card.Sign(ctx, c.cert, h, digest)
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

func (s *Server) sign(ctx context.Context, r *protocol.SignRequest) (any, error) {
	card, err := s.openCard(ctx, r.Origin, protocol.CmdSign, ms(r.WaitForCard))
	if err != nil {
		return nil, err
	}
	defer card.Close()
	cert := card.SigningCertificate()
	if !cert.Equal(r.Certificate) {
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

func (s *Server) status(ctx context.Context) *protocol.Status {
	st := &protocol.Status{Version: s.cfg.Version, Mode: "in-process"}
	st.Modules, st.Tokens = s.cfg.Provider.Status(ctx)
	if s.cfg.Status != nil {
		s.cfg.Status(ctx, st)
	}
	return st
}
