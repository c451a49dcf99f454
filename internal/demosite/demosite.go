// Package demosite is a demo relying party: a local site styled after the
// MyINPS login page (clearly marked as a demo, not INPS) whose CIE and CNS
// tabs log in with eidlink's challenge protocol.
//
// The flow: the page asks POST /api/challenge for a nonce bound to its
// session cookie, the extension returns a web-eid:1.0 token for it, the
// page posts the token to /api/login, and the server verifies it against
// the nonce it issued and its own origin, then greets the holder.
package demosite

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"

	"github.com/eidlink/eidlink/relyingparty"
)

//go:embed static
var static embed.FS

// Site is the demo relying party.
type Site struct {
	origin   string
	verifier *relyingparty.Verifier
	nonces   relyingparty.NonceStore
	log      *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // by cookie value
}

type session struct {
	nonce string // the challenge issued to this session, "" once used
	user  *relyingparty.Identity
}

// New returns the site. origin is the site's own origin as browsers see
// it (https://localhost:8443); tokens for any other origin are refused.
// nonces nil means an in-memory store.
func New(origin string, v *relyingparty.Verifier, nonces relyingparty.NonceStore, log *slog.Logger) *Site {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if nonces == nil {
		nonces = relyingparty.NewMemoryNonceStore(0)
	}
	return &Site{origin: origin, verifier: v, nonces: nonces, log: log, sessions: map[string]*session{}}
}

// Handler returns the site's routes.
func (s *Site) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(mustSub(static, "static")))
	mux.HandleFunc("GET /eidlink.js", relyingparty.ServePageLibrary)
	mux.HandleFunc("POST /api/challenge", s.challenge)
	mux.HandleFunc("POST /api/login", s.login)
	mux.HandleFunc("GET /api/me", s.me)
	return securityHeaders(mux)
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

const cookieName = "eidlink_demo_session"

// sessionFor returns the caller's session, creating one (and its cookie)
// when create is set.
func (s *Site) sessionFor(w http.ResponseWriter, r *http.Request, create bool) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, err := r.Cookie(cookieName); err == nil {
		if sess, ok := s.sessions[c.Value]; ok {
			return sess
		}
	}
	if !create {
		return nil
	}
	id := make([]byte, 32)
	rand.Read(id)
	key := base64.RawURLEncoding.EncodeToString(id)
	sess := &session{}
	s.sessions[key] = sess
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: key, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return sess
}

func (s *Site) challenge(w http.ResponseWriter, r *http.Request) {
	sess := s.sessionFor(w, r, true)
	nonce, err := s.nonces.Issue(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	s.mu.Lock()
	sess.nonce = nonce
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"nonce": nonce})
}

func (s *Site) login(w http.ResponseWriter, r *http.Request) {
	sess := s.sessionFor(w, r, false)
	if sess == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "nessuna sessione: richiedi prima una sfida"})
		return
	}
	token, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "token illeggibile"})
		return
	}
	s.mu.Lock()
	nonce := sess.nonce
	sess.nonce = ""
	s.mu.Unlock()
	id, err := s.verify(r.Context(), token, nonce)
	if err != nil {
		s.log.Warn("login refused", "error", err)
		code := http.StatusForbidden
		if relyingparty.ReasonOf(err) == relyingparty.ReasonNonceStore {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]string{"error": "accesso rifiutato: " + err.Error()})
		return
	}
	s.mu.Lock()
	sess.user = id
	s.mu.Unlock()
	s.log.Info("login", "holder", id.GivenName+" "+id.Surname)
	writeJSON(w, http.StatusOK, map[string]string{"welcome": Welcome(id), "cardKind": id.CardKind})
}

func (s *Site) verify(ctx context.Context, token []byte, nonce string) (*relyingparty.Identity, error) {
	if nonce == "" {
		return nil, errors.New("nessuna sfida aperta per questa sessione")
	}
	return s.verifier.VerifyChallenge(ctx, s.nonces, token, s.origin, nonce)
}

func (s *Site) me(w http.ResponseWriter, r *http.Request) {
	sess := s.sessionFor(w, r, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess == nil || sess.user == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "non autenticato"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"welcome": Welcome(sess.user)})
}

// Welcome is the line the site shows after a login.
func Welcome(id *relyingparty.Identity) string {
	return fmt.Sprintf("Benvenuto %s %s (%s)", id.GivenName, id.Surname, id.CodiceFiscale)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
