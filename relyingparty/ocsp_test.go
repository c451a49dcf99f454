package relyingparty

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ocspAnswer is what the test responder does.
type ocspAnswer struct {
	status     int // ocsp.Good, ocsp.Revoked, ocsp.Unknown
	stale      bool
	httpStatus int  // answer this HTTP status and nothing else
	hang       bool // never answer
	signer     *x509.Certificate
	signerKey  crypto.Signer // delegated responder; nil: the CA signs
}

func ocspResponder(t *testing.T, p *testPKI, a ocspAnswer) *httptest.Server {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.hang {
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		if a.httpStatus != 0 {
			w.WriteHeader(a.httpStatus)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tmpl := ocsp.Response{
			Status: a.status, SerialNumber: req.SerialNumber,
			ThisUpdate: testNow.Add(-time.Minute), NextUpdate: testNow.Add(time.Hour),
			RevokedAt: testNow.AddDate(0, -1, 0), RevocationReason: ocsp.KeyCompromise,
		}
		if a.stale {
			tmpl.ThisUpdate, tmpl.NextUpdate = testNow.AddDate(0, 0, -2), testNow.AddDate(0, 0, -1)
		}
		signer, key := p.ca, p.caKey
		if a.signer != nil {
			signer, key, tmpl.Certificate = a.signer, a.signerKey, a.signer
		}
		resp, err := ocsp.CreateResponse(p.ca, signer, tmpl, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: frees a hanging handler
	return srv
}

func TestOCSP(t *testing.T) {
	p := getPKI()
	ocspSigner := func(eku ...x509.ExtKeyUsage) *x509.Certificate {
		c, err := issue(&x509.Certificate{
			Subject:   pkix.Name{CommonName: "Test OCSP responder"},
			NotBefore: testNow.AddDate(0, -1, 0), NotAfter: testNow.AddDate(1, 0, 0),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
		}, p.ecKey2.Public(), p.ca, p.caKey)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, c := range []struct {
		name     string
		answer   ocspAnswer
		override bool   // responder URL from the config, not the certificate
		noURL    bool   // neither
		want     Reason // "" for success
		message  string
	}{
		{name: "good", answer: ocspAnswer{status: ocsp.Good}},
		{name: "good, responder URL from config", answer: ocspAnswer{status: ocsp.Good}, override: true},
		{name: "good, delegated responder", answer: ocspAnswer{status: ocsp.Good, signer: ocspSigner(x509.ExtKeyUsageOCSPSigning), signerKey: p.ecKey2}},
		{name: "revoked", answer: ocspAnswer{status: ocsp.Revoked}, want: ReasonRevoked, message: "revoked on"},
		{name: "unknown", answer: ocspAnswer{status: ocsp.Unknown}, want: ReasonOCSP, message: "does not know"},
		{name: "stale answer", answer: ocspAnswer{status: ocsp.Good, stale: true}, want: ReasonOCSP, message: "not current"},
		{name: "HTTP error", answer: ocspAnswer{httpStatus: http.StatusInternalServerError}, want: ReasonOCSP, message: "HTTP 500"},
		{name: "timeout", answer: ocspAnswer{hang: true}, want: ReasonOCSP, message: "did not answer within"},
		{name: "signer not authorised for OCSP", answer: ocspAnswer{status: ocsp.Good, signer: ocspSigner(x509.ExtKeyUsageClientAuth), signerKey: p.ecKey2},
			want: ReasonOCSP, message: "not a valid OCSP signer"},
		{name: "no responder", answer: ocspAnswer{status: ocsp.Good}, noURL: true, want: ReasonOCSP, message: "names no OCSP responder"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := ocspResponder(t, p, c.answer)
			cfg := &OCSPConfig{Timeout: 10 * time.Second, Client: srv.Client()}
			if c.answer.hang {
				cfg.Timeout = 100 * time.Millisecond
			}
			cert := p.leaf(t, p.rsaKey.Public(), func(x *x509.Certificate) {
				if !c.override && !c.noURL {
					x.OCSPServer = []string{srv.URL}
				}
			})
			if c.override {
				cfg.ResponderURL = srv.URL
			}
			v := p.verifier(t, func(c *Config) { c.OCSP = cfg })
			nonce := randomNonce()
			id, err := v.Verify(context.Background(), createToken(t, cert, p.rsaKey, testOrigin, nonce), testOrigin, nonce)
			if c.want == "" {
				if err != nil || id == nil {
					t.Fatalf("got %v, want success", err)
				}
				return
			}
			if ReasonOf(err) != c.want || !strings.Contains(err.Error(), c.message) {
				t.Fatalf("got %v, want reason %s and a message with %q", err, c.want, c.message)
			}
			t.Log(err)
		})
	}
}
