package relyingparty

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"golang.org/x/crypto/ocsp"
)

// OCSPConfig turns on revocation checking: after every other check the
// verifier asks the certificate's OCSP responder and accepts only a
// current, correctly signed "good" answer. Any failure refuses the token.
type OCSPConfig struct {
	// Timeout bounds the whole exchange; 0 means 5 seconds.
	Timeout time.Duration
	// Client sends the request; nil means http.DefaultClient.
	Client *http.Client
	// ResponderURL, when set, is asked instead of the responder the
	// certificate names (authority information access).
	ResponderURL string
}

const (
	ocspSkew        = 5 * time.Minute  // clock difference tolerated
	ocspMaxAge      = 15 * time.Minute // for answers without nextUpdate
	maxOCSPResponse = 1 << 20
)

func (v *Verifier) checkOCSP(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) error {
	o := v.cfg.OCSP
	url := o.ResponderURL
	if url == "" {
		if len(cert.OCSPServer) == 0 {
			return fail(ReasonOCSP, "OCSP checking is on but the certificate names no OCSP responder: set the responder URL")
		}
		url = cert.OCSPServer[0]
	}
	timeout, client := o.Timeout, o.Client
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	if client == nil {
		client = http.DefaultClient
	}
	body, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		return fail(ReasonOCSP, "building the OCSP request: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fail(ReasonOCSP, "OCSP responder URL %q: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fail(ReasonOCSP, "OCSP responder %s answered HTTP %s", url, resp.Status)
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponse))
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fail(ReasonOCSP, "OCSP responder %s did not answer within %s", url, timeout)
		}
		return fail(ReasonOCSP, "OCSP responder %s is unreachable: %v", url, err)
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return fail(ReasonOCSP, "OCSP responder %s sent an unusable answer: %v", url, err)
	}
	// A delegated responder must be authorised for OCSP signing (RFC 6960
	// 4.2.2.2); the parser only checks that the issuer signed it.
	if d := r.Certificate; d != nil && !d.Equal(issuer) &&
		(!slices.Contains(d.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) || now.Before(d.NotBefore) || now.After(d.NotAfter)) {
		return fail(ReasonOCSP, "OCSP responder %s signed with a certificate that is not a valid OCSP signer", url)
	}
	if r.ThisUpdate.After(now.Add(ocspSkew)) ||
		!r.NextUpdate.IsZero() && now.After(r.NextUpdate.Add(ocspSkew)) ||
		r.NextUpdate.IsZero() && now.Sub(r.ThisUpdate) > ocspMaxAge {
		return fail(ReasonOCSP, "OCSP responder %s sent an answer that is not current (produced %s)", url, r.ThisUpdate.UTC().Format(time.RFC3339))
	}
	switch r.Status {
	case ocsp.Good:
		return nil
	case ocsp.Revoked:
		return fail(ReasonRevoked, "the certificate was revoked on %s: the card can no longer be used", r.RevokedAt.UTC().Format(time.RFC3339))
	}
	return fail(ReasonOCSP, "OCSP responder %s does not know the certificate", url)
}
