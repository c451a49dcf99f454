package pcsc

import (
	"errors"
	"testing"

	"github.com/ebfe/scard"
)

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		op   string
		code scard.Error
		want error
	}{
		{"establish context", scard.ErrNoService, ErrNoService},
		{"get status change", scard.ErrServiceStopped, ErrNoService},
		{"list readers", scard.ErrNoReadersAvailable, ErrNoReaders},
		{"connect to r", scard.ErrUnknownReader, ErrNoReaders},
		{"connect to r", scard.ErrNoSmartcard, ErrNoCard},
		{"transmit", scard.ErrRemovedCard, ErrCardRemoved},
		{"transmit", scard.ErrNotTransacted, ErrCardRemoved},
		{"begin transaction", scard.ErrResetCard, ErrCardReset},
		{"connect to r", scard.ErrSharingViolation, ErrSharingViolation},
		{"get status change", scard.ErrTimeout, ErrTimeout},
		{"end transaction", scard.ErrNotTransacted, nil},
		{"control", scard.ErrUnsupportedFeature, nil},
	} {
		err := wrap(tt.op, tt.code)
		if !errors.Is(err, tt.code) || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("wrap(%s, %v) = %v, want %v", tt.op, tt.code, err, tt.want)
		}
		for _, s := range []error{ErrNoService, ErrNoReaders, ErrNoCard, ErrCardRemoved, ErrCardReset, ErrSharingViolation, ErrTimeout} {
			if s != tt.want && errors.Is(err, s) {
				t.Errorf("wrap(%s, %v) = %v, matches %v too", tt.op, tt.code, err, s)
			}
		}
	}
	if wrap("x", nil) != nil {
		t.Error("wrap(nil) != nil")
	}
}
