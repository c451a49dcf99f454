package relyingparty_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/eidlink/eidlink/relyingparty"
	"github.com/redis/go-redis/v9"
)

// A relying party issues a nonce, keeps it in the user's session, and
// verifies the token the page posts against its own origin and that nonce.
func Example() {
	ctx := context.Background()
	// In real life: relyingparty.LoadCertPool("cie-cns-cas.pem"), and a
	// card in the user's browser.
	roots, card := exampleCard()

	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
	if err != nil {
		log.Fatal(err)
	}
	nonces := relyingparty.NewMemoryNonceStore(0)

	// POST /challenge: issue a nonce, keep it in the session, send it to
	// the page.
	nonce, err := nonces.Issue(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// The page calls eidlink.authenticate(nonce) and posts the token.
	token := card("https://servizi.example.it", nonce)

	// POST /login: the site's own origin, and the nonce kept in the
	// session.
	id, err := v.VerifyChallenge(ctx, nonces, token, "https://servizi.example.it", nonce)
	if err != nil {
		fmt.Println("accesso negato:", relyingparty.ReasonOf(err))
		return
	}
	fmt.Printf("Benvenuto %s %s (%s, %s)\n", id.GivenName, id.Surname, id.CodiceFiscale, id.CardKind)

	// The same token posted again is refused.
	_, err = v.VerifyChallenge(ctx, nonces, token, "https://servizi.example.it", nonce)
	fmt.Println(relyingparty.ReasonOf(err))
	// Output:
	// Benvenuto MARIO ROSSI (RSSMRA80A01H501U, cie)
	// nonce-replayed
}

// The Reason of a refused token chooses what to tell the user; the error's
// text, for the log, says what is wrong. Here a token made on another
// site is presented to this one.
func ExampleReasonOf() {
	roots, card := exampleCard()
	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
	if err != nil {
		log.Fatal(err)
	}
	const nonce = "Tm9uIMOoIHVuIG5vbmNlIHZlcm8sIG1hIGJhc3RhIGNvc8Os"
	_, err = v.Verify(context.Background(), card("https://phishing.example", nonce), "https://servizi.example.it", nonce)
	switch relyingparty.ReasonOf(err) {
	case "":
		fmt.Println("Benvenuto")
	case relyingparty.ReasonCertExpired, relyingparty.ReasonRevoked:
		fmt.Println("La tua carta non è più valida.")
	case relyingparty.ReasonNonceStore, relyingparty.ReasonOCSP:
		fmt.Println("Servizio non disponibile, riprova tra poco.")
	default:
		fmt.Println("Accesso non riuscito, riprova.")
	}
	// Output:
	// Accesso non riuscito, riprova.
}

// Each nonce is accepted once: a second Consume is refused, and
// VerifyChallenge reports it as ReasonNonceReplayed.
func ExampleNewMemoryNonceStore() {
	ctx := context.Background()
	nonces := relyingparty.NewMemoryNonceStore(5 * time.Minute)
	nonce, _ := nonces.Issue(ctx)
	fmt.Println(nonces.Consume(ctx, nonce))
	fmt.Println(errors.Is(nonces.Consume(ctx, nonce), relyingparty.ErrNonceUsed))
	// Output:
	// <nil>
	// true
}

// Verifier processes on several servers share one Redis. The caller owns
// the client: give it timeouts shorter than the login request's.
func ExampleNewRedisNonceStore() {
	client := redis.NewClient(&redis.Options{Addr: "redis.internal:6379", ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer client.Close()
	nonces := relyingparty.NewRedisNonceStore(client, 5*time.Minute, "servizi:nonce:")

	// As with any NonceStore: Issue for the challenge, and
	// v.VerifyChallenge(ctx, nonces, token, origin, sessionNonce) at login.
	// With Redis down both fail: the login is refused with reason
	// nonce-store, never accepted.
	_, err := nonces.Issue(context.Background())
	if errors.Is(err, relyingparty.ErrNonceStoreDown) {
		log.Print(err)
	}
}

// A verifier that accepts only CIE cards and checks revocation with the
// certificate's OCSP responder.
func ExampleConfig() {
	roots, _ := exampleCard() // relyingparty.LoadCertPool("cie-ca.pem")
	v, err := relyingparty.New(relyingparty.Config{
		Roots:    roots,
		Policies: []x509.OID{relyingparty.PolicyCIE},
		OCSP:     &relyingparty.OCSPConfig{Timeout: 3 * time.Second},
	})
	fmt.Println(v != nil, err)
	// Output:
	// true <nil>
}

// The login page loads the library from the site itself.
func ExampleServePageLibrary() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /eidlink.js", relyingparty.ServePageLibrary)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/eidlink.js", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// 200 text/javascript; charset=utf-8
}

// exampleCard returns a test CA, and a CIE of MARIO ROSSI issued by it that
// makes tokens as eidlink does.
func exampleCard() (*x509.CertPool, func(origin, nonce string) []byte) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cardKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		log.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	cardDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "RSSMRA80A01H501U", SerialNumber: "TINIT-RSSMRA80A01H501U",
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: "MARIO"},
				{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: "ROSSI"},
			}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies: []x509.OID{relyingparty.PolicyCIE},
	}, ca, cardKey.Public(), caKey)
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return roots, func(origin, nonce string) []byte {
		alg := relyingparty.Algorithm("ES256")
		r, s, err := ecdsa.Sign(rand.Reader, cardKey, alg.Digest(origin, nonce))
		if err != nil {
			log.Fatal(err)
		}
		sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		token, _ := json.Marshal(relyingparty.Token{
			UnverifiedCertificate: base64.StdEncoding.EncodeToString(cardDER),
			Algorithm:             alg,
			Signature:             base64.StdEncoding.EncodeToString(sig),
			Format:                relyingparty.TokenFormat,
		})
		return token
	}
}
