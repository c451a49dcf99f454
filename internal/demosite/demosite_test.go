package demosite

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eidlink/eidlink/internal/authtoken"
	"github.com/eidlink/eidlink/internal/command"
	"github.com/eidlink/eidlink/internal/cryptoki"
	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/redistest"
	"github.com/eidlink/eidlink/internal/testenv"
	"github.com/eidlink/eidlink/relyingparty"
)

type fixture struct {
	t    *testing.T
	srv  *httptest.Server
	card command.Card
}

func setup(t *testing.T, typ eidcert.Kind, nonces relyingparty.NonceStore) *fixture {
	testenv.NeedSoftHSM(t)
	tc, err := cryptoki.InitTestCard(cryptoki.TestCardOptions{Dir: filepath.Join(t.TempDir(), "card"), Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tc.Env {
		t.Setenv(e.Name, e.Value)
	}
	roots, _ := relyingparty.LoadCertPool(tc.CAFile)
	v, _ := relyingparty.New(relyingparty.Config{Roots: roots})
	srv := httptest.NewTLSServer(nil)
	srv.Config.Handler = New(srv.URL, v, nonces, nil).Handler()
	t.Cleanup(srv.Close)
	p := cryptoki.NewProvider(cryptoki.Config{})
	t.Cleanup(func() { p.Close() })
	card, err := p.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := card.Login(context.Background(), []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, srv: srv, card: card}
}

// browser is a client with its own cookie jar: one user session.
func (f *fixture) browser() *http.Client {
	c := f.srv.Client()
	c.Jar, _ = cookiejar.New(nil)
	return c
}

func (f *fixture) post(c *http.Client, path, body string) (int, map[string]string) {
	f.t.Helper()
	resp, err := c.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// token has the card sign a login for nonce at the site's origin.
func (f *fixture) token(origin, nonce string) string {
	cert := f.card.AuthCertificate()
	tok, err := authtoken.Create(context.Background(), cert, command.CertSigner{Card: f.card, Cert: cert}, origin, nonce, "https://eidlink.it/test")
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(tok)
	return string(b)
}

func TestLogin(t *testing.T) {
	for _, typ := range []eidcert.Kind{eidcert.CIE, eidcert.CNS} {
		t.Run(string(typ), func(t *testing.T) { testLogin(t, typ, nil) })
	}
	t.Run("cie/redis", func(t *testing.T) {
		srv := redistest.Start(t)
		nonces, closeNonces, err := openNonceStore(context.Background(), srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeNonces)
		if _, ok := nonces.(*relyingparty.RedisNonceStore); !ok {
			t.Fatalf("--nonce-store %s opened a %T", srv.URL(), nonces)
		}
		f := testLogin(t, "cie", nonces)
		b := f.browser()
		_, ch := f.post(b, "/api/challenge", "")
		srv.Stop()
		if code, res := f.post(b, "/api/login", f.token(f.srv.URL, ch["nonce"])); code != http.StatusServiceUnavailable {
			t.Errorf("login with Redis down: %d %v, want 503", code, res)
		}
		if code, res := f.post(b, "/api/challenge", ""); code != http.StatusServiceUnavailable {
			t.Errorf("challenge with Redis down: %d %v, want 503", code, res)
		}
	})
}

func testLogin(t *testing.T, typ eidcert.Kind, nonces relyingparty.NonceStore) *fixture {
	f := setup(t, typ, nonces)
	b := f.browser()
	_, ch := f.post(b, "/api/challenge", "")
	code, res := f.post(b, "/api/login", f.token(f.srv.URL, ch["nonce"]))
	if code != 200 || res["welcome"] != "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)" || res["cardKind"] != string(typ) {
		t.Fatalf("login: %d %v", code, res)
	}
	resp, _ := b.Get(f.srv.URL + "/api/me")
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "Benvenuto MARIO ROSSI") {
		t.Fatalf("/api/me after login: %s", body)
	}
	return f
}

func TestLoginRefused(t *testing.T) {
	f := setup(t, "cie", nil)
	alice, mallory := f.browser(), f.browser()
	_, ch := f.post(alice, "/api/challenge", "")
	tok := f.token(f.srv.URL, ch["nonce"])

	if code, _ := f.post(f.browser(), "/api/login", tok); code != http.StatusUnauthorized {
		t.Errorf("login without a session: %d", code)
	}
	f.post(mallory, "/api/challenge", "")
	if code, _ := f.post(mallory, "/api/login", tok); code != http.StatusForbidden {
		t.Errorf("token for another session's nonce: %d", code)
	}
	if code, _ := f.post(alice, "/api/login", f.token("https://www.inps.it", ch["nonce"])); code != http.StatusForbidden {
		t.Errorf("token for another origin: %d", code)
	}
	// The failed try above used the nonce: the right token is refused now.
	if code, _ := f.post(alice, "/api/login", tok); code != http.StatusForbidden {
		t.Errorf("token after its nonce was used: %d", code)
	}
	_, ch = f.post(alice, "/api/challenge", "")
	tok = f.token(f.srv.URL, ch["nonce"])
	if code, _ := f.post(alice, "/api/login", tok); code != 200 {
		t.Fatalf("fresh login: %d", code)
	}
	if code, _ := f.post(alice, "/api/login", tok); code != http.StatusForbidden {
		t.Errorf("replayed token: %d", code)
	}
}

func TestPages(t *testing.T) {
	f := setup(t, "cie", nil)
	for path, want := range map[string]string{
		"/":             "Entra con CIE",
		"/cie-idp.html": "Prosegui con computer",
		"/eidlink.js":   "web-eid:authenticate",
		"/app.js":       "/api/challenge",
	} {
		resp, err := f.srv.Client().Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, resp.StatusCode, want)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP", path)
		}
	}
}

func TestOpenNonceStore(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []string{"", "memory"} {
		if s, _, err := openNonceStore(ctx, spec); err != nil {
			t.Errorf("--nonce-store %q: %v", spec, err)
		} else if _, ok := s.(*relyingparty.MemoryNonceStore); !ok {
			t.Errorf("--nonce-store %q opened a %T", spec, s)
		}
	}
	srv := redistest.Start(t)
	srv.Stop()
	for spec, want := range map[string]string{
		"postgres://db":   "want memory or redis://",
		"redis://a:b:c/0": "nonce store:",
		srv.URL():         "Redis does not answer",
	} {
		if _, _, err := openNonceStore(ctx, spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--nonce-store %q: error %v, want one saying %q", spec, err, want)
		}
	}
}
