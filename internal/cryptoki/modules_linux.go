package cryptoki

import "github.com/eidlink/eidlink/internal/protocol"

// builtinModules lists the PKCS#11 modules of the Italian eID middleware
// and OpenSC where their Linux packages install them, official CIE module
// first. Vendor paths other than IPZS and OpenSC come from third-party
// lists; configure the right one if yours differs.
func builtinModules() []Module {
	return []Module{
		{Name: protocol.ModuleIPZS, Path: "/usr/local/lib/libcie-pkcs11.so"},
		{Name: protocol.ModuleIPZS, Path: "/usr/local/lib/libciepki.so"},
		{Name: "Bit4id", Path: "/usr/lib/bit4id/libbit4xpki.so"},
		{Name: "Bit4id", Path: "/usr/lib/bit4id/libbit4ipki.so"},
		{Name: "Bit4id", Path: "/usr/lib/bit4id/libbit4opki.so"},
		{Name: "Athena", Path: "/usr/lib/libASEP11.so"},
		{Name: "Athena", Path: "/usr/local/lib/libASEP11.so"},
		{Name: "CardOS", Path: "/usr/lib/libsiecap11.so"},
		{Name: "Incard", Path: "/usr/lib/libinp11.so"},
		{Name: "Incard", Path: "/usr/local/lib/libinp11.so"},
		{Name: "OpenSC", Path: "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/usr/lib64/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/usr/lib/opensc-pkcs11.so"},
		{Name: "OpenSC", Path: "/usr/local/lib/opensc-pkcs11.so"},
	}
}
