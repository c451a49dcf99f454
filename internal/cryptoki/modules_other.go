//go:build !linux && !darwin && !windows

package cryptoki

// builtinModules is empty where eidlink knows no middleware: set
// EIDLINK_PKCS11_MODULE or the config file.
func builtinModules() []Module { return nil }
