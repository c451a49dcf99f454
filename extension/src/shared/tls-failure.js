// Why a TLS login failed, in words: the browser shows only a bare error
// code (net::ERR_SSL_CLIENT_AUTH_SIGNATURE_FAILED, SSL_ERROR_...). The
// background reads the browser's error of a page load on a TLS-login host
// together with the host's status (the service's last refused signature,
// the cards that TLS 1.3 cannot use, whether the service runs) and keeps
// a TlsFailure, which the explanation page, the popup and the site
// helper's badge put in words with explainTls.

import { tlsFailureText } from "./errors.js";

/**
 * @typedef {"refused"|"tls13"|"service-stopped"|"no-service"|"no-card"|"not-offered"} TlsReason
 * @typedef {object} TlsFailure
 * @property {TlsReason} reason
 * @property {string} [code]  the error code of a refused signature (reason "refused")
 * @property {string} [label] the card TLS 1.3 cannot use (reason "tls13")
 * @property {string} [error] the browser's error code
 * @property {string} [host]  the site
 * @property {string} [back]  the page the login started from
 * @property {number} at      when (ms)
 */

/**
 * What kind of TLS failure a browser's error code is (webRequest's
 * onErrorOccurred: Chromium's net::ERR_* names, Firefox's NSS names), or
 * "" for an error that is no TLS client-authentication failure (the user
 * stopped the load, no network, ...).
 *   "algorithms": the key cannot make a signature the server takes (Chromium, TLS 1.3 and a PKCS#1-only card)
 *   "nocert13":   no certificate sent to a TLS 1.3 server (Firefox: and so also a PKCS#1-only card)
 *   "signature":  the signature failed (the module refused it, or could not reach the service)
 *   "nocert":     no certificate sent, or the server refused it
 *   "tls":        another security error: Firefox gives most of them as
 *                 NSS's message, in the browser's language, not by name
 * @param {unknown} error
 * @returns {""|"algorithms"|"nocert13"|"signature"|"nocert"|"tls"}
 */
export function classifyTlsError(error) {
  const e = typeof error === "string" ? error : "";
  if (/NO_COMMON_ALGORITHMS/.test(e)) return "algorithms";
  if (/CERTIFICATE_REQUIRED_ALERT/.test(e)) return "nocert13";
  if (/CLIENT_AUTH_SIGNATURE_FAILED|CLIENT_AUTH_PRIVATE_KEY|CLIENT_AUTH_CERT_NO_PRIVATE_KEY|SSL_ERROR_HANDSHAKE_FAILED\b|SEC_ERROR_PKCS11_|SSL_ERROR_SIGN_HASHES_FAILURE/.test(e)) return "signature";
  if (/BAD_SSL_CLIENT_AUTH_CERT|CLIENT_AUTH_CERT_NEEDED|SSL_ERROR_BAD_CERT_ALERT|SSL_ERROR_HANDSHAKE_FAILURE_ALERT|SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT/.test(e)) return "nocert";
  // Firefox names its network errors (NS_ERROR_CONNECTION_REFUSED, NS_BINDING_ABORTED); Chromium all of them.
  if (/NS_ERROR_MODULE_SECURITY/.test(e) || (e && !/^(net::ERR_|NS_ERROR_|NS_BINDING_|NS_NET_)/.test(e))) return "tls";
  return "";
}

/**
 * browserError is the name of a browser's error code as the user may
 * search for it: Firefox's NSS name out of its NS_ERROR_GENERATE_FAILURE(...).
 * @param {string} error
 */
export function browserError(error) {
  return /\b((?:SSL|SEC)_ERROR_\w+)/.exec(error)?.[1] ?? error;
}

/** How much earlier than the page load a refusal may be and still be its cause (clocks of one machine). */
const SLACK = 2_000;

/**
 * diagnose says why a page load that failed with a TLS error of kind
 * (classifyTlsError) failed, from the host's status read afterwards.
 * @param {ReturnType<typeof classifyTlsError>} kind
 * @param {import("./status.js").HostStatus|null} status null: no host
 * @param {number} since when the page load started (ms)
 * @param {number} failedAt when it failed (ms), before the status was asked
 * @returns {{reason: TlsReason, code?: string, label?: string}|null} null: no
 *   sign that eidlink's part failed (another security error: the browser's page stays)
 */
export function diagnose(kind, status, since, failedAt) {
  const tls = status?.tls;
  const refused = tls?.lastRefusalCode && (tls.lastRefusalAt ?? 0) >= since - SLACK ? tls.lastRefusalCode : "";
  const pkcs1Only = tls?.tls12Only ?? [];
  const cards = (status?.tokens ?? []).filter((t) => t.hasAuthKey);
  if (refused) return { reason: "refused", code: refused };
  if ((kind === "algorithms" || kind === "nocert13") && pkcs1Only.length) return { reason: "tls13", label: pkcs1Only[0] };
  if (!status || status.mode === "no-service") return { reason: "no-service" };
  // A service that started after the failure (the host that asked the
  // status started it) was not there for the handshake; one that ran and
  // refused nothing: the module did not reach it.
  if ((tls?.startedAt ?? 0) >= failedAt || kind === "signature" || kind === "algorithms") return { reason: "service-stopped" };
  if (!cards.length) return { reason: "no-card" };
  return kind === "tls" ? null : { reason: "not-offered" };
}

/** The reasons where no certificate reached the site, which Chromium then remembers until it closes. */
const NO_CERTIFICATE = new Set(["no-card", "no-service", "not-offered"]);

/**
 * explainTls puts a failure in words: what happened and how to retry.
 * @param {Pick<TlsFailure, "reason"|"code"|"label"|"error">} f
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 */
export function explainTls(f, t) {
  const words = what(f, t);
  // Chromium (its errors are net::ERR_*) sends a site no certificate again until it closes.
  return f.error?.startsWith("net::") && NO_CERTIFICATE.has(f.reason) ? `${words} ${t("tlsReopenChrome")}` : words;
}

/**
 * @param {Pick<TlsFailure, "reason"|"code"|"label">} f
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 */
function what(f, t) {
  switch (f.reason) {
    case "tls13":
      return t("tlsNeeds13", f.label ?? t("kind_unknown"));
    case "service-stopped":
      return `${t("tlsServiceStopped")} ${t("tlsRetry")}`;
    case "no-service":
      return t("tlsNoService");
    case "no-card":
      return `${t("tlsNoCardSeen")} ${t("tlsRetry")}`;
    case "not-offered":
      return t("tlsNotOffered");
  }
  return tlsFailureText(f.code ?? "ERR_WEBEID_UNKNOWN_ERROR", t);
}
