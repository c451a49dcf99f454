// Package relyingparty checks web-eid:1.0 authentication tokens for a relying
// party: a web site that logs people in with their CIE or CNS card through
// eidlink (or any Web eID compatible extension).
//
// # The challenge protocol
//
// The site issues a fresh challenge nonce, binds it to the user's session,
// and hands it to the page; the extension has the card sign
//
//	H(origin) || H(nonce)
//
// (see package authtoken) and the page posts the token back. The token
// carries neither the origin nor the nonce: the site rebuilds the signed
// message from the origin it serves and the nonce stored in the session,
// never from anything the browser sends. A relying party does
//
//	v, err := verify.New(verify.Config{Roots: roots}) // at start-up
//	nonces := verify.NewMemoryNonceStore(0)
//
//	// GET /challenge: issue a nonce, keep it in the session, send it to the page.
//	nonce, err := nonces.Issue(ctx)
//
//	// POST /login: the site's own origin and the nonce kept in the session.
//	id, err := v.VerifyChallenge(ctx, nonces, token, "https://servizi.example.it", sessionNonce)
//
// VerifyChallenge consumes the nonce before anything else, so a nonce is
// good for one attempt only, successful or not. Verify checks a token
// without a nonce store; use it only where single use is enforced
// elsewhere (the `eidlink verify` command, tests).
//
// # Nonce stores
//
// A NonceStore issues nonces and accepts each at most once. A site on one
// server uses NewMemoryNonceStore; sites on several servers share
// NewRedisNonceStore, whose documentation states the guarantee across
// Redis restarts and how to configure Redis for it. When the store fails
// (Redis unreachable) VerifyChallenge refuses the token with
// ReasonNonceStore: logins fail closed. Any other shared database with an
// atomic "delete if present" can implement the interface.
//
// examples/relyingparty in the eidlink repository is a complete relying
// party built on this package.
//
// # What is checked
//
// In order: the origin and nonce the server passes (protocol rules: a
// canonical https origin as browsers write it, see
// protocol.CanonicalOrigin; a nonce of 44..128 characters of standard
// base64 that decode to at least 32 bytes); the token format; the algorithm
// against the key; the certificate's validity window, key usage
// (digitalSignature), extended key usage (clientAuth or any, when present)
// and certificate policy (CIE 1.3.76.47.4 or CNS 1.3.76.16.2.1 unless
// configured); the signature over the rebuilt message; the chain to the
// configured trust anchors; the holder's codice fiscale; and, when
// configured, the certificate's OCSP status. The first failure is returned
// as an *Error whose Reason is a stable code: show the user a message
// chosen by Reason, log the error's text (it says what to fix).
//
// # Token parsing
//
// The token is JSON with the string fields unverifiedCertificate,
// algorithm, signature and format, all required; format must be exactly
// "web-eid:1.0". Binary fields are standard base64 with padding, without
// line breaks. Unknown fields (appVersion, and whatever later Web eID
// versions add) are ignored: they are not signed and nothing depends on
// them. A token another parser could read differently is refused: a key
// twice in any object, or a key that differs only in case from a field
// ("SIGNATURE", "Format"), which encoding/json alone would accept. Tokens bigger than MaxTokenSize are refused unparsed (cap the
// request body too, e.g. with http.MaxBytesReader).
//
// # Identity
//
// The holder is read from the certificate subject by eidcert.HolderOf,
// whose package documents the rule; a certificate without a valid codice
// fiscale is refused.
package relyingparty

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/eidlink/eidlink/internal/eidcert"
	"github.com/eidlink/eidlink/internal/webinput"
)

// Certificate policies of the Italian authentication certificates.
var (
	PolicyCIE = eidcert.PolicyCIE
	PolicyCNS = eidcert.PolicyCNS
)

// Config configures a Verifier.
type Config struct {
	// Roots are the trust anchors: the CAs that issue CIE and CNS
	// authentication certificates. Required. See LoadCertPool.
	Roots *x509.CertPool
	// Intermediates are extra CA certificates used to build chains.
	Intermediates *x509.CertPool
	// Policies are the accepted certificate policies; the certificate
	// must carry one of them. Empty means PolicyCIE and PolicyCNS.
	Policies []x509.OID
	// AllowLoopbackHTTP accepts http://localhost (and 127.0.0.1, [::1])
	// origins, for development.
	AllowLoopbackHTTP bool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// OCSP enables revocation checking; nil means off.
	OCSP *OCSPConfig
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	cfg Config
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.Roots == nil {
		return nil, errors.New("verify: Config.Roots is required: load the CIE/CNS issuing CAs with LoadCertPool")
	}
	if len(cfg.Policies) == 0 {
		cfg.Policies = []x509.OID{PolicyCIE, PolicyCNS}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Verifier{cfg: cfg}, nil
}

// Identity is the card holder a token proves.
type Identity struct {
	GivenName     string `json:"givenName"`
	Surname       string `json:"surname"`
	CodiceFiscale string `json:"codiceFiscale"`
	// CardKind is "cie" or "cns" by the certificate's policies (see
	// eidcert.Kind), "" when it carries neither.
	CardKind    string            `json:"cardKind"`
	Certificate *x509.Certificate `json:"-"`
}

// VerifyChallenge consumes nonce in store, then verifies token as Verify
// does. nonce must be the one the server issued for this session, origin
// the site's own origin. The nonce is spent even when the token is bad.
func (v *Verifier) VerifyChallenge(ctx context.Context, store NonceStore, token []byte, origin, nonce string) (*Identity, error) {
	if err := webinput.ValidateNonce(nonce); err != nil {
		return nil, &Error{Reason: ReasonNonceInvalid, Err: err}
	}
	if err := store.Consume(ctx, nonce); err != nil {
		return nil, nonceError(err)
	}
	return v.Verify(ctx, token, origin, nonce)
}

// Verify checks that token (the JSON the page posted) was signed by a
// valid, trusted card certificate for origin and nonce, and returns the
// holder. It does not enforce single use of nonce: see VerifyChallenge.
func (v *Verifier) Verify(ctx context.Context, token []byte, origin, nonce string) (*Identity, error) {
	if err := webinput.ValidateOrigin(origin, v.cfg.AllowLoopbackHTTP); err != nil {
		return nil, &Error{Reason: ReasonOriginInvalid, Err: err}
	}
	if err := webinput.ValidateNonce(nonce); err != nil {
		return nil, &Error{Reason: ReasonNonceInvalid, Err: err}
	}
	t, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	if err := checkAlgorithm(t.alg, t.cert.PublicKey); err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	kind, err := v.checkCertificate(t.cert, now)
	if err != nil {
		return nil, err
	}
	if !validSignature(t.cert.PublicKey, t.alg, t.sig, origin, nonce) {
		return nil, fail(ReasonSignature, "the signature does not verify for origin %q and the issued nonce: the token was made for another site or challenge, or it was altered", origin)
	}
	chains, err := t.cert.Verify(x509.VerifyOptions{
		Roots:         v.cfg.Roots,
		Intermediates: v.cfg.Intermediates,
		CurrentTime:   now,
		// The leaf's extended key usage is checked above; CA
		// certificates are not required to list clientAuth.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fail(ReasonUntrusted, "the certificate (issuer %q) does not chain to a configured trust anchor: %v; add the issuing CA to the trust anchors if it is genuine", t.cert.Issuer, err)
	}
	id, err := identityOf(t.cert, kind)
	if err != nil {
		return nil, err
	}
	if v.cfg.OCSP != nil {
		issuer := chains[0][0]
		if len(chains[0]) > 1 {
			issuer = chains[0][1]
		}
		if err := v.checkOCSP(ctx, t.cert, issuer, now); err != nil {
			return nil, err
		}
	}
	return id, nil
}

// checkAlgorithm requires RS*/PS* for RSA keys and the ES* of the curve
// for EC keys.
func checkAlgorithm(alg Algorithm, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'R' || alg[0] == 'P' {
			return nil
		}
		return fail(ReasonAlgorithm, "algorithm %s does not fit the certificate's RSA key (want RS256/384/512 or PS256/384/512)", alg)
	case *ecdsa.PublicKey:
		want, err := AlgorithmFor(k)
		if err != nil {
			return fail(ReasonAlgorithm, "%v", err)
		}
		if want != alg {
			return fail(ReasonAlgorithm, "algorithm %s does not fit the certificate's %s key (want %s)", alg, k.Curve.Params().Name, want)
		}
		return nil
	}
	return fail(ReasonAlgorithm, "the certificate's %T key is not supported (want RSA or ECDSA)", pub)
}

// validSignature checks sig over H(origin) || H(nonce).
func validSignature(pub crypto.PublicKey, alg Algorithm, sig []byte, origin, nonce string) bool {
	digest := alg.Digest(origin, nonce)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg[0] == 'P' {
			return rsa.VerifyPSS(k, alg.Hash(), digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, alg.Hash(), digest, sig) == nil
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		return len(sig) == 2*n && ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
	}
	return false
}

// checkCertificate checks the validity window, key usage and policy, and
// returns the card kind the policy names.
func (v *Verifier) checkCertificate(c *x509.Certificate, now time.Time) (string, error) {
	const day = "2006-01-02 15:04:05 MST"
	if now.Before(c.NotBefore) {
		return "", fail(ReasonCertNotYetValid, "the certificate is valid only from %s (now %s): check the server clock", c.NotBefore.UTC().Format(day), now.UTC().Format(day))
	}
	if now.After(c.NotAfter) {
		return "", fail(ReasonCertExpired, "the certificate expired on %s: the card must be renewed", c.NotAfter.UTC().Format(day))
	}
	if c.IsCA {
		return "", fail(ReasonKeyUsage, "the certificate is a CA certificate, not a card's")
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return "", fail(ReasonKeyUsage, "the certificate's key usage does not include digitalSignature: it is not an authentication certificate (a signature certificate?)")
	}
	if len(c.ExtKeyUsage) > 0 || len(c.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range c.ExtKeyUsage {
			ok = ok || u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny
		}
		if !ok {
			return "", fail(ReasonKeyUsage, "the certificate's extended key usage does not include clientAuth")
		}
	}
	for _, want := range v.cfg.Policies {
		for _, p := range c.Policies {
			if p.Equal(want) {
				return eidcert.Kind(c), nil
			}
		}
	}
	names := make([]string, len(v.cfg.Policies))
	for i, p := range v.cfg.Policies {
		names[i] = p.String()
	}
	return "", fail(ReasonPolicy, "the certificate carries none of the accepted policies (%s): it is not a CIE or CNS authentication certificate", strings.Join(names, ", "))
}
