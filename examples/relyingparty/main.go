// Command relyingparty is a minimal site that logs people in with their
// CIE or CNS card through eidlink, using only package relyingparty and the
// standard library. Lift it into your own site:
//
//	POST /nonce  starts a session (cookie) and returns {"nonce": "..."}
//	POST /login  the token the extension returned for that nonce
//	GET  /       greets the logged-in holder
//
// Run it behind your TLS front end, with the origin browsers see:
//
//	relyingparty --origin https://servizi.example.it --ca cie-cns-cas.pem --addr 127.0.0.1:8080
package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"

	"github.com/eidlink/eidlink/relyingparty"
)

type session struct {
	nonce string                 // the challenge issued to this session
	user  *relyingparty.Identity // set by a successful login
}

// Sessions by cookie value. A real site keeps them in its own session
// store, with expiry.
var (
	mu       sync.Mutex
	sessions = map[string]*session{}
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	origin := flag.String("origin", "", "the site's origin as browsers see it, https://host[:port]")
	ca := flag.String("ca", "", "PEM file of the CAs that issue CIE/CNS authentication certificates")
	flag.Parse()
	roots, err := relyingparty.LoadCertPool(*ca)
	if err != nil {
		log.Fatal(err)
	}
	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
	if err != nil {
		log.Fatal(err)
	}
	nonces := relyingparty.NewMemoryNonceStore(0) // relyingparty.NewRedisNonceStore for several servers

	http.HandleFunc("POST /nonce", func(w http.ResponseWriter, r *http.Request) {
		nonce, err := nonces.Issue(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		newSession(w, &session{nonce: nonce})
		json.NewEncoder(w).Encode(map[string]string{"nonce": nonce})
	})
	http.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s := sessionOf(r)
		token, err := io.ReadAll(http.MaxBytesReader(w, r.Body, relyingparty.MaxTokenSize))
		if s == nil || err != nil {
			http.Error(w, "ask for a nonce first", http.StatusBadRequest)
			return
		}
		mu.Lock()
		nonce := s.nonce
		s.nonce = "" // one attempt per nonce
		mu.Unlock()
		id, err := v.VerifyChallenge(r.Context(), nonces, token, *origin, nonce)
		if err != nil {
			log.Printf("login refused: %v", err) // says what is wrong
			http.Error(w, "login refused: "+string(relyingparty.ReasonOf(err)), http.StatusForbidden)
			return
		}
		mu.Lock()
		delete(sessions, cookie(r))
		mu.Unlock()
		newSession(w, &session{user: id}) // a new session id at login: no fixation
	})
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s := sessionOf(r); s != nil && s.user != nil {
			fmt.Fprintf(w, "Benvenuto %s %s (%s)\n", s.user.GivenName, s.user.Surname, s.user.CodiceFiscale)
			return
		}
		http.Error(w, "not logged in", http.StatusUnauthorized)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving %s on http://%s\n", *origin, ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}

// newSession stores s under a new random id and sets the session cookie.
func newSession(w http.ResponseWriter, s *session) {
	id := rand.Text()
	mu.Lock()
	sessions[id] = s
	mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: id, Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func sessionOf(r *http.Request) *session {
	mu.Lock()
	defer mu.Unlock()
	return sessions[cookie(r)]
}

func cookie(r *http.Request) string {
	c, err := r.Cookie("session")
	if err != nil {
		return ""
	}
	return c.Value
}
