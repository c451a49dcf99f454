package cryptoki

import "github.com/eidlink/eidlink/internal/protocol"

// builtinModules lists the PKCS#11 modules of the Italian eID middleware
// and OpenSC where their macOS installers put them, official CIE module
// first. Vendor paths other than IPZS and OpenSC come from third-party
// lists; configure the right one if yours differs.
func builtinModules() []Module {
	return []Module{
		{Name: protocol.ModuleIPZS, Path: "/Library/ipzs/libcie-pkcs11.dylib"},
		{Name: protocol.ModuleIPZS, Path: "/usr/local/lib/libcie-pkcs11.dylib"},
		{Name: "Bit4id", Path: "/usr/local/lib/bit4id/libbit4xpki.dylib"},
		{Name: "Athena", Path: "/usr/local/lib/libASEP11.dylib"},
		{Name: "CardOS", Path: "/usr/local/lib/libsiecap11.dylib"},
		{Name: "Incard", Path: "/usr/local/lib/libinp11.dylib"},
		{Name: "OpenSC", Path: "/Library/OpenSC/lib/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/usr/local/lib/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/opt/homebrew/lib/opensc-pkcs11.so"},
	}
}
