package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/install"
	"github.com/eidlink/eidlink/internal/ipc"
	"github.com/eidlink/eidlink/internal/mockhost"
	"github.com/eidlink/eidlink/internal/service"
)

// DevProfile describes a browser profile prepared by "eidlink dev-profile":
// the extension is loaded from Extension and the native host is registered
// in Dir, so a browser launched as Launch says reaches the mock or real
// host with a virtual card. Printed with --json.
type DevProfile struct {
	Browser  string `json:"browser"` // "chromium" or "firefox"
	Dir      string `json:"dir"`     // Chromium's user data dir, Firefox's HOME
	Host     string `json:"host"`    // "mock", "real" or "none"
	Scenario string `json:"scenario,omitempty"`
	Manifest string `json:"manifest"` // the host manifest (absent with host none)
	Wrapper  string `json:"wrapper,omitempty"`
	EnvFile  string `json:"envFile,omitempty"` // the host's environment, read at every start
	// ServiceEnv is what, with EnvFile, gives the profile's host a service
	// of its own, which it starts on demand and which inherits the
	// profile's card: "eidlink service stop" with it stops that service.
	ServiceEnv map[string]string `json:"serviceEnv,omitempty"`
	Log        string            `json:"log,omitempty"` // the host's stderr
	Card       *DevCard          `json:"card,omitempty"`
	Extension  string            `json:"extension"`
	Launch     Launch            `json:"launch"`
}

// DevCard is the virtual card of a dev profile.
type DevCard struct {
	Dir           string       `json:"dir"`
	Kind          eidcert.Kind `json:"kind"`
	Holder        string       `json:"holder"`
	CodiceFiscale string       `json:"codiceFiscale"`
	PIN           string       `json:"pin,omitempty"` // when known
	CAFile        string       `json:"caFile"`        // the relying party's trust anchor
}

// Launch is how to start the browser on a dev profile. For Chromium, Args
// go with --user-data-dir=Dir (Playwright: launchPersistentContext(Dir)).
// For Firefox, Env sets HOME; the extension is then installed as a
// temporary add-on (Puppeteer: browser.installExtension(Extension)).
type Launch struct {
	Executable string            `json:"executable"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env,omitempty"`
}

func (e *env) devProfile(args []string) error {
	fs := e.newFlags("dev-profile")
	var p DevProfile
	var cardDir, cardKind, hostBin string
	fs.StringVar(&p.Browser, "browser", "", "chromium or firefox")
	fs.StringVar(&p.Dir, "dir", "", "the profile: Chromium's user data dir, Firefox's HOME (created)")
	fs.StringVar(&p.Host, "host", "mock", "mock (scripted, no card), real (eidlink-host with a SoftHSM2 card) or none (not installed)")
	fs.StringVar(&p.Scenario, "scenario", "", "mock scenario (eidlink-mockhost -h lists them; default ok)")
	fs.StringVar(&cardDir, "card-dir", "", "the virtual card, made there if missing (default DIR/card)")
	fs.StringVar(&cardKind, "card", "cie", "kind of a card made: cie or cns")
	fs.StringVar(&p.Extension, "extension", "", "the built extension (default: extension/dist/BROWSER near this program)")
	fs.StringVar(&hostBin, "host-bin", "", "the host program (default: eidlink-host or eidlink-mockhost next to this program)")
	asJSON := fs.Bool("json", false, "print the profile as JSON")
	if err := e.parse(fs, args); err != nil {
		return err
	}
	if p.Browser == "chrome" {
		p.Browser = "chromium"
	}
	switch {
	case p.Browser != "chromium" && p.Browser != "firefox":
		return usagef("dev-profile needs --browser chromium or --browser firefox")
	case p.Dir == "" || fs.NArg() > 0:
		return usagef("dev-profile needs --dir DIR and no other arguments")
	case p.Host != "mock" && p.Host != "real" && p.Host != "none":
		return usagef("--host is mock, real or none")
	case p.Scenario != "" && p.Host != "mock":
		return usagef("--scenario goes with --host mock")
	case cardKind != "cie" && cardKind != "cns":
		return usagef("--card is cie or cns")
	case runtime.GOOS == "windows":
		return errors.New("dev-profile prepares Linux and macOS profiles (the host wrapper is a shell script)")
	}
	if p.Host == "mock" && p.Scenario == "" {
		p.Scenario = "ok"
	}
	if p.Host == "mock" && !mockhost.Known(p.Scenario) {
		return usagef("unknown scenario %q: eidlink-mockhost -h lists them", p.Scenario)
	}
	var err error
	if p.Dir, err = filepath.Abs(p.Dir); err != nil {
		return err
	}
	if p.Extension, err = extensionDir(p.Extension, p.Browser); err != nil {
		return err
	}
	if cardDir == "" {
		cardDir = filepath.Join(p.Dir, "card")
	}
	if err := p.write(cardDir, cardKind, hostBin); err != nil {
		return err
	}
	p.Launch = launchFor(&p)
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	what := "no host installed"
	if p.Host == "mock" {
		what = "mock host, scenario " + p.Scenario
	} else if p.Host == "real" {
		what = "eidlink-host"
	}
	fmt.Fprintf(e.stderr, "eidlink: %s profile in %s: %s\n", p.Browser, p.Dir, what)
	if c := p.Card; c != nil && p.Host != "none" {
		pin := "the PIN given to testcard init"
		if c.PIN != "" {
			pin = c.PIN
		}
		fmt.Fprintf(e.stderr, "eidlink: card: %s of %s (%s), PIN %s; trust anchor for your verifier: %s\n", strings.ToUpper(string(c.Kind)), c.Holder, c.CodiceFiscale, pin, c.CAFile)
	}
	if p.Host != "none" {
		fmt.Fprintf(e.stderr, "eidlink: host log %s; run dev-profile again to change the host or the scenario, even with the browser open\n", p.Log)
	}
	p.printLaunch(e)
	return nil
}

// write registers the host in the profile: manifest, wrapper, environment.
func (p *DevProfile) write(cardDir, cardKind, hostBin string) error {
	own := filepath.Join(p.Dir, "eidlink")
	p.Manifest = filepath.Join(p.Dir, "NativeMessagingHosts", install.HostName+".json")
	if p.Browser == "firefox" {
		p.Manifest = filepath.Join(p.Dir, ".mozilla", "native-messaging-hosts", install.HostName+".json")
		if runtime.GOOS == "darwin" {
			p.Manifest = filepath.Join(p.Dir, "Library", "Application Support", "Mozilla", "NativeMessagingHosts", install.HostName+".json")
		}
	}
	if p.Host == "none" {
		if err := os.Remove(p.Manifest); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return os.MkdirAll(p.Dir, 0o700)
	}
	if hostBin == "" {
		var err error
		if hostBin, err = nextToMe(map[string]string{"mock": "eidlink-mockhost", "real": "eidlink-host"}[p.Host]); err != nil {
			return err
		}
	}
	env, err := p.useCard(cardDir, eidcert.Kind(cardKind))
	if err != nil {
		return err
	}
	p.Wrapper, p.EnvFile, p.Log = filepath.Join(own, "host.sh"), filepath.Join(own, "host.env"), filepath.Join(own, "host.log")
	// The profile's own service: never the user's, with the profile's
	// card. One started with an older environment stops, so that the
	// next host starts one with this environment.
	p.ServiceEnv = map[string]string{ipc.ConfigDirEnv: filepath.Join(own, "config"), ipc.RuntimeDirEnv: filepath.Join(own, "run")}
	if err := stopProfileService(p.ServiceEnv); err != nil {
		return err
	}
	for _, k := range []string{ipc.ConfigDirEnv, ipc.RuntimeDirEnv} {
		env = append(env, [2]string{k, p.ServiceEnv[k]})
	}
	var envText strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&envText, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	// The service is the one host.env names (or the user's own), never one
	// the browser's environment points at.
	wrapper := fmt.Sprintf("#!/bin/sh\n# eidlink dev-profile: the native host of this profile, with the\n# environment in host.env (read at every start) and its log in host.log.\nunset %s %s\nset -a\n. %s\nset +a\nexec %s \"$@\" 2>>%s\n",
		ipc.ConfigDirEnv, ipc.RuntimeDirEnv, shellQuote(p.EnvFile), shellQuote(hostBin), shellQuote(p.Log))
	if err := writeAtomic(p.EnvFile, []byte(envText.String()), 0o600); err != nil {
		return err
	}
	if err := writeAtomic(p.Wrapper, []byte(wrapper), 0o700); err != nil {
		return err
	}
	return writeAtomic(p.Manifest, install.HostManifest(map[string]string{"chromium": "chromium", "firefox": "firefox"}[p.Browser], p.Wrapper).JSON(), 0o644)
}

// useCard loads the profile's virtual card, making it when cardDir holds
// none, and returns the host's environment.
func (p *DevProfile) useCard(cardDir string, kind eidcert.Kind) ([][2]string, error) {
	dir, err := filepath.Abs(cardDir)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(filepath.Join(dir, "card.json"))
	missing := errors.Is(statErr, fs.ErrNotExist)
	env := [][2]string{{"EIDLINK_LOG", "debug"}}
	if p.Host == "mock" {
		c, err := mockhost.LoadCard(dir)
		if missing {
			c, err = mockhost.CreateCard(dir, mockhost.CardOptions{Kind: kind})
		}
		if err != nil {
			return nil, err
		}
		p.Card = &DevCard{Dir: dir, Kind: c.Kind, Holder: c.Holder(), CodiceFiscale: c.CodiceFiscale, PIN: c.PIN, CAFile: c.CAFile}
		return append(env, [2]string{"EIDLINK_MOCK_SCENARIO", p.Scenario}, [2]string{"EIDLINK_MOCK_CARD", dir}), nil
	}
	var c cryptoki.TestCard
	pin := ""
	if missing {
		r, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: dir, Type: kind})
		if err != nil {
			return nil, err
		}
		c, pin = r.TestCard, "12345678"
	} else if js, err := os.ReadFile(filepath.Join(dir, "card.json")); err != nil {
		return nil, err
	} else if err := json.Unmarshal(js, &c); err != nil || c.SoftHSM2Conf == "" {
		return nil, fmt.Errorf("%s is not a card made by \"eidlink testcard init\"", dir)
	}
	p.Card = &DevCard{Dir: dir, Kind: c.Type, Holder: c.Holder, CodiceFiscale: c.CodiceFiscale, PIN: pin, CAFile: c.CAFile}
	return append(env, [2]string{"EIDLINK_DEVELOPER_MODE", "1"}, [2]string{"SOFTHSM2_CONF", c.SoftHSM2Conf}, [2]string{"EIDLINK_PKCS11_MODULE", c.Module}), nil
}

// stopProfileService stops the service of a profile whose ServiceEnv is
// env, if one runs.
func stopProfileService(env map[string]string) error {
	p := ipc.Paths{Run: env[ipc.RuntimeDirEnv]}
	_, err := service.Stop(p, 10*time.Second)
	return err
}

// extensionDir finds the built extension for browser.
func extensionDir(dir, browser string) (string, error) {
	sub := map[string]string{"chromium": "chrome", "firefox": "firefox"}[browser]
	candidates := []string{dir}
	if dir == "" {
		candidates = []string{filepath.Join("extension", "dist", sub)}
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(exe), "..", "extension", "dist", sub))
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "manifest.json")); err == nil {
			return filepath.Abs(c)
		}
	}
	return "", fmt.Errorf("no built extension in %s: build it (make extension) or pass --extension DIR", strings.Join(candidates, " or "))
}

// nextToMe returns the program name in this program's directory.
func nextToMe(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not next to eidlink (%s): build it (make build) or pass --host-bin", name, filepath.Dir(exe))
	}
	return p, nil
}

func launchFor(p *DevProfile) Launch {
	if p.Browser == "firefox" {
		return Launch{Executable: findProgram("firefox-esr", "firefox"), Args: []string{}, Env: map[string]string{"HOME": p.Dir}}
	}
	args := []string{"--disable-extensions-except=" + p.Extension, "--load-extension=" + p.Extension, "--no-first-run"}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run as root otherwise
	}
	return Launch{Executable: findProgram("chromium", "chromium-browser", "google-chrome"), Args: args}
}

func (p *DevProfile) printLaunch(e *env) {
	l := p.Launch
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	if p.Browser == "chromium" {
		fmt.Fprintf(e.stdout, "# Run it (add --headless for CI):\n%s --user-data-dir=%s %s https://your.site/\n\n", shellQuote(l.Executable), shellQuote(p.Dir), strings.Join(quoteAll(l.Args), " "))
		fmt.Fprintf(e.stdout, "// Playwright (playwright-core):\nconst ctx = await chromium.launchPersistentContext(%s, {\n  executablePath: %s, headless: true,\n  args: %s,\n});\n",
			js(p.Dir), js(l.Executable), js(l.Args))
		return
	}
	fmt.Fprintf(e.stdout, "# Run it (web-ext installs the extension as a temporary add-on):\nHOME=%s npx web-ext run --source-dir %s --firefox %s\n\n", shellQuote(p.Dir), shellQuote(p.Extension), shellQuote(l.Executable))
	fmt.Fprintf(e.stdout, "// Puppeteer (puppeteer-core):\nconst browser = await puppeteer.launch({\n  browser: \"firefox\", executablePath: %s, headless: true,\n  env: { ...process.env, HOME: %s },\n});\nawait browser.installExtension(%s);\n",
		js(l.Executable), js(p.Dir), js(p.Extension))
}

// findProgram returns the first of names on PATH, else the first name.
func findProgram(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return names[0]
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shellQuote(s)
	}
	return out
}

// writeAtomic replaces file with data in one rename: a browser starting
// the host meanwhile reads the old or the new file, never half of one.
func writeAtomic(file string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
