// PIN input rules, kept apart from the page so they can be tested. The
// host checks the same rules again (no try is used on a format error).

/**
 * @typedef {object} PinRequest from the host (internal/protocol PINRequest)
 * @property {string} origin
 * @property {string} purpose   "authenticate" or "sign"
 * @property {string} cardKind  "cie", "cns" or "unknown"
 * @property {string} [holder]
 * @property {string} [codiceFiscale]
 * @property {string} [tokenLabel]
 * @property {number} triesLeft -1 when unknown
 * @property {boolean} lastTry
 * @property {number} minLength
 * @property {number} maxLength
 * @property {"full"|"last4"} pinPart
 * @property {string} [driver] "eidlink" when eidlink drives the card itself (native CIE driver)
 * @property {boolean} pinpad
 * @property {{code: string, message?: string, triesLeft?: number}} [error]
 */

/**
 * cardKindKey is the message that names the card and, for a CIE, the path
 * it takes ("CIE, driver eidlink": all 8 digits, no IPZS software).
 * @param {PinRequest} r
 */
export function cardKindKey(r) {
  const kind = r.cardKind === "cie" || r.cardKind === "cns" ? r.cardKind : "unknown";
  return kind === "cie" && r.driver === "eidlink" ? "kind_cie_native" : `kind_${kind}`;
}

/**
 * pinLimits is the length the input must have.
 * @param {PinRequest} r
 */
export function pinLimits(r) {
  if (r.pinPart === "last4") return { min: 4, max: 4 };
  const min = r.minLength > 0 ? r.minLength : r.cardKind === "cie" ? 8 : 4;
  const max = r.maxLength >= min ? r.maxLength : r.cardKind === "cie" ? 8 : Math.max(min, 12);
  return { min, max };
}

/**
 * numeric tells whether the card's PIN is made of digits (CIE and CNS);
 * another token may have any printable ASCII PIN but " and \ (which the
 * host refuses, as JSON escapes).
 * @param {PinRequest} r
 */
export const numeric = (r) => r.cardKind === "cie" || r.cardKind === "cns";

/**
 * sanitize keeps what may be part of the PIN: digits on CIE and CNS. It
 * never cuts the value to the maximum length: an 8-digit PIN pasted where
 * only the last 4 are wanted must be refused, not silently cut to the
 * first 4 (which would cost a try).
 * @param {string} v
 * @param {PinRequest} r
 */
export function sanitize(v, r) {
  return numeric(r) ? v.replace(/\D+/g, "") : v.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]+/g, "");
}

/**
 * validatePin returns null when value may be sent, else the key of the
 * message that explains what is wrong.
 * @param {string} value
 * @param {PinRequest} r
 * @returns {string|null}
 */
export function validatePin(value, r) {
  const { min, max } = pinLimits(r);
  if (numeric(r) ? !/^\d*$/.test(value) : !/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(value)) return "pinDigitsOnly";
  if (r.pinPart === "last4" && value.length === 8) return "pinLast4Typed8";
  if (value.length > max) return "pinTooLong";
  if (value.length < min) return "pinTooShort";
  return null;
}
