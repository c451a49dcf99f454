import assert from "node:assert/strict";
import { test } from "node:test";
import { CodedError, ErrorCode, errorText, pageCode, toPageError } from "../src/shared/errors.js";
import { translate } from "../src/shared/i18n.js";
import { ErrorCode as LibraryErrorCode } from "../../relyingparty/eidlink.js";
import { hostCodes, pageCodes } from "../src/shared/codes.js";

const it = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("it", k, ...s);
const en = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("en", k, ...s);

test("every host code maps to a Web eID code and has its own text in both languages", () => {
  assert.ok(hostCodes.length >= 20, "codes.js lists the host's codes");
  for (const code of hostCodes) {
    const page = pageCodes[code] ?? code;
    assert.ok(Object.values(ErrorCode).includes(page), `${code} maps to the Web eID code ${page}`);
    assert.equal(pageCode(code), page, code);
    if (code !== "ERR_WEBEID_UNKNOWN_ERROR") for (const t of [it, en]) assert.notEqual(errorText(code, t), errorText("ERR_NOT_A_CODE", t), `${code} has its own text`);
  }
  for (const code of Object.values(ErrorCode)) assert.equal(pageCode(code), code);
  assert.equal(pageCode("ERR_EIDLINK_BUSY"), "ERR_WEBEID_ACTION_PENDING");
  assert.equal(pageCode("ERR_FROM_THE_FUTURE"), "ERR_WEBEID_UNKNOWN_ERROR");
});

test("toPageError keeps the eidlink code, tries left and retryable", () => {
  const e = CodedError.fromNative({ code: "ERR_EIDLINK_SERVICE_RESTARTED", message: "restarted", retryable: true });
  assert.deepEqual(toPageError(e, it), { code: "ERR_WEBEID_UNKNOWN_ERROR", eidlinkCode: "ERR_EIDLINK_SERVICE_RESTARTED", message: "Il servizio eidlink si è riavviato. Riprova.", retryable: true });
  const p = CodedError.fromNative({ code: "ERR_EIDLINK_PIN_INCORRECT", triesLeft: 1 });
  assert.deepEqual(toPageError(p, en), { code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_PIN_INCORRECT", message: "Wrong PIN. PIN tries left: 1.", triesLeft: 1 });
  assert.deepEqual(toPageError(new Error("boom"), it), { code: "ERR_WEBEID_UNKNOWN_ERROR", message: "Si è verificato un errore imprevisto. Riprova." });
  assert.equal(CodedError.fromNative(/** @type {any} */ (null)).code, "ERR_WEBEID_UNKNOWN_ERROR");
});

// Several cards fit an unlock: the text says what to do, not "the site's
// request is not valid", though a page would still get Web eID's code.
test("several cards for an unlock: its own text, how to choose", () => {
  const e = toPageError(CodedError.fromNative({ code: "ERR_EIDLINK_CARD_AMBIGUOUS", message: "2 cards are \"cie\"" }), it);
  assert.equal(e.code, "ERR_WEBEID_NATIVE_INVALID_ARGUMENT");
  assert.equal(e.eidlinkCode, "ERR_EIDLINK_CARD_AMBIGUOUS");
  assert.match(e.message, /^Sono inserite più carte.*Togli dai lettori le carte che non servono.*"eidlink unlock --card"/);
  assert.match(errorText("ERR_EIDLINK_CARD_AMBIGUOUS", en), /^Several cards are inserted.*Take the cards you do not need out.*"eidlink unlock --card"/);
  for (const t of [it, en]) assert.notEqual(errorText("ERR_EIDLINK_CARD_AMBIGUOUS", t), errorText("ERR_WEBEID_NATIVE_INVALID_ARGUMENT", t));
});

// pcscd down or wedged: the page and the status say the same thing, never
// "insert the card".
test("an unavailable smart-card service is one message, the status's", () => {
  const e = toPageError(CodedError.fromNative({ code: "ERR_EIDLINK_PCSC_UNAVAILABLE", message: "the smart-card service (pcscd) is not running" }), it);
  assert.equal(e.code, "ERR_WEBEID_NATIVE_FATAL");
  assert.equal(e.eidlinkCode, "ERR_EIDLINK_PCSC_UNAVAILABLE");
  assert.match(e.message, /^Il servizio delle smart card \(pcscd\) non è avviato o non risponde/);
  assert.ok(e.message.startsWith(it("state_pcsc_down")), "the status's title starts the error's text");
  assert.doesNotMatch(e.message, /Inserisci|appoggia/);
});

// The page library ships with no dependencies, so it keeps its own copy of
// the page codes (generated into codes.js from internal/protocol/codes.go).
test("the page library knows exactly the codes the extension sends", () => {
  assert.deepEqual(LibraryErrorCode, ErrorCode);
});
