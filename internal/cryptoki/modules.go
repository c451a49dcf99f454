package cryptoki

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvModule names the environment variable that lists PKCS#11 modules to
// try before all others: one or more paths separated by the OS list
// separator (":" on Unix, ";" on Windows).
const EnvModule = "EIDLINK_PKCS11_MODULE"

// Module sources, in the order Discover lists them.
const (
	SourceEnv     = "env"
	SourceConfig  = "config"
	SourceBuiltin = "builtin"
)

// Module is a PKCS#11 library eidlink may load.
type Module struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Source  string `json:"-"`
	Present bool   `json:"-"` // the file exists
}

// fileConfig is the part of eidlink's config file this package reads;
// other packages keep their own keys in the same file:
//
//	{
//	  "pkcs11Modules": [{"name": "Bit4id", "path": "/opt/bit4id/libbit4xpki.so"}],
//	  "disableBuiltinModules": false
//	}
type fileConfig struct {
	Modules         []Module `json:"pkcs11Modules"`
	DisableBuiltins bool     `json:"disableBuiltinModules"`
}

// DefaultConfigFile is eidlink's config file: eidlink/config.json in the
// user's configuration directory ($XDG_CONFIG_HOME or ~/.config on Linux,
// ~/Library/Application Support on macOS, %AppData% on Windows).
func DefaultConfigFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "eidlink", "config.json"), nil
}

// parseConfig decodes the config file. Unknown keys are ignored (they
// belong to other parts of eidlink); module entries need an absolute path.
func parseConfig(data []byte) (*fileConfig, error) {
	var c fileConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	for i, m := range c.Modules {
		if !filepath.IsAbs(m.Path) {
			return nil, fmt.Errorf("pkcs11Modules[%d]: path %q is not absolute", i, m.Path)
		}
		if m.Name == "" {
			c.Modules[i].Name = filepath.Base(m.Path)
		}
	}
	return &c, nil
}

// Discover lists the PKCS#11 modules to try, in order: the paths in
// $EIDLINK_PKCS11_MODULE, then the config file's pkcs11Modules, then the
// built-in table for this OS (unless the config file sets
// disableBuiltinModules). An env or config entry whose name matches a
// built-in module replaces it; a path is listed once. A missing config
// file is not an error; an unreadable or malformed one is returned as the
// error, alongside the modules from the other sources.
func Discover(configFile string) ([]Module, error) {
	var mods []Module
	for _, p := range filepath.SplitList(os.Getenv(EnvModule)) {
		if p != "" {
			mods = append(mods, Module{Name: filepath.Base(p), Path: p, Source: SourceEnv})
		}
	}
	cfg, err := readConfig(configFile)
	if err != nil {
		err = fmt.Errorf("config file %s: %w", configFile, err)
		cfg = &fileConfig{}
	}
	for _, m := range cfg.Modules {
		m.Source = SourceConfig
		mods = append(mods, m)
	}
	if !cfg.DisableBuiltins {
		named := map[string]bool{}
		for _, m := range mods {
			named[m.Name] = true
		}
		for _, m := range builtinModules() {
			if !named[m.Name] {
				m.Source = SourceBuiltin
				mods = append(mods, m)
			}
		}
	}
	seen := map[string]bool{}
	out := mods[:0]
	for _, m := range mods {
		if p := filepath.Clean(m.Path); !seen[p] {
			seen[p] = true
			m.Present = present(m.Path)
			out = append(out, m)
		}
	}
	return out, err
}

func readConfig(file string) (*fileConfig, error) {
	if file == "" {
		return &fileConfig{}, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return &fileConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	return parseConfig(data)
}

func present(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
