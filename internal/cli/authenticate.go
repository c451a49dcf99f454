package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"

	"golang.org/x/term"

	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/eidlink/eidlink/internal/service"
)

func (e *env) authenticate(args []string) error {
	fs := e.newFlags("authenticate")
	origin := fs.String("origin", "", "the site's origin, https://host[:port]")
	nonce := fs.String("nonce", "", "the challenge nonce the site issued (base64)")
	dev := fs.Bool("dev", false, "accept http://localhost origins (developer mode)")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if *origin == "" || *nonce == "" || fs.NArg() > 0 {
		return usagef("authenticate needs --origin and --nonce")
	}
	req, _ := json.Marshal(protocol.Request{Command: protocol.CmdAuthenticate,
		Arguments: mustMarshal(protocol.AuthenticateArgs{ChallengeNonce: *nonce, Origin: *origin})})
	result, err := e.converse(req, *dev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", result)
	return err
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called with plain structs
	}
	return b
}

// converse runs one command through the same command loop the native host
// uses, answering its PIN requests from the terminal (or one line of
// stdin), and returns the command's result.
func (e *env) converse(req []byte, dev bool) (json.RawMessage, error) {
	cfg, closeProvider := HostConfig()
	defer closeProvider()
	// Take turns on the card with the user's eidlink-hosts that drive it
	// themselves (no service), as they do among themselves. A PIN piped
	// in is answered at once: that PIN request is no prompt that others
	// should not wait behind.
	lockFile := ""
	if p, err := ipc.PathsFor(ipc.DefaultName); err == nil {
		lockFile = service.CardLockFile(p)
	}
	cfg.Provider = service.Queued(cfg.Provider, lockFile)
	if !e.terminal() {
		cfg.Provider = noPrompt{cfg.Provider}
	}
	if os.Getenv("EIDLINK_LOG") == "" {
		cfg.Log = nil // the CLI reports errors itself
	}
	cfg.Options.AllowLoopbackHTTP = cfg.Options.AllowLoopbackHTTP || dev
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	in := make(chan protocol.Input, 1)
	out := make(chan json.RawMessage, 1)
	done := make(chan error, 1)
	go func() {
		done <- command.Serve(ctx, cfg, in, func(v any) error {
			b, err := json.Marshal(v)
			if err == nil {
				out <- b
			}
			return err
		})
	}()
	in <- protocol.Input{Msg: req}
	defer close(in)
	return e.talk(func(msg []byte) error {
		in <- protocol.Input{Msg: msg} // the command loop zeroes it after use
		return nil
	}, func() (json.RawMessage, error) {
		select {
		case msg := <-out:
			return msg, nil
		case err := <-done:
			if err == nil {
				err = fmt.Errorf("the command ended without an answer")
			}
			return nil, err
		}
	})
}

// talk answers the PIN and card requests of the command sent, through
// send and recv, and returns its result. It takes each message that send
// is given as its own (send zeroes it, or hands it to who does).
func (e *env) talk(send func([]byte) error, recv func() (json.RawMessage, error)) (json.RawMessage, error) {
	for {
		msg, err := recv()
		if err != nil {
			return nil, err
		}
		var m struct {
			PINRequest  *protocol.PINRequest  `json:"pinRequest"`
			CardRequest *protocol.CardRequest `json:"cardRequest"`
			Event       string                `json:"event"`
			Error       *protocol.Error       `json:"error"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			return nil, err
		}
		switch {
		case m.Error != nil:
			return nil, m.Error
		case m.Event != "":
			continue
		case m.CardRequest != nil:
			if m.CardRequest.Reason == protocol.CardReasonNoReader {
				fmt.Fprintf(e.stderr, "eidlink: connect the card reader\n")
			} else {
				fmt.Fprintf(e.stderr, "eidlink: put the card on the reader\n")
			}
			continue
		case m.PINRequest == nil:
			return msg, nil
		}
		pinMsg, err := e.askPIN(m.PINRequest)
		if err != nil {
			if send([]byte(`{"command":"cancel"}`)) == nil {
				recv() // the cancellation error
			}
			return nil, err
		}
		if err := send(pinMsg); err != nil {
			return nil, err
		}
	}
}

// terminal reports whether stdin is a terminal, where the holder types.
func (e *env) terminal() bool {
	f, ok := e.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// noPrompt hides, from the command loop, that the cards of a Provider
// track PIN requests (command.PromptWatcher).
type noPrompt struct{ command.Provider }

func (p noPrompt) Open(ctx context.Context) (command.Card, error) {
	c, err := p.Provider.Open(ctx)
	if err != nil {
		return nil, err
	}
	return struct{ command.Card }{c}, nil
}

// askPIN shows a PIN request and returns the "pin" message to send. With a
// terminal the holder types the PIN without echo; otherwise one line of
// stdin is the PIN, and a wrong PIN is not tried again.
func (e *env) askPIN(r *protocol.PINRequest) ([]byte, error) {
	tty := e.terminal()
	if r.Error != nil {
		if !tty {
			if r.Error.Code == protocol.CodePINIncorrect && r.TriesLeft >= 0 {
				e.errorf("%d tries left", r.TriesLeft)
			}
			return nil, r.Error // reported by the caller; a piped PIN is tried once
		}
		e.errorf("%s", r.Error.Message)
	}
	what := "PIN"
	switch {
	case r.PINPart == "last4":
		what = "the LAST 4 digits of the CIE PIN"
	case r.CardKind == string(eidcert.CIE):
		what = "the 8-digit CIE PIN"
	}
	who := r.Holder
	if r.CodiceFiscale != "" {
		who += " (" + r.CodiceFiscale + ")"
	}
	switch {
	case r.Purpose == protocol.PurposeTLS && r.Origin != "":
		fmt.Fprintf(e.stderr, "eidlink: %s card of %s, to log in to %s\n", r.CardKind, who, r.Origin)
	case r.Purpose == protocol.PurposeTLS:
		fmt.Fprintf(e.stderr, "eidlink: %s card of %s, to log in to a site (TLS)\n", r.CardKind, who)
	default:
		fmt.Fprintf(e.stderr, "eidlink: %s card of %s for %s\n", r.CardKind, who, r.Origin)
	}
	if r.TriesLeft >= 0 {
		fmt.Fprintf(e.stderr, "eidlink: %d tries left\n", r.TriesLeft)
	}
	if r.LastTry {
		e.errorf("WARNING: this is the last try; a wrong PIN blocks the card")
	}
	if r.Pinpad {
		fmt.Fprintf(e.stderr, "eidlink: type the PIN on the card reader\n")
		return []byte(`{"command":"pin","arguments":{"pin":""}}`), nil
	}
	fmt.Fprintf(e.stderr, "eidlink: enter %s: ", what)
	var pin []byte
	var err error
	if tty {
		pin, err = term.ReadPassword(int(e.stdin.(*os.File).Fd()))
		fmt.Fprintln(e.stderr)
	} else {
		pin, err = readLine(e.stdin)
	}
	defer clear(pin)
	if err != nil {
		return nil, fmt.Errorf("could not read the PIN: %w", err)
	}
	const head, tail = `{"command":"pin","arguments":{"pin":"`, `"}}`
	msg := make([]byte, 0, len(head)+len(pin)+len(tail)) // one allocation: no stray copies
	msg = append(append(append(msg, head...), pin...), tail...)
	return msg, nil
}

// readLine reads up to a newline one byte at a time, so no buffered copy
// of the PIN is left behind, and without the line ending.
func readLine(r io.Reader) ([]byte, error) {
	line := make([]byte, 0, protocol.MaxPINLength+1) // never reallocated
	var b [1]byte
	for len(line) <= protocol.MaxPINLength {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if b[0] != '\r' {
				line = append(line, b[0])
			}
			continue
		}
		if err == io.EOF && len(line) > 0 {
			break
		}
		if err != nil {
			clear(line)
			return nil, err
		}
	}
	return line, nil
}
