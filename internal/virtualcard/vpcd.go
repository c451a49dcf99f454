package virtualcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultAddr is vpcd's first reader, "Virtual PCD 00 00"; the second one,
// "Virtual PCD 00 01", listens on port 35964.
const DefaultAddr = "127.0.0.1:35963"

// Slot is a card's place in one vpcd reader.
type Slot struct {
	Card *Card
	Addr string // vpcd's address; empty means DefaultAddr
	// NoQuickAck leaves TCP_QUICKACK off. vpcd writes the length and the
	// body of each message separately, so with delayed ACKs every APDU
	// waits ~40 ms; QUICKACK before every read avoids it (Linux only).
	NoQuickAck bool
	Log        *slog.Logger // nil: discard
	// PullOn, for tests, is asked about every command APDU; when it says
	// true the card is pulled before it answers, as a holder who takes the
	// card away mid-operation. Insert puts it back. Set it before Insert,
	// or with SetPullOn while the card is in.
	PullOn func(apdu []byte) bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// SetPullOn sets PullOn while the card may be serving commands.
func (s *Slot) SetPullOn(f func(apdu []byte) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.PullOn = f
}

func (s *Slot) pullOn(apdu []byte) bool {
	s.mu.Lock()
	f := s.PullOn
	s.mu.Unlock()
	return f != nil && f(apdu)
}

func (s *Slot) addr() string {
	if s.Addr == "" {
		return DefaultAddr
	}
	return s.Addr
}

// Insert connects the card to vpcd; pcscd then sees it inserted. While
// inserted, a lost connection (pcscd restarted) is retried every second.
func (s *Slot) Insert() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return nil
	}
	conn, err := net.Dial("tcp", s.addr())
	if err != nil {
		return fmt.Errorf("vcard: connect to vpcd (is pcscd with vsmartcard-vpcd running?): %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.run(ctx, conn, s.done)
	return nil
}

// Remove disconnects the card from vpcd: the card is pulled. pcscd notices
// at vpcd's next poll (~0.4 s); a card inserted again before that was
// never seen removed.
func (s *Slot) Remove() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Inserted reports whether the card is inserted.
func (s *Slot) Inserted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancel != nil
}

func (s *Slot) run(ctx context.Context, conn net.Conn, done chan struct{}) {
	defer close(done)
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err := s.serve(conn)
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		log.Warn("vpcd connection lost, retrying", "addr", s.addr(), "err", err)
		for conn = nil; conn == nil; {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			var d net.Dialer
			conn, _ = d.DialContext(ctx, "tcp", s.addr())
		}
		log.Info("vpcd connection back", "addr", s.addr())
	}
}

var errPulled = errors.New("vcard: card pulled")

// serve answers vpcd until the connection fails.
func (s *Slot) serve(conn net.Conn) error {
	var hdr [2]byte
	buf := make([]byte, 0xFFFF)
	for {
		if !s.NoQuickAck {
			quickAck(conn)
		}
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return err
		}
		msg := buf[:binary.BigEndian.Uint16(hdr[:])]
		if !s.NoQuickAck {
			quickAck(conn)
		}
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		var out []byte
		switch {
		case len(msg) == 1 && msg[0] == 4:
			out = s.Card.ATR()
		case len(msg) == 1:
			s.Card.Reset() // power off, power on, reset
			continue
		case s.pullOn(msg):
			s.mu.Lock()
			cancel := s.cancel
			s.cancel = nil
			s.mu.Unlock()
			cancel() // run returns without reconnecting
			return errPulled
		default:
			out = s.Card.Process(msg)
		}
		if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
			return err
		}
	}
}
