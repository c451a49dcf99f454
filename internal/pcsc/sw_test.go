package pcsc_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/eidlink/eidlink/internal/pcsc"
)

func TestCheckSW(t *testing.T) {
	for _, tt := range []struct {
		resp     []byte
		data     []byte
		sentinel error
		retries  int // for *AuthError, else -1
	}{
		{[]byte{0x01, 0x90, 0x00}, []byte{0x01}, nil, -1},
		{[]byte{0x63, 0xC2}, nil, nil, 2},
		{[]byte{0x63, 0xC0}, nil, pcsc.ErrBlocked, 0},
		{[]byte{0x69, 0x83}, nil, pcsc.ErrBlocked, -1},
		{[]byte{0x69, 0x82}, nil, pcsc.ErrSecurityStatus, -1},
		{[]byte{0x6A, 0x82}, nil, pcsc.ErrNotFound, -1},
		{[]byte{0xAB, 0x62, 0x82}, []byte{0xAB}, pcsc.ErrEndOfFile, -1},
		{[]byte{0x6B, 0x00}, nil, pcsc.ErrEndOfFile, -1},
		{[]byte{0x6F, 0x00}, nil, nil, -1},
	} {
		data, err := pcsc.CheckSW(tt.resp)
		var ae *pcsc.AuthError
		switch {
		case !bytes.Equal(data, tt.data):
			t.Errorf("CheckSW(% X) data % X", tt.resp, data)
		case tt.sentinel != nil && !errors.Is(err, tt.sentinel):
			t.Errorf("CheckSW(% X) = %v, want %v", tt.resp, err, tt.sentinel)
		case tt.retries >= 0 && (!errors.As(err, &ae) || ae.Retries != tt.retries):
			t.Errorf("CheckSW(% X) = %v, want %d retries", tt.resp, err, tt.retries)
		case tt.resp[len(tt.resp)-2] != 0x90 && err == nil:
			t.Errorf("CheckSW(% X) = nil error", tt.resp)
		}
	}
	if _, err := pcsc.CheckSW([]byte{0x90}); err == nil {
		t.Error("CheckSW of one byte succeeded")
	}
}

// scripted is a card that answers each command from a table.
type scripted struct {
	pcsc.Card
	answers map[string][]byte
	sent    []string
}

func (s *scripted) Transmit(apdu []byte) ([]byte, error) {
	k := fmt.Sprintf("% X", apdu)
	s.sent = append(s.sent, k)
	if r, ok := s.answers[k]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unexpected APDU %s", k)
}

func TestExchange(t *testing.T) {
	// T=0 style: 61xx asks for GET RESPONSE, 6Cxx for the right Le.
	c := &scripted{answers: map[string][]byte{
		"00 B0 00 00 FF": {0x6C, 0x04},
		"00 B0 00 00 04": {0x01, 0x02, 0x61, 0x03},
		"00 C0 00 00 03": {0x03, 0x04, 0x05, 0x61, 0x01},
		"00 C0 00 00 01": {0x06, 0x90, 0x00},
	}}
	data, err := pcsc.Exchange(c, []byte{0x00, 0xB0, 0x00, 0x00, 0xFF})
	if err != nil || !bytes.Equal(data, []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("Exchange = % X, %v (sent %q)", data, err, c.sent)
	}
	c = &scripted{answers: map[string][]byte{"00 20 00 10 02 31 32": {0x63, 0xC1}}}
	var ae *pcsc.AuthError
	if _, err := pcsc.Exchange(c, []byte{0x00, 0x20, 0x00, 0x10, 0x02, 0x31, 0x32}); !errors.As(err, &ae) || ae.Retries != 1 {
		t.Fatalf("Exchange = %v, want 1 retry", err)
	}
}
