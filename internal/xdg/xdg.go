// Package xdg is the XDG Base Directory Specification's rule for a
// variable that names a directory: only an absolute path counts; a value
// that is unset, empty or relative is ignored and the default applies.
// eidlink's own directory variables (EIDLINK_CONFIG_DIR,
// EIDLINK_RUNTIME_DIR) follow the same rule.
package xdg

import (
	"os"
	"path/filepath"
)

// Dir is the directory $env names when it holds an absolute path, else
// def.
func Dir(env, def string) string {
	if d := os.Getenv(env); filepath.IsAbs(d) {
		return d
	}
	return def
}
