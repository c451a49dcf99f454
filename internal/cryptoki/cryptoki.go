package cryptoki

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// cryptoki is the part of a loaded PKCS#11 module this package uses;
// *pkcs11.Ctx implements it. Tests wrap it to inject token faults.
type cryptoki interface {
	GetInfo() (pkcs11.Info, error)
	GetSlotList(tokenPresent bool) ([]uint, error)
	GetSlotInfo(slot uint) (pkcs11.SlotInfo, error)
	GetTokenInfo(slot uint) (pkcs11.TokenInfo, error)
	GetMechanismList(slot uint) ([]*pkcs11.Mechanism, error)
	GetMechanismInfo(slot uint, m []*pkcs11.Mechanism) (pkcs11.MechanismInfo, error)
	OpenSession(slot uint, flags uint) (pkcs11.SessionHandle, error)
	CloseSession(sh pkcs11.SessionHandle) error
	Login(sh pkcs11.SessionHandle, userType uint, pin string) error
	Logout(sh pkcs11.SessionHandle) error
	FindObjectsInit(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) error
	FindObjects(sh pkcs11.SessionHandle, max int) ([]pkcs11.ObjectHandle, bool, error)
	FindObjectsFinal(sh pkcs11.SessionHandle) error
	GetAttributeValue(sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, a []*pkcs11.Attribute) ([]*pkcs11.Attribute, error)
	SignInit(sh pkcs11.SessionHandle, m []*pkcs11.Mechanism, key pkcs11.ObjectHandle) error
	Sign(sh pkcs11.SessionHandle, message []byte) ([]byte, error)
	Finalize() error
	Destroy()
}

// loadModule loads and initialises the module at path. shared reports
// that the module was already initialised in this process by someone
// else, who then also finalises it.
func loadModule(path string) (m cryptoki, shared bool, err error) {
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, false, fmt.Errorf("cannot load %s: not a PKCS#11 library for this system, or one of its dependencies is missing", path)
	}
	switch err := ctx.Initialize(); {
	case errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)):
		return ctx, true, nil
	case err != nil:
		ctx.Destroy()
		return nil, false, fmt.Errorf("initialising %s: %w", path, err)
	}
	return ctx, false, nil
}

// findObjects returns the handles of the objects matching template.
func findObjects(m cryptoki, sh pkcs11.SessionHandle, template ...*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := m.FindObjectsInit(sh, template); err != nil {
		return nil, err
	}
	defer m.FindObjectsFinal(sh)
	var all []pkcs11.ObjectHandle
	for len(all) < 1024 {
		hs, _, err := m.FindObjects(sh, 64)
		if err != nil {
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, nil
}

// attribute reads one attribute, nil when the object does not have it.
// Attributes are read one at a time because C_GetAttributeValue fails as a
// whole when one of several is missing or sensitive.
func attribute(m cryptoki, sh pkcs11.SessionHandle, o pkcs11.ObjectHandle, typ uint) []byte {
	a, err := m.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil || len(a) != 1 {
		return nil
	}
	return a[0].Value
}
