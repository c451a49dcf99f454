// Package relyingparty is what a web site needs to log people in with
// their Italian CIE or CNS card through eidlink, or through any Web eID
// compatible extension: the page library its login page loads, the
// verifier of the web-eid:1.0 tokens the page gets, the nonce stores that
// make each challenge good for one attempt, and the holder a token proves.
//
// # The login flow
//
// At start-up the site loads the CAs it trusts and makes a Verifier and a
// NonceStore, and serves the page library:
//
//	roots, err := relyingparty.LoadCertPool("cie-cns-cas.pem")
//	v, err := relyingparty.New(relyingparty.Config{Roots: roots})
//	nonces := relyingparty.NewMemoryNonceStore(0)
//	mux.HandleFunc("GET /eidlink.js", relyingparty.ServePageLibrary)
//
// Then a login takes four steps.
//
//  1. The page asks the server for a challenge. The server issues a nonce
//     (nonces.Issue), keeps it in the user's session and sends it to the
//     page.
//  2. The page has the card sign it:
//     const token = await eidlink.authenticate(nonce, { lang: "it" }).
//     The extension asks for the PIN in its own window, never in the page,
//     and the card signs H(origin) || H(nonce), origin being the page's
//     origin as the browser reports it.
//  3. The page posts the token, as JSON, to the server (cap the body at
//     MaxTokenSize, e.g. with http.MaxBytesReader).
//  4. The server verifies the token against its own origin and the nonce
//     kept in the session, never against anything the browser sends.
//
// Step 4 in code, with the site's origin and the nonce of the session:
//
//	id, err := v.VerifyChallenge(ctx, nonces, body, "https://servizi.example.it", sessionNonce)
//
// On success id names the holder, and the server starts the logged-in
// session under a new session id. On failure it shows the user a message
// chosen by ReasonOf(err) and logs err, whose text says what is wrong and
// what to do.
//
// VerifyChallenge spends the nonce before anything else, so a nonce is
// good for one attempt, successful or not. Verify checks a token without a
// nonce store: use it only where single use is enforced elsewhere.
// examples/relyingparty in the eidlink repository is a whole relying party
// in about 100 lines on this package and the standard library.
//
// # Trust anchors
//
// Config.Roots are the CAs the site trusts to issue authentication
// certificates: the CA of the CIE (Ministero dell'Interno) and the CNS
// issuers (regional and other CAs) the site accepts. They are in the
// Italian trusted list (TSL-IT, published by AgID, service type
// http://uri.etsi.org/TrstSvc/Svctype/IdV): save those the site accepts as
// PEM and load them with LoadCertPool. Every certificate in Roots is a
// trust anchor, so list CAs only; Config.Intermediates are CA certificates
// that may complete a chain without being trusted themselves. Only
// certificates with the CIE or CNS authentication policy (PolicyCIE,
// PolicyCNS) are accepted unless Config.Policies says otherwise.
//
// # Revocation
//
// Config.OCSP turns on OCSP: after every other check the Verifier asks the
// certificate's OCSP responder (or OCSPConfig.ResponderURL) and accepts
// only a current, correctly signed "good" answer. A revoked certificate is
// refused with ReasonRevoked; an unreachable responder or an unusable
// answer refuses the login with ReasonOCSP. Off by default.
//
// # What is checked
//
// In order: the origin and nonce the server passes (an https origin
// written as browsers write it, https://host[:port] in lower case without
// the default port, or http on a loopback host when
// Config.AllowLoopbackHTTP is set; a nonce of 44 to 128 characters of
// standard base64 that decode to at least 32 bytes); the token format;
// the algorithm against the key; the certificate's validity window, key
// usage (digitalSignature, not a CA), extended key usage (clientAuth or
// any, when present) and certificate policy; the signature over
// H(origin) || H(nonce); the chain to the trust anchors; the holder's
// codice fiscale; and, when configured, the OCSP status.
//
// # Errors
//
// Verify and VerifyChallenge return an *Error for the first check that
// fails. Its Reason is a stable code (the Reason constants: codes are
// never renamed or reused), for choosing what to tell the user; its text
// is English, for the log. A token made for another origin or nonce fails
// with ReasonSignature, because the token carries neither: a mismatch
// shows only as a signature that does not verify.
//
// # Nonce stores
//
// A NonceStore issues nonces and accepts each at most once.
// NewMemoryNonceStore keeps them in the process: enough for a site on one
// server. Servers that share logins share NewRedisNonceStore: a nonce is
// accepted at most once however many servers see it at the same time.
// When Redis is unreachable every login fails with ReasonNonceStore:
// logins fail closed. Across a Redis restart, a used nonce can come back
// only from a persistence file older than its use, and then only until it
// expires; RedisNonceStore's documentation says how to configure Redis to
// close that window. Any database with an atomic "mark if present and
// unmarked" can implement NonceStore.
//
// # The holder
//
// Identity is read from the certificate subject: givenName and surname,
// and the codice fiscale, taken from the serialNumber attribute without
// its "TINIT-" or "IT:" prefix, else from the common name up to its first
// "/" (as on the CNS), and accepted only with a valid check character. A
// certificate without a valid codice fiscale is refused
// (ReasonIdentity).
//
// # The token
//
// Token documents the JSON the page posts: the string fields
// unverifiedCertificate, algorithm, signature and format, all required,
// and format exactly TokenFormat. Binary fields are standard base64 with
// padding, without line breaks. Fields the verifier does not know
// (appVersion, and whatever later Web eID versions add) are ignored: they
// are not signed. A token another JSON parser could read differently is
// refused: a key twice in any object, or a key that differs only in case
// from a field ("SIGNATURE"). Algorithm lists the signature algorithms
// and Algorithm.Digest the signed data, for those who make tokens.
//
// # The page library
//
// eidlink.js (served by ServePageLibrary) is an ES module without
// dependencies that also sets window.eidlink. Its functions return
// Promises: authenticate(nonce, options) resolves to the token;
// status(options) to the versions of library, extension and native
// application; getSigningCertificate(options) and
// sign(certificate, hash, hashFunction, options) make signatures. options
// are lang ("it" or "en") and userInteractionTimeout (milliseconds).
// Failures are an EidlinkError whose code is Web eID's (ERR_WEBEID_*),
// whose message is translated, and, where the extension knows more,
// whose eidlinkCode (ERR_EIDLINK_NO_CARD, ERR_EIDLINK_PIN_BLOCKED, ...)
// and triesLeft say what happened. The library speaks Web eID's
// window.postMessage protocol, so a page written for Web eID's library
// works with eidlink unchanged, and eidlink's tokens verify with Web eID's
// server libraries.
package relyingparty
