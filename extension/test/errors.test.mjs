import assert from "node:assert/strict";
import { test } from "node:test";
import { CodedError, ErrorCode, errorText, pageCode, toPageError } from "../src/shared/errors.js";
import { translate } from "../src/shared/i18n.js";
import { ErrorCode as LibraryErrorCode } from "../page/eidlink.js";

const it = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("it", k, ...s);
const en = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("en", k, ...s);

// Every code the host may send (host/protocol/errors.go) and what the page gets.
const HOST_CODES = {
  ERR_WEBEID_NATIVE_INVALID_ARGUMENT: "ERR_WEBEID_NATIVE_INVALID_ARGUMENT",
  ERR_WEBEID_NATIVE_FATAL: "ERR_WEBEID_NATIVE_FATAL",
  ERR_WEBEID_USER_CANCELLED: "ERR_WEBEID_USER_CANCELLED",
  ERR_WEBEID_USER_TIMEOUT: "ERR_WEBEID_USER_TIMEOUT",
  ERR_WEBEID_UNKNOWN_ERROR: "ERR_WEBEID_UNKNOWN_ERROR",
  ERR_EIDLINK_MESSAGE_TOO_LARGE: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_MALFORMED_MESSAGE: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_UNKNOWN_COMMAND: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_UNEXPECTED_PIN: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_NO_MODULE: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_NO_READER: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_NO_CARD: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_CARD_REMOVED: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_NO_CERTIFICATE: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_PIN_INCORRECT: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_PIN_BLOCKED: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_PIN_FORMAT: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_CARD_ERROR: "ERR_WEBEID_NATIVE_FATAL",
  ERR_EIDLINK_SERVICE_RESTARTED: "ERR_WEBEID_UNKNOWN_ERROR",
  ERR_EIDLINK_BUSY: "ERR_WEBEID_ACTION_PENDING",
};

test("every host code maps to a Web eID code and has its own text in both languages", () => {
  for (const [code, page] of Object.entries(HOST_CODES)) {
    assert.equal(pageCode(code), page, code);
    if (code !== "ERR_WEBEID_UNKNOWN_ERROR") for (const t of [it, en]) assert.notEqual(errorText(code, t), errorText("ERR_NOT_A_CODE", t), `${code} has its own text`);
  }
  for (const code of Object.values(ErrorCode)) assert.equal(pageCode(code), code);
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

test("the page library knows exactly the codes the extension sends", () => {
  assert.deepEqual(LibraryErrorCode, ErrorCode);
});
