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

// The certificate policies of the authentication certificates of the CIE
// (1.3.76.47.4) and of the CNS (1.3.76.16.2.1): Config.Policies' default.
var (
	PolicyCIE = eidcert.PolicyCIE
	PolicyCNS = eidcert.PolicyCNS
)

// Config configures a Verifier.
type Config struct {
	// Roots are the trust anchors: the CAs that issue the CIE and CNS
	// authentication certificates the site accepts (see the package
	// documentation and LoadCertPool). Required.
	Roots *x509.CertPool
	// Intermediates are CA certificates that may complete a chain to
	// Roots, not trusted by themselves. Optional.
	Intermediates *x509.CertPool
	// Policies are the accepted certificate policies: the certificate
	// must carry one of them. Empty means PolicyCIE and PolicyCNS.
	Policies []x509.OID
	// AllowLoopbackHTTP also accepts http origins on localhost,
	// 127.0.0.1 and [::1], for development. Never set it in production.
	AllowLoopbackHTTP bool
	// Now returns the current time, for the validity of certificates
	// and OCSP answers; nil means time.Now.
	Now func() time.Time
	// OCSP turns on revocation checking; nil leaves it off.
	OCSP *OCSPConfig
}

// Verifier verifies tokens. It is safe for concurrent use. It keeps the
// CA certificates of the chains it has verified, for at most 64 issuing
// CAs, so that the next card of an issuer needs only its own signature
// checked against them (and their validity at the time), not its chain
// built again.
type Verifier struct {
	cfg    Config
	chains *chains
}

// New returns a Verifier for cfg. It fails only when cfg.Roots is nil. It
// copies the pools: changing them later does not change the Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Roots == nil {
		return nil, errors.New("relyingparty: Config.Roots is required: load the CIE/CNS issuing CAs with LoadCertPool")
	}
	if len(cfg.Policies) == 0 {
		cfg.Policies = []x509.OID{PolicyCIE, PolicyCNS}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Copies: the verifier keeps chains it found to the trust anchors.
	cfg.Roots = cfg.Roots.Clone()
	if cfg.Intermediates != nil {
		cfg.Intermediates = cfg.Intermediates.Clone()
	}
	return &Verifier{cfg: cfg, chains: newChains(cfg.Roots, cfg.Intermediates)}, nil
}

// Identity is the card holder a token proves, read from the certificate
// subject (see the package documentation).
type Identity struct {
	// GivenName and Surname are the subject's givenName and surname
	// attributes as the card has them (upper case on CIE and CNS); empty
	// when the certificate has none.
	GivenName string `json:"givenName"`
	Surname   string `json:"surname"`
	// CodiceFiscale is the holder's 16-character codice fiscale, in
	// upper case and with a valid check character: never empty.
	CodiceFiscale string `json:"codiceFiscale"`
	// CardKind is "cie" or "cns" by the first of the certificate's
	// policies that is PolicyCIE or PolicyCNS or lies under one of
	// them; "" when none does (accepted through Config.Policies).
	CardKind string `json:"cardKind"`
	// Certificate is the verified authentication certificate.
	Certificate *x509.Certificate `json:"-"`
}

// VerifyChallenge consumes nonce in store, then verifies token as Verify
// does, and returns the holder. nonce is the one the server issued for
// this session, origin the site's own origin (both from the server, never
// from the request). The nonce is spent even when the token is refused.
// Errors are *Error (see ReasonOf).
func (v *Verifier) VerifyChallenge(ctx context.Context, store NonceStore, token []byte, origin, nonce string) (*Identity, error) {
	if err := webinput.ValidateNonce(nonce); err != nil {
		return nil, &Error{Reason: ReasonNonceInvalid, Err: err}
	}
	if err := store.Consume(ctx, nonce); err != nil {
		return nil, nonceError(err)
	}
	return v.Verify(ctx, token, origin, nonce)
}

// Verify checks that token (the JSON the page posted) was signed for
// origin and nonce by a card whose certificate is valid and chains to the
// trust anchors, and returns the holder. It does not spend nonce: use
// VerifyChallenge unless single use is enforced elsewhere. Errors are
// *Error (see ReasonOf).
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
	issuer, err := v.chains.verify(t.cert, now)
	if err != nil {
		return nil, fail(ReasonUntrusted, "the certificate (issuer %q) does not chain to a configured trust anchor: %v; add the issuing CA to the trust anchors if it is genuine", t.cert.Issuer, err)
	}
	id, err := identityOf(t.cert, kind)
	if err != nil {
		return nil, err
	}
	if v.cfg.OCSP != nil {
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
				return string(eidcert.KindOf(c)), nil
			}
		}
	}
	names := make([]string, len(v.cfg.Policies))
	for i, p := range v.cfg.Policies {
		names[i] = p.String()
	}
	return "", fail(ReasonPolicy, "the certificate carries none of the accepted policies (%s): it is not a CIE or CNS authentication certificate", strings.Join(names, ", "))
}
