package relyingparty

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"
)

// A relying party issues a nonce, keeps it in the user's session, and
// verifies the token the page posts against its own origin and that nonce.
func Example() {
	ctx := context.Background()
	roots, card := exampleCard() // in real life: LoadCertPool("ca.pem"), and the browser

	v, err := New(Config{Roots: roots})
	if err != nil {
		log.Fatal(err)
	}
	nonces := NewMemoryNonceStore(0)

	// GET /challenge: issue a nonce, store it in the session, send it to the page.
	nonce, err := nonces.Issue(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// The page asks the extension to authenticate and posts the token.
	token := card("https://servizi.example.it", nonce)

	// POST /login: origin is the site's own, nonce the one in the session.
	id, err := v.VerifyChallenge(ctx, nonces, token, "https://servizi.example.it", nonce)
	if err != nil {
		fmt.Println("accesso negato:", ReasonOf(err))
		return
	}
	fmt.Printf("Benvenuto %s %s (%s)\n", id.GivenName, id.Surname, id.CodiceFiscale)

	// The same token posted again is refused.
	_, err = v.VerifyChallenge(ctx, nonces, token, "https://servizi.example.it", nonce)
	fmt.Println(ReasonOf(err))
	// Output:
	// Benvenuto MARIO ROSSI (RSSMRA80A01H501U)
	// nonce-replayed
}

// exampleCard returns the test CA and a virtual CIE that signs tokens as
// eidlink-host does.
func exampleCard() (*x509.CertPool, func(origin, nonce string) []byte) {
	p := getPKI()
	return p.roots(), func(origin, nonce string) []byte {
		tok, err := makeToken(p.cie, p.rsaKey, origin, nonce)
		if err != nil {
			log.Fatal(err)
		}
		return tok
	}
}

// Each nonce is accepted once: a second Consume is refused, and
// VerifyChallenge reports it as ReasonNonceReplayed.
func ExampleNewMemoryNonceStore() {
	ctx := context.Background()
	nonces := NewMemoryNonceStore(5 * time.Minute)
	nonce, _ := nonces.Issue(ctx)
	fmt.Println(nonces.Consume(ctx, nonce))
	fmt.Println(errors.Is(nonces.Consume(ctx, nonce), ErrNonceUsed))
	// Output:
	// <nil>
	// true
}

// Verifier processes on several servers share one Redis. The caller owns
// the client: give it timeouts shorter than the login request's.
func ExampleNewRedisNonceStore() {
	client := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer client.Close()
	nonces := NewRedisNonceStore(client, 5*time.Minute, "servizi:nonce:")

	// As with any NonceStore: Issue for GET /challenge, and
	// v.VerifyChallenge(ctx, nonces, token, origin, sessionNonce) at login.
	// With Redis down both fail: the login is refused with reason
	// nonce-store, never accepted.
	_, err := nonces.Issue(context.Background())
	if errors.Is(err, ErrNonceStoreDown) {
		log.Print(err)
	}
}
