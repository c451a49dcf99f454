// Errors on their way to web pages: the codes and the Web eID code a page
// gets for each eidlink code come from codes.js, generated from
// internal/protocol/codes.go (the one list of codes).

import { ErrorCode, pageCodes } from "./codes.js";

export { ErrorCode };

const webeid = new Set(/** @type {string[]} */ (Object.values(ErrorCode)));

/**
 * An error on its way to the page: code is always a Web eID code,
 * eidlinkCode the finer eidlink code when there is one.
 * A version mismatch carries what Web eID's VersionMismatchError has:
 * requiresUpdate and the three versions.
 * @typedef {{code: string, message: string, eidlinkCode?: string, triesLeft?: number, retryable?: boolean,
 *   requiresUpdate?: RequiresUpdate, library?: string, extension?: string, nativeApp?: string}} PageError
 * @typedef {{extension: boolean, nativeApp: boolean}} RequiresUpdate
 */

/** @typedef {{code?: unknown, message?: unknown, triesLeft?: unknown, retryable?: unknown}} NativeError */

/** An Error carrying a code, thrown inside the extension. */
export class CodedError extends Error {
  /**
   * @param {string} code a Web eID or eidlink code
   * @param {string} [message] English detail for developers
   * @param {{triesLeft?: number, retryable?: boolean, requiresUpdate?: RequiresUpdate, nativeApp?: string}} [extra]
   *   requiresUpdate and nativeApp (the host's version) for VERSION_MISMATCH
   */
  constructor(code, message = code, extra = {}) {
    super(message);
    this.code = code;
    this.triesLeft = extra.triesLeft;
    this.retryable = extra.retryable;
    this.requiresUpdate = extra.requiresUpdate;
    this.nativeApp = extra.nativeApp;
  }

  /** @param {NativeError} e an error object from the host */
  static fromNative(e) {
    const code = typeof e?.code === "string" ? e.code : ErrorCode.UNKNOWN_ERROR;
    return new CodedError(code, typeof e?.message === "string" ? e.message : code, {
      triesLeft: typeof e?.triesLeft === "number" ? e.triesLeft : undefined,
      retryable: e?.retryable === true || undefined,
    });
  }
}

/**
 * pageCode maps any code to the Web eID code a page gets.
 * @param {string} code
 */
export function pageCode(code) {
  if (webeid.has(code)) return code;
  return pageCodes[code] ?? ErrorCode.UNKNOWN_ERROR;
}

/**
 * toPageError turns anything thrown into the error object sent to the page,
 * with a message translated by t (the key is the code itself). A version
 * mismatch gets the library's and extension's versions from versions.
 * @param {unknown} err
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 * @param {{library?: string, extension?: string}} [versions]
 * @returns {PageError}
 */
export function toPageError(err, t, versions = {}) {
  const c = err instanceof CodedError ? err : new CodedError(ErrorCode.UNKNOWN_ERROR, String(err));
  const code = pageCode(c.code);
  /** @type {PageError} */
  const out = { code, message: errorText(c.code, t, c.triesLeft) };
  if (code !== c.code) out.eidlinkCode = c.code;
  if (typeof c.triesLeft === "number") out.triesLeft = c.triesLeft;
  if (c.retryable) out.retryable = true;
  if (c.requiresUpdate) Object.assign(out, { requiresUpdate: c.requiresUpdate, library: versions.library, extension: versions.extension, nativeApp: c.nativeApp });
  return out;
}

/**
 * errorText is the user's-language text for a code.
 * @param {string} code
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 * @param {number} [triesLeft]
 */
export function errorText(code, t, triesLeft) {
  const key = "err_" + code.replace(/^ERR_(WEBEID|EIDLINK)_/, "$1_");
  const text = t(key);
  const known = text !== key ? text : t("err_WEBEID_UNKNOWN_ERROR");
  return typeof triesLeft === "number" && triesLeft >= 0 ? `${known} ${t("triesLeft", triesLeft)}` : known;
}

/**
 * tlsFailureText explains a TLS login that failed at signing time (the
 * service's tls-pin-result), where the browser shows only a bare error
 * code, and says how to retry.
 * @param {string} code
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 */
export function tlsFailureText(code, t) {
  const what = code === ErrorCode.USER_CANCELLED ? t("tlsCancelled") : code === ErrorCode.USER_TIMEOUT ? t("tlsTimeout") : t("tlsFailed", errorText(code, t));
  return code === "ERR_EIDLINK_PIN_BLOCKED" ? what : `${what} ${t("tlsRetry")}`;
}
