// eidlink.js: the page library for relying parties. No dependencies.
//
// It speaks Web eID's window.postMessage protocol, so it works with the
// eidlink extension (and any Web eID-compatible one), and a page written
// for the Web eID library works with eidlink unchanged.
//
//   <script type="module">
//     import * as eidlink from "/eidlink.js";   // or window.eidlink
//     const token = await eidlink.authenticate(nonce, { lang: "it" });
//   </script>
//
// Every function returns a Promise; failures are EidlinkError with a Web eID
// `code` (ERR_WEBEID_*), a translated `message`, and when the extension
// knows better an `eidlinkCode` (ERR_EIDLINK_NO_CARD, ...) and `triesLeft`.

export const VERSION = "0.1.0";

export const ErrorCode = Object.freeze({
  ACTION_PENDING: "ERR_WEBEID_ACTION_PENDING",
  ACTION_TIMEOUT: "ERR_WEBEID_ACTION_TIMEOUT",
  CONTEXT_INSECURE: "ERR_WEBEID_CONTEXT_INSECURE",
  EXTENSION_UNAVAILABLE: "ERR_WEBEID_EXTENSION_UNAVAILABLE",
  MISSING_PARAMETER: "ERR_WEBEID_MISSING_PARAMETER",
  NATIVE_INVALID_ARGUMENT: "ERR_WEBEID_NATIVE_INVALID_ARGUMENT",
  NATIVE_FATAL: "ERR_WEBEID_NATIVE_FATAL",
  NATIVE_UNAVAILABLE: "ERR_WEBEID_NATIVE_UNAVAILABLE",
  USER_CANCELLED: "ERR_WEBEID_USER_CANCELLED",
  USER_TIMEOUT: "ERR_WEBEID_USER_TIMEOUT",
  VERSION_INVALID: "ERR_WEBEID_VERSION_INVALID",
  VERSION_MISMATCH: "ERR_WEBEID_VERSION_MISMATCH",
  UNKNOWN_ERROR: "ERR_WEBEID_UNKNOWN_ERROR",
});

/** Timeouts, in ms (Web eID's values). */
export const config = Object.freeze({ ackTimeout: 1000, nativeHandshakeTimeout: 5000, userInteractionTimeout: 120_000 });

export class EidlinkError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {Record<string, unknown>} [extra] eidlinkCode, triesLeft, retryable, ...
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = "EidlinkError";
    /** @type {string} */
    this.code = code;
    for (const [k, v] of Object.entries(extra)) if (!(k in this)) /** @type {any} */ (this)[k] = v;
  }
}

/**
 * @typedef {{userInteractionTimeout?: number, lang?: string}} Options
 * @typedef {{unverifiedCertificate: string, algorithm: string, signature: string, format: string, appVersion: string}} AuthToken
 * @typedef {{library: string, extension: string, nativeApp: string}} Versions
 * @typedef {{cryptoAlgorithm: string, hashFunction: string, paddingScheme: string}} SignatureAlgorithm
 */

/** @param {Window} win */
function secure(win) {
  if (typeof win.isSecureContext === "boolean" && !win.isSecureContext) return false;
  const { protocol, hostname } = win.location;
  return protocol === "https:" || (protocol === "http:" && /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(hostname));
}

/**
 * createClient binds the library to a window (the page's own by default).
 * @param {Window} win
 */
export function createClient(win) {
  /** @type {Map<string, {resolve: (v: any) => void, reject: (e: Error) => void, ack: ReturnType<typeof setTimeout>, reply: ReturnType<typeof setTimeout>}>} */
  const pending = new Map();

  win.addEventListener("message", (ev) => {
    if (ev.source !== win) return;
    const m = typeof ev.data?.action === "string" ? /^(web-eid:[a-z-]+?)-(ack|success|failure)$/.exec(ev.data.action) : null;
    const p = m && pending.get(m[1]);
    if (!m || !p) return;
    if (m[2] === "ack") return clearTimeout(p.ack);
    finish(m[1]);
    if (m[2] === "success") {
      const { action, ...result } = ev.data;
      p.resolve(result);
    } else {
      const { code, message, ...extra } = ev.data.error ?? {};
      p.reject(new EidlinkError(typeof code === "string" ? code : ErrorCode.UNKNOWN_ERROR, message, extra));
    }
  });

  /** @param {string} action */
  function finish(action) {
    const p = pending.get(action);
    if (!p) return;
    clearTimeout(p.ack);
    clearTimeout(p.reply);
    pending.delete(action);
  }

  /**
   * @param {Record<string, unknown> & {action: string}} message
   * @param {number} timeout
   * @returns {Promise<any>}
   */
  function send(message, timeout) {
    if (pending.has(message.action)) return Promise.reject(new EidlinkError(ErrorCode.ACTION_PENDING, "this action is already pending"));
    if (!secure(win)) return Promise.reject(new EidlinkError(ErrorCode.CONTEXT_INSECURE, "eidlink works only on https pages"));
    return new Promise((resolve, reject) => {
      const fail = (/** @type {string} */ code, /** @type {string} */ text) => {
        finish(message.action);
        reject(new EidlinkError(code, text));
      };
      pending.set(message.action, {
        resolve,
        reject,
        ack: setTimeout(() => fail(ErrorCode.EXTENSION_UNAVAILABLE, "the eidlink extension did not answer: is it installed and enabled?"), config.ackTimeout),
        reply: setTimeout(() => fail(ErrorCode.ACTION_TIMEOUT, "the action did not finish in time"), timeout),
      });
      win.postMessage({ ...message, libraryVersion: VERSION }, "*");
    });
  }

  /**
   * @param {string} name
   * @param {unknown} value
   */
  function required(name, value) {
    if (typeof value !== "string" || !value) throw new EidlinkError(ErrorCode.MISSING_PARAMETER, `${name} is required`);
  }

  /** @param {Options} [o] */
  const uit = (o) => o?.userInteractionTimeout ?? config.userInteractionTimeout;
  const base = config.ackTimeout + config.nativeHandshakeTimeout;

  return {
    /**
     * A failure carries the library's version in `library`, as Web eID's
     * does (and, on a version mismatch, `requiresUpdate`, `extension` and
     * `nativeApp` from the extension).
     * @param {Options} [options] only lang: the language of the error message
     * @returns {Promise<Versions>}
     */
    status: (options) =>
      send({ action: "web-eid:status", options }, base).catch((/** @type {any} */ e) => {
        e.library ??= VERSION;
        throw e;
      }),

    /**
     * @param {string} challengeNonce from the server, base64, 44..128 chars
     * @param {Options} [options]
     * @returns {Promise<AuthToken>}
     */
    async authenticate(challengeNonce, options) {
      required("challengeNonce", challengeNonce);
      return send({ action: "web-eid:authenticate", challengeNonce, options }, base + uit(options));
    },

    /**
     * @param {Options} [options]
     * @returns {Promise<{certificate: string, supportedSignatureAlgorithms: SignatureAlgorithm[]}>}
     */
    getSigningCertificate: (options) => send({ action: "web-eid:get-signing-certificate", options }, base + 2 * uit(options)),

    /**
     * @param {string} certificate base64 DER, from getSigningCertificate
     * @param {string} hash base64 digest
     * @param {string} hashFunction "SHA-256", "SHA-384", ...
     * @param {Options} [options]
     * @returns {Promise<{signature: string, signatureAlgorithm: SignatureAlgorithm}>}
     */
    async sign(certificate, hash, hashFunction, options) {
      required("certificate", certificate);
      required("hash", hash);
      required("hashFunction", hashFunction);
      return send({ action: "web-eid:sign", certificate, hash, hashFunction, options }, base + 2 * uit(options));
    },
  };
}

/** @type {ReturnType<typeof createClient>|null} */
let client = null;
const get = () => (client ??= createClient(window));

/** @param {Options} [options] @returns {Promise<Versions>} */
export const status = (options) => get().status(options);
/** @param {string} nonce @param {Options} [options] */
export const authenticate = (nonce, options) => get().authenticate(nonce, options);
/** @param {Options} [options] */
export const getSigningCertificate = (options) => get().getSigningCertificate(options);
/** @param {string} certificate @param {string} hash @param {string} hashFunction @param {Options} [options] */
export const sign = (certificate, hash, hashFunction, options) => get().sign(certificate, hash, hashFunction, options);

const api = { VERSION, ErrorCode, EidlinkError, config, createClient, status, authenticate, getSigningCertificate, sign };
export default api;
if (typeof window !== "undefined") /** @type {any} */ (window).eidlink = api;
