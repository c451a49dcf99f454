import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { catalogs, resolveLanguage, translate } from "../src/shared/i18n.js";

const root = new URL("..", import.meta.url);
const placeholders = (/** @type {string} */ s) => [...s.matchAll(/\$(\d)/g)].map((m) => m[1]).sort().join();

test("it and en have the same keys, non-empty, with the same $N substitutions", () => {
  const it = catalogs.it;
  const en = catalogs.en;
  assert.deepEqual(Object.keys(en).sort(), Object.keys(it).sort());
  for (const k of Object.keys(it)) {
    assert.ok(it[k].message.trim() && en[k].message.trim(), k);
    assert.equal(placeholders(en[k].message), placeholders(it[k].message), k);
    assert.match(k, /^[A-Za-z0-9_]+$/, "chrome.i18n key syntax");
    assert.ok(!/\$[A-Za-z]/.test(it[k].message + en[k].message), `${k}: no named placeholders`);
  }
});

test("every data-i18n key in the pages and every t(\"key\") in the sources exists", () => {
  const files = fs.readdirSync(new URL("src", root), { recursive: true, encoding: "utf8" }).filter((f) => /\.(html|js)$/.test(f));
  const used = new Set();
  for (const f of files) {
    const text = fs.readFileSync(new URL("src/" + f, root), "utf8");
    if (f.endsWith(".html")) for (const m of text.matchAll(/data-i18n="([^"]+)"/g)) used.add(m[1]);
    for (const m of text.matchAll(/\bt\("([A-Za-z0-9_]+)"[,)]/g)) used.add(m[1]);
  }
  assert.ok(used.size > 40);
  for (const k of used) assert.ok(catalogs.it[k], `missing key ${k}`);
});

test("manifest strings resolve", () => {
  for (const k of ["extName", "extDescription", "actionTitle"]) assert.ok(catalogs.it[k] && catalogs.en[k]);
});

test("language choice and substitution", () => {
  assert.equal(resolveLanguage("auto", "en-GB"), "en");
  assert.equal(resolveLanguage("auto", "de-DE"), "it");
  assert.equal(resolveLanguage("auto", "it-IT"), "it");
  assert.equal(resolveLanguage("en", "it-IT"), "en");
  assert.equal(translate("it", "triesLeft", 2), "Tentativi PIN rimasti: 2.");
  assert.equal(translate("fr", "triesLeft", 2), "Tentativi PIN rimasti: 2.", "unknown language falls back to Italian");
  assert.equal(translate("en", "no_such_key"), "no_such_key");
});
