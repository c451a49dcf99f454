import assert from "node:assert/strict";
import { test } from "node:test";
import { cardKindKey, pinLimits, sanitize, validatePin } from "../src/pin/pin-form.js";

/** @returns {import("../src/pin/pin-form.js").PinRequest} */
const req = (/** @type {object} */ o = {}) => ({ origin: "https://www.inps.it", purpose: "authenticate", cardKind: "cie", triesLeft: 3, lastTry: false, minLength: 8, maxLength: 8, pinPart: "full", pinpad: false, ...o });

test("CIE full PIN: exactly 8 digits", () => {
  const r = req();
  assert.deepEqual(pinLimits(r), { min: 8, max: 8 });
  assert.equal(validatePin("12345678", r), null);
  assert.equal(validatePin("1234567", r), "pinTooShort");
  assert.equal(validatePin("123456789", r), "pinTooLong");
  assert.equal(validatePin("1234567a", r), "pinDigitsOnly");
  assert.equal(validatePin("", r), "pinTooShort");
});

test("CIE with the IPZS module (last4): only 4 digits; 8 typed is explained, not cut", () => {
  const r = req({ pinPart: "last4", minLength: 4, maxLength: 4 });
  assert.deepEqual(pinLimits(r), { min: 4, max: 4 });
  assert.equal(validatePin("5678", r), null);
  assert.equal(validatePin("12345678", r), "pinLast4Typed8");
  assert.equal(validatePin("123", r), "pinTooShort");
  assert.equal(validatePin("12345", r), "pinTooLong");
  // even if the host sent inconsistent lengths, last4 means 4
  assert.deepEqual(pinLimits(req({ pinPart: "last4", minLength: 8, maxLength: 8 })), { min: 4, max: 4 });
  // a pasted full PIN keeps all its digits, so it is refused instead of becoming the first 4
  assert.equal(sanitize("1234 5678", r), "12345678");
  assert.equal(validatePin(sanitize("1234 5678", r), r), "pinLast4Typed8");
});

test("CNS: the card's range; unknown token: printable PIN without quote or backslash", () => {
  const cns = req({ cardKind: "cns", minLength: 5, maxLength: 8 });
  assert.deepEqual(pinLimits(cns), { min: 5, max: 8 });
  assert.equal(validatePin("12345", cns), null);
  assert.equal(validatePin("1234", cns), "pinTooShort");
  assert.equal(sanitize("12a3-45", cns), "12345");
  const other = req({ cardKind: "unknown", minLength: 4, maxLength: 16 });
  assert.equal(sanitize('ab"c\\d\u00e9', other), "abcd");
  assert.equal(validatePin("abcd", other), null);
  assert.deepEqual(pinLimits(req({ cardKind: "cns", minLength: 0, maxLength: 0 })), { min: 4, max: 12 });
});

test("the card's name: a CIE on eidlink's own driver names the path, other cards their kind", () => {
  assert.equal(cardKindKey(req({ driver: "eidlink" })), "kind_cie_native");
  assert.equal(cardKindKey(req()), "kind_cie");
  assert.equal(cardKindKey(req({ pinPart: "last4" })), "kind_cie");
  assert.equal(cardKindKey(req({ cardKind: "cns", driver: "eidlink" })), "kind_cns");
  assert.equal(cardKindKey(req({ cardKind: "other" })), "kind_unknown");
});
