package pcsc

import (
	"errors"
	"fmt"
)

// Errors for ISO 7816-4 status words, matched with errors.Is on a
// *StatusError.
var (
	ErrBlocked          = errors.New("authentication method blocked")          // 6983
	ErrSecurityStatus   = errors.New("security status not satisfied")          // 6982
	ErrNotFound         = errors.New("file or application not found")          // 6A82
	ErrEndOfFile        = errors.New("end of file reached before Le bytes")    // 6282, 6B00
	ErrWrongLength      = errors.New("wrong length")                           // 6700
	ErrConditions       = errors.New("conditions of use not satisfied")        // 6985
	ErrWrongData        = errors.New("incorrect parameters in the data field") // 6A80
	ErrNotSupported     = errors.New("instruction or class not supported")     // 6D00, 6E00
	ErrWrongParameters  = errors.New("incorrect parameters P1-P2")             // 6A86, 6B00 outside files
	ErrReferenceMissing = errors.New("referenced data not found")              // 6A88
)

// StatusError is a status word other than 9000.
type StatusError struct{ SW uint16 }

func (e *StatusError) Error() string {
	if u := e.Unwrap(); u != nil {
		return fmt.Sprintf("card status %04X: %v", e.SW, u)
	}
	return fmt.Sprintf("card status %04X", e.SW)
}

// Unwrap returns the sentinel error for the status word, or nil.
func (e *StatusError) Unwrap() error {
	switch e.SW {
	case 0x6983:
		return ErrBlocked
	case 0x6982:
		return ErrSecurityStatus
	case 0x6A82:
		return ErrNotFound
	case 0x6282, 0x6B00:
		return ErrEndOfFile
	case 0x6700:
		return ErrWrongLength
	case 0x6985:
		return ErrConditions
	case 0x6A80:
		return ErrWrongData
	case 0x6D00, 0x6E00:
		return ErrNotSupported
	case 0x6A86:
		return ErrWrongParameters
	case 0x6A88:
		return ErrReferenceMissing
	}
	return nil
}

// AuthError is a failed verification (63Cx): Retries tries are left.
type AuthError struct{ Retries int }

func (e *AuthError) Error() string {
	return fmt.Sprintf("verification failed, %d tries left", e.Retries)
}

// Unwrap makes a failure with no tries left match ErrBlocked.
func (e *AuthError) Unwrap() error {
	if e.Retries == 0 {
		return ErrBlocked
	}
	return nil
}

// CheckSW splits a response APDU into data and status word and returns an
// error for any status other than 9000.
func CheckSW(resp []byte) ([]byte, error) {
	if len(resp) < 2 {
		return nil, fmt.Errorf("pcsc: response of %d bytes has no status word", len(resp))
	}
	data, sw := resp[:len(resp)-2], uint16(resp[len(resp)-2])<<8|uint16(resp[len(resp)-1])
	switch {
	case sw == 0x9000:
		return data, nil
	case sw&0xFFF0 == 0x63C0:
		return data, &AuthError{Retries: int(sw & 0xF)}
	}
	return data, &StatusError{SW: sw}
}

// Exchange sends one command APDU, fetches the rest of the response when
// the card answers 61xx (GET RESPONSE) or asks for another Le (6Cxx), and
// returns the data with CheckSW's error. 6282 is returned with its data.
func Exchange(c Card, apdu []byte) ([]byte, error) {
	resp, err := c.Transmit(apdu)
	if err != nil {
		return nil, err
	}
	if len(resp) == 2 && resp[0] == 0x6C && len(apdu) >= 4 {
		n := max(4, len(apdu)-1) // drop the Le that the card refused
		if resp, err = c.Transmit(append(apdu[:n:n], resp[1])); err != nil {
			return nil, err
		}
	}
	var out []byte
	for i := 0; len(resp) >= 2 && resp[len(resp)-2] == 0x61 && i < 64; i++ {
		out = append(out, resp[:len(resp)-2]...)
		if resp, err = c.Transmit([]byte{apdu[0] & 0x03, 0xC0, 0, 0, resp[len(resp)-1]}); err != nil {
			return nil, err
		}
	}
	data, err := CheckSW(resp)
	return append(out, data...), err
}
