package cryptoki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/testenv"
)

func TestDiscover(t *testing.T) {
	testenv.NeedSoftHSM(t)
	dir := t.TempDir()
	lib := filepath.Join(dir, "libvendor.so")
	if err := os.WriteFile(lib, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvModule, strings.Join([]string{softhsm, "", "/nonexistent/libfirst.so"}, string(os.PathListSeparator)))
	conf := filepath.Join(dir, "config.json")
	write := func(s string) {
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"pkcs11Modules": [{"name": "OpenSC", "path": "` + lib + `"}, {"path": "` + softhsm + `"}], "trustAnchors": ["x"]}`)
	mods, err := Discover(conf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Module{
		{Name: "libsofthsm2.so", Path: softhsm, Source: SourceEnv, Present: true},
		{Name: "libfirst.so", Path: "/nonexistent/libfirst.so", Source: SourceEnv},
		{Name: "OpenSC", Path: lib, Source: SourceConfig, Present: true},
	}
	for i, w := range want {
		if i >= len(mods) || mods[i] != w {
			t.Fatalf("Discover()[%d] = %+v, want %+v", i, mods[i:], w)
		}
	}
	for _, m := range mods[len(want):] {
		if m.Source != SourceBuiltin || m.Name == "OpenSC" || m.Path == softhsm {
			t.Errorf("after env and config: %+v (OpenSC is overridden, softhsm listed once)", m)
		}
	}
	if len(mods) == len(want) {
		t.Error("no built-in modules")
	}

	write(`{"disableBuiltinModules": true}`)
	if mods, err := Discover(conf); err != nil || len(mods) != 2 {
		t.Errorf("builtins disabled: %+v, %v", mods, err)
	}
	write(`{"pkcs11Modules": [{"path": "relative.so"}]}`)
	if mods, err := Discover(conf); err == nil || len(mods) < 3 {
		t.Errorf("bad config: err = %v with %d modules, want an error and the other sources", err, len(mods))
	}
	if mods, err := Discover(filepath.Join(dir, "missing.json")); err != nil || len(mods) < 3 {
		t.Errorf("missing config file: %d modules, %v", len(mods), err)
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ok      bool
		modules int
	}{
		{`{}`, true, 0},
		{`{"pkcs11Modules": [{"name": "Mine", "path": "/opt/mine.so"}], "disableBuiltinModules": true, "other": 1}`, true, 1},
		{`{"pkcs11Modules": [{"path": ""}]}`, false, 0},
		{`{"pkcs11Modules": {"path": "/x.so"}}`, false, 0},
		{`{"disableBuiltinModules": "yes"}`, false, 0},
		{`not json`, false, 0},
	} {
		c, err := parseConfig([]byte(tc.in))
		if (err == nil) != tc.ok || err == nil && len(c.Modules) != tc.modules {
			t.Errorf("parseConfig(%s) = %+v, %v", tc.in, c, err)
		}
	}
	c, _ := parseConfig([]byte(`{"pkcs11Modules": [{"path": "/opt/lib/libx.so"}]}`))
	if c.Modules[0].Name != "libx.so" {
		t.Errorf("unnamed module named %q, want its file name", c.Modules[0].Name)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"pkcs11Modules": [{"name": "Mine", "path": "/opt/mine.so"}], "disableBuiltinModules": true}`))
	f.Add([]byte(`{"pkcs11Modules": [{"path": "x"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseConfig(data)
		if err != nil {
			return
		}
		for _, m := range c.Modules {
			if !filepath.IsAbs(m.Path) || m.Name == "" {
				t.Errorf("accepted module %+v", m)
			}
		}
	})
}
