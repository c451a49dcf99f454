import assert from "node:assert/strict";
import { test } from "node:test";
import { translate } from "../src/shared/i18n.js";
import { summarize, summaryText } from "../src/shared/status.js";

const t = (/** @type {string} */ k, /** @type {(string|number)[]} */ ...s) => translate("it", k, ...s);
const reader = { name: "Virtual PCD 00 00", cardPresent: true, cardKind: "cie" };
const token = { module: "/m.so", slot: 0, label: "CIE", cardKind: "cie", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U", hasAuthKey: true, hasSignKey: false, triesLeft: 3, pinLocked: false, pinpad: false, minPinLength: 8, maxPinLength: 8, pinPart: "full" };
const base = { version: "0.1.0", mode: "service", modules: [], tokens: [], readers: [] };

test("summarize: each state from a host status", () => {
  const cases = [
    [null, "no-host"],
    [{ ...base, pcsc: "pcscd not running" }, "pcsc-down"],
    [base, "no-reader"],
    [{ ...base, readers: [{ ...reader, cardPresent: false }] }, "no-card"],
    [{ ...base, readers: [reader] }, "no-module"],
    [{ ...base, readers: [{ ...reader, cardKind: "unknown" }] }, "card-unknown"],
    [{ ...base, readers: [reader], tokens: [token] }, "ready"],
    [{ ...base, readers: [reader], tokens: [{ ...token, pinLocked: true }] }, "pin-blocked"],
    [{ ...base, readers: [reader], tokens: [{ ...token, triesLeft: 0 }] }, "pin-blocked"],
  ];
  for (const [st, want] of cases) assert.equal(summarize(/** @type {any} */ (st)).state, want, JSON.stringify(st));
});

test("summarize: the ready card's holder, codice fiscale and tries", () => {
  const s = summarize({ ...base, readers: [reader], tokens: [{ ...token, cardKind: "unknown", hasAuthKey: true, holder: "X" }, token] });
  assert.deepEqual(s, { state: "ready", cardKind: "cie", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U", triesLeft: 3, problem: "", driver: "" });
});

test("summarize: a CIE on eidlink's own driver is ready with no token, and named so", () => {
  const native = { ...reader, module: "eidlink (native CIE driver)", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U" };
  const s = summarize({ ...base, readers: [native] });
  assert.deepEqual(s, { state: "ready", cardKind: "cie", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U", triesLeft: -1, problem: "", driver: "eidlink" });
  assert.deepEqual(summaryText(s, t), { title: "CIE di MARIO ROSSI pronta all'uso", fix: "CIE, driver eidlink: si usa il PIN completo di 8 cifre." });
  assert.equal(summarize({ ...base, readers: [{ ...native, problem: "x" }] }).state, "no-module");
});

test("summaryText says what is wrong and how to fix it", () => {
  assert.deepEqual(summaryText(summarize({ ...base, readers: [reader], tokens: [token] }), t), { title: "CIE di MARIO ROSSI pronta all'uso", fix: "Tentativi PIN rimasti: 3." });
  assert.match(summaryText(summarize({ ...base, readers: [reader] }), t).fix, /software CIE/);
  assert.match(summaryText(summarize({ ...base, readers: [{ ...reader, cardKind: "cns" }] }), t).fix, /Regione/);
  assert.match(summaryText(summarize(base), t).fix, /contactless/);
  assert.match(summaryText(summarize(null), t).title, /non trovato/);
});
