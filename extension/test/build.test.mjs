// Manifests for both browsers, the Chrome id, the zip writer, and a
// reproducible build.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import ids from "../ids.json" with { type: "json" };
import pkg from "../package.json" with { type: "json" };
import profiles from "../src/profiles/site-profiles.json" with { type: "json" };
import { chromeId, helperMatches, makeManifest } from "../tools/manifest.mjs";
import { crc32, zip } from "../tools/zip.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const chrome = /** @type {any} */ (makeManifest("chrome", { version: pkg.version, ids, profiles }));
const firefox = /** @type {any} */ (makeManifest("firefox", { version: pkg.version, ids, profiles }));

test("Chrome id: derived from the public key in ids.json", () => {
  assert.equal(chromeId(ids.chromeKey), ids.chrome);
  assert.match(ids.chrome, /^[a-p]{32}$/);
  assert.equal(chrome.key, ids.chromeKey);
  const der = Buffer.from(ids.chromeKey, "base64");
  assert.equal(der[0], 0x30, "DER SubjectPublicKeyInfo");
  assert.ok(!JSON.stringify(ids).includes("PRIVATE"));
  assert.equal(ids.nativeHost, "it.eidlink.host");
});

test("Chrome manifest: service worker, managed storage schema, no Firefox keys", () => {
  assert.equal(chrome.manifest_version, 3);
  assert.deepEqual(chrome.background, { service_worker: "background.js" });
  assert.equal(chrome.storage.managed_schema, "managed_schema.json");
  assert.equal(chrome.browser_specific_settings, undefined);
});

test("Firefox manifest: background scripts, gecko id, min version, no data collection", () => {
  assert.deepEqual(firefox.background, { scripts: ["background.js"] });
  assert.equal(firefox.key, undefined);
  assert.equal(firefox.storage, undefined);
  const g = firefox.browser_specific_settings.gecko;
  assert.equal(g.id, "eidlink@eidlink.it");
  assert.ok(parseFloat(g.strict_min_version) >= 142);
  assert.deepEqual(g.data_collection_permissions, { required: ["none"] });
});

test("both: minimal permissions, Italian default, page API everywhere https, helper only on profile hosts", () => {
  for (const m of [chrome, firefox]) {
    assert.deepEqual(m.permissions, ["nativeMessaging", "storage"]);
    assert.equal(m.host_permissions, undefined);
    assert.equal(m.default_locale, "it");
    assert.equal(m.version, pkg.version);
    const [pageApi, helper] = m.content_scripts;
    assert.equal(pageApi.all_frames, true);
    assert.equal(pageApi.run_at, "document_start");
    assert.ok(pageApi.matches.every((/** @type {string} */ p) => p.startsWith("https://") || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])\/\*$/.test(p)));
    assert.deepEqual(helper.matches, helperMatches(profiles));
    assert.ok(helper.matches.includes("https://idserver.servizicie.interno.gov.it/*"));
    assert.ok(helper.matches.includes("https://*.inps.it/*"));
    assert.ok(!helper.matches.some((/** @type {string} */ p) => p === "https://*/*" || p === "<all_urls>"));
  }
});

/** unzip reads back the entries of an archive written by zip(). */
function unzip(/** @type {Buffer} */ buf) {
  const end = buf.length - 22;
  assert.equal(buf.readUInt32LE(end), 0x06054b50);
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const out = [];
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50);
    const method = buf.readUInt16LE(p + 10);
    const [time, date, crc, size, len, off] = [buf.readUInt16LE(p + 12), buf.readUInt16LE(p + 14), buf.readUInt32LE(p + 16), buf.readUInt32LE(p + 20), buf.readUInt16LE(p + 28), buf.readUInt32LE(p + 42)];
    const name = buf.subarray(p + 46, p + 46 + len).toString();
    const body = buf.subarray(off + 30 + buf.readUInt16LE(off + 26), off + 30 + buf.readUInt16LE(off + 26) + size);
    const data = method === 8 ? inflateRawSync(body) : body;
    assert.equal(crc32(data), crc, name);
    out.push({ name, data: data.toString(), time, date });
    p += 46 + len;
  }
  return out;
}

test("zip: round trip, fixed order and time", () => {
  const files = /** @type {[string, Uint8Array][]} */ ([["a.txt", Buffer.from("hello ".repeat(100))], ["dir/è.json", Buffer.from("{}")]]);
  const a = zip(files, 1700000000);
  assert.deepEqual(a, zip(files, 1700000000));
  const back = unzip(a);
  assert.deepEqual(back.map((e) => e.name), ["a.txt", "dir/è.json"]);
  assert.equal(back[0].data, "hello ".repeat(100));
  assert.equal(back[1].data, "{}");
  // 2023-11-14 22:13:20 UTC
  assert.equal(back[0].date, ((2023 - 1980) << 9) | (11 << 5) | 14);
  assert.equal(back[0].time, (22 << 11) | (13 << 5) | 10);
  assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
});

test("build: both packages, reproducible", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "eidlink-build-"));
  try {
    const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000" };
    const run = (/** @type {string} */ out) => execFileSync(process.execPath, [path.join(root, "build.mjs"), out], { env, encoding: "utf8" });
    const first = run(path.join(tmp, "a"));
    const second = run(path.join(tmp, "b"));
    assert.equal(first, second, "same hashes twice");
    for (const [file, manifest] of [["eidlink-chrome.zip", chrome], ["eidlink-firefox.xpi", firefox]]) {
      const entries = unzip(fs.readFileSync(path.join(tmp, "a", file)));
      const names = entries.map((e) => e.name);
      assert.deepEqual(names, [...names].sort());
      for (const f of ["manifest.json", "background.js", "content/page-api.js", "content/helper.js", "pin/pin.html", "pin/pin.js", "popup/popup.html", "options/options.html", "_locales/it/messages.json", "_locales/en/messages.json", "icons/128.png"]) assert.ok(names.includes(f), `${file}: ${f}`);
      assert.deepEqual(JSON.parse(/** @type {any} */ (entries.find((e) => e.name === "manifest.json")).data), manifest);
    }
    assert.match(fs.readFileSync(path.join(tmp, "a", "SHA256SUMS"), "utf8"), /^[0-9a-f]{64}  eidlink-chrome\.zip\n[0-9a-f]{64}  eidlink-firefox\.xpi\n$/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
