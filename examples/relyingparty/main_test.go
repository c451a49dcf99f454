package main

import (
	"bufio"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/authtoken"
	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/testenv"
)

const origin = "https://servizi.example.it"

// TestLogin builds the example, runs it, and logs in with a token the
// SoftHSM test card signs, as the extension would.
func TestLogin(t *testing.T) {
	testenv.NeedSoftHSM(t)
	testenv.NeedCommand(t, "go", "golang")
	dir := t.TempDir()
	card, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(dir, "card"), Type: "cie"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range card.Env {
		t.Setenv(e.Name, e.Value)
	}
	bin := filepath.Join(dir, "relyingparty")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--addr", "127.0.0.1:0", "--origin", origin, "--ca", card.CAFile)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if !ok {
		t.Fatalf("the example said %q, want serving ... on http://ADDR", line)
	}

	resp := call(t, "POST", url+"/nonce", "", "")
	session := resp.Cookies()[0]
	if session.Name != "session" || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %v, want HttpOnly, Secure, SameSite=Strict", session)
	}
	var got struct{ Nonce string }
	json.NewDecoder(resp.Body).Decode(&got)

	tok := signToken(t, got.Nonce)
	if resp := call(t, "POST", url+"/login", "session="+session.Value, tok); resp.StatusCode != 200 {
		t.Fatalf("login: %s", resp.Status)
	} else {
		session = resp.Cookies()[0]
	}
	resp = call(t, "GET", url+"/", "session="+session.Value, "")
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)\n" {
		t.Fatalf("GET / after login: %s %q", resp.Status, body)
	}
	if resp := call(t, "POST", url+"/login", "session="+session.Value, tok); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the token again, on the logged-in session: %s, want 403", resp.Status)
	}
}

func call(t *testing.T, method, url, cookie, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// signToken has the test card (PIN 12345678) sign a login for nonce.
func signToken(t *testing.T, nonce string) string {
	ctx := context.Background()
	p := cryptoki.NewProvider(cryptoki.Config{})
	defer p.Close()
	card, err := p.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := card.Login(ctx, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	cert := card.AuthCertificate()
	tok, err := authtoken.Create(ctx, cert, command.CertSigner{Card: card, Cert: cert}, origin, nonce, "https://eidlink.it/test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tok)
	return string(b)
}

// TestOnlyTheKit: a relying party needs package relyingparty and the
// standard library, nothing of eidlink's internals. The demo site is held
// to the same rule (go-redis only to build its Redis client).
func TestOnlyTheKit(t *testing.T) {
	allowed := map[string]bool{"github.com/eidlink/eidlink/relyingparty": true}
	for dir, extra := range map[string]string{".": "", "../../internal/demosite": "github.com/redis/go-redis/v9"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				first, _, _ := strings.Cut(path, "/")
				if !allowed[path] && path != extra && strings.Contains(first, ".") {
					t.Errorf("%s imports %s: use only relyingparty and the standard library", f, path)
				}
			}
		}
	}
}
