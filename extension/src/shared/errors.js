// Error codes seen by web pages (Web eID's) and by the native host
// (host/protocol/errors.go), and the mapping between them.

/** The codes a page can receive, exactly Web eID's. */
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

/**
 * eidlink's own codes mapped to the Web eID code a page understands.
 * Host codes come from host/protocol/errors.go; ORIGIN_NOT_ALLOWED is the
 * extension's (an enterprise policy refused the site).
 * @type {Record<string, string>}
 */
const toPage = {
  ERR_EIDLINK_MESSAGE_TOO_LARGE: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_MALFORMED_MESSAGE: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_UNKNOWN_COMMAND: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_UNEXPECTED_PIN: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_NO_MODULE: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_NO_READER: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_NO_CARD: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_CARD_REMOVED: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_NO_CERTIFICATE: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_PIN_INCORRECT: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_PIN_BLOCKED: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_PIN_FORMAT: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_CARD_ERROR: ErrorCode.NATIVE_FATAL,
  ERR_EIDLINK_SERVICE_RESTARTED: ErrorCode.UNKNOWN_ERROR,
  ERR_EIDLINK_BUSY: ErrorCode.ACTION_PENDING,
  ERR_EIDLINK_ORIGIN_NOT_ALLOWED: ErrorCode.CONTEXT_INSECURE,
};

const webeid = new Set(/** @type {string[]} */ (Object.values(ErrorCode)));

/**
 * An error on its way to the page: code is always a Web eID code,
 * eidlinkCode the finer eidlink code when there is one.
 * @typedef {{code: string, message: string, eidlinkCode?: string, triesLeft?: number, retryable?: boolean}} PageError
 */

/** @typedef {{code?: unknown, message?: unknown, triesLeft?: unknown, retryable?: unknown}} NativeError */

/** An Error carrying a code, thrown inside the extension. */
export class CodedError extends Error {
  /**
   * @param {string} code a Web eID or eidlink code
   * @param {string} [message] English detail for developers
   * @param {{triesLeft?: number, retryable?: boolean}} [extra]
   */
  constructor(code, message = code, extra = {}) {
    super(message);
    this.code = code;
    this.triesLeft = extra.triesLeft;
    this.retryable = extra.retryable;
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
  return toPage[code] ?? ErrorCode.UNKNOWN_ERROR;
}

/**
 * toPageError turns anything thrown into the error object sent to the page,
 * with a message translated by t (the key is the code itself).
 * @param {unknown} err
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 * @returns {PageError}
 */
export function toPageError(err, t) {
  const c = err instanceof CodedError ? err : new CodedError(ErrorCode.UNKNOWN_ERROR, String(err));
  const code = pageCode(c.code);
  /** @type {PageError} */
  const out = { code, message: errorText(c.code, t, c.triesLeft) };
  if (code !== c.code) out.eidlinkCode = c.code;
  if (typeof c.triesLeft === "number") out.triesLeft = c.triesLeft;
  if (c.retryable) out.retryable = true;
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
