package cryptoki

import (
	"errors"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/protocol"
	"github.com/miekg/pkcs11"
)

func TestCardError(t *testing.T) {
	for _, tc := range []struct {
		rv        uint
		code      protocol.Code
		retryable bool
	}{
		{pkcs11.CKR_PIN_INCORRECT, protocol.CodePINIncorrect, false},
		{pkcs11.CKR_PIN_LOCKED, protocol.CodePINBlocked, false},
		{pkcs11.CKR_PIN_LEN_RANGE, protocol.CodePINFormat, false},
		{pkcs11.CKR_PIN_INVALID, protocol.CodePINFormat, false},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, protocol.CodeCardRemoved, true},
		{pkcs11.CKR_DEVICE_REMOVED, protocol.CodeCardRemoved, true},
		{pkcs11.CKR_DEVICE_ERROR, protocol.CodeCardRemoved, true},
		{pkcs11.CKR_SESSION_HANDLE_INVALID, protocol.CodeCardRemoved, true},
		{pkcs11.CKR_SESSION_CLOSED, protocol.CodeCardRemoved, true},
		{pkcs11.CKR_FUNCTION_CANCELED, protocol.CodeUserCancelled, false},
		{pkcs11.CKR_GENERAL_ERROR, protocol.CodeCardError, false},
		{pkcs11.CKR_MECHANISM_INVALID, protocol.CodeCardError, false},
	} {
		err := cardError("op", pkcs11.Error(tc.rv))
		if err == nil || err.Code != tc.code || err.Retryable != tc.retryable || !errors.Is(err, pkcs11.Error(tc.rv)) {
			t.Errorf("0x%X: %+v, want %s retryable=%v", tc.rv, err, tc.code, tc.retryable)
		}
		if name := strings.TrimPrefix(pkcs11.Error(tc.rv).Error(), "pkcs11: "); !strings.Contains(err.Error(), name) {
			t.Errorf("0x%X: error %q lacks %q", tc.rv, err.Error(), name)
		}
	}
	if err := cardError("login", pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)); err != nil {
		t.Errorf("CKR_USER_ALREADY_LOGGED_IN = %v, want success", err)
	}
	if cardError("op", nil) != nil {
		t.Error("nil error mapped to an error")
	}
	if err := cardError("op", errors.New("dlopen")); err.Code != protocol.CodeCardError {
		t.Errorf("non-PKCS#11 error: %v", err)
	}
}

func TestTriesLeft(t *testing.T) {
	for _, tc := range []struct {
		flags  uint
		kind   eidcert.Kind
		tries  int
		locked bool
	}{
		{0, eidcert.CIE, 3, false},
		{0, eidcert.CNS, 3, false},
		{0, eidcert.Unknown, -1, false},
		{pkcs11.CKF_USER_PIN_COUNT_LOW, eidcert.CIE, 2, false},
		{pkcs11.CKF_USER_PIN_COUNT_LOW, eidcert.Unknown, -1, false},
		{pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY, eidcert.CNS, 1, false},
		{pkcs11.CKF_USER_PIN_FINAL_TRY, eidcert.Unknown, 1, false},
		{pkcs11.CKF_USER_PIN_LOCKED | pkcs11.CKF_USER_PIN_FINAL_TRY, eidcert.Unknown, 0, true},
	} {
		if tries, locked := triesLeft(tc.flags, tc.kind); tries != tc.tries || locked != tc.locked {
			t.Errorf("triesLeft(0x%X, %s) = %d, %v, want %d, %v", tc.flags, tc.kind, tries, locked, tc.tries, tc.locked)
		}
	}
}
