package xdg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	const env = "EIDLINK_XDG_TEST_DIR"
	def := filepath.Join(t.TempDir(), "default")
	abs := filepath.Join(t.TempDir(), "set")
	for value, want := range map[string]string{
		abs:              abs,
		"":               def,
		"relative/dir":   def,
		"." + abs:        def,
		"~/not-expanded": def,
	} {
		t.Setenv(env, value)
		if got := Dir(env, def); got != want {
			t.Errorf("$%s=%q: Dir = %q, want %q", env, value, got, want)
		}
	}
	os.Unsetenv(env) // restored by t.Setenv's cleanup
	if got := Dir(env, def); got != def {
		t.Errorf("$%s unset: Dir = %q, want %q", env, got, def)
	}
}
