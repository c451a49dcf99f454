package install

import (
	"path"
	"path/filepath"
)

// OwnModuleName is the name eidlink's own PKCS#11 module is registered
// under: the Firefox manifest name (browser.pkcs11.installModule("eidlink")),
// the NSS database entry and the Firefox SecurityDevices policy key.
const OwnModuleName = "eidlink"

// ModuleFile is the file name of eidlink's PKCS#11 module on goos, as
// "make pkcs11" builds it.
func ModuleFile(goos string) string {
	switch goos {
	case "windows":
		return "eidlink-pkcs11.dll"
	case "darwin":
		return "libeidlink-pkcs11.dylib"
	}
	return "libeidlink-pkcs11.so"
}

// ModuleCandidates are the places eidlink's PKCS#11 module is looked for,
// in order, for an eidlink program in exeDir: next to the program (a
// source tree's bin/, the MSI's install folder), then where the packages
// put it (deb and rpm: /usr/lib/eidlink; the macOS pkg:
// /usr/local/lib/eidlink).
func ModuleCandidates(goos, exeDir string) []string {
	var out []string
	switch goos {
	case "windows":
		return []string{winJoin(exeDir, ModuleFile(goos))}
	case "darwin":
		out = []string{path.Join(exeDir, ModuleFile(goos)), "/usr/local/lib/eidlink/" + ModuleFile(goos)}
	default:
		out = []string{path.Join(exeDir, ModuleFile(goos)), "/usr/lib/eidlink/" + ModuleFile(goos)}
	}
	return out
}

// FindModule returns the first of ModuleCandidates that is a file, or
// the first candidate when none is (so that the person is told where it
// was expected).
func FindModule(goos, exeDir string) string {
	c := ModuleCandidates(goos, filepath.ToSlash(exeDir))
	for _, p := range c {
		if isFile(filepath.FromSlash(p)) {
			return filepath.FromSlash(p)
		}
	}
	return filepath.FromSlash(c[0])
}
