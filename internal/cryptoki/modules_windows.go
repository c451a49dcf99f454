package cryptoki

import (
	"os"
	"path/filepath"

	"github.com/eidlink/eidlink/internal/protocol"
)

// builtinModules lists the PKCS#11 modules of the Italian eID middleware
// and OpenSC where their Windows installers put them, official CIE module
// first. Vendor DLL names other than IPZS and OpenSC come from third-party
// lists; configure the right path if yours differs.
func builtinModules() []Module {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	sys := func(dll string) string { return filepath.Join(root, "System32", dll) }
	return []Module{
		{Name: protocol.ModuleIPZS, Path: sys("CIEPKI.dll")},
		{Name: "Bit4id", Path: sys("bit4xpki.dll")},
		{Name: "Bit4id", Path: sys("bit4ipki.dll")},
		{Name: "Bit4id", Path: sys("bit4opki.dll")},
		{Name: "Athena", Path: sys("asepkcs.dll")},
		{Name: "CardOS", Path: sys("siecap11.dll")},
		{Name: "CardOS", Path: sys("cnsPKCS11.dll")},
		{Name: "Incard", Path: sys("inp11lib.dll")},
		{Name: "OpenSC", Path: sys("opensc-pkcs11.dll")},
		{Name: "OpenSC", Path: `C:\Program Files\OpenSC Project\OpenSC\pkcs11\opensc-pkcs11.dll`},
	}
}
