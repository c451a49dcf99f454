// Manifests for both browsers, the Chrome id, the zip writer, and a
// reproducible build.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ids from "../ids.json" with { type: "json" };
import pkg from "../package.json" with { type: "json" };
import profiles from "../src/profiles/site-profiles.json" with { type: "json" };
import { chromeId, helperMatches, makeManifest } from "../tools/manifest.mjs";
import { zip } from "../tools/zip.mjs";

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
    assert.deepEqual(m.permissions, ["nativeMessaging", "storage", "webRequest"]);
    // webRequest sees only the TLS-login hosts, where the helper runs already: no new permission warning
    assert.deepEqual(m.host_permissions, ["https://*.inps.it/*", "https://idserver.servizicie.interno.gov.it/*", "https://serviziweb2.inps.it/*", "https://www.inps.it/*"]);
    assert.ok(m.host_permissions.every((/** @type {string} */ h) => m.content_scripts[1].matches.includes(h)));
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

/**
 * infoZip reads an archive with Info-ZIP's unzip, a reader independent of
 * tools/zip.mjs: it tests every entry's CRC and sizes, then extracts them.
 * @param {string} file
 * @param {string} dir where to extract
 * @returns {{ names: string[], listing: string }} entry names in archive order, zipinfo's listing
 */
function infoZip(file, dir) {
  const run = (/** @type {string[]} */ args) => execFileSync("unzip", args, { encoding: "utf8", env: { ...process.env, TZ: "UTC" } });
  assert.match(run(["-t", file]), /No errors detected/, `unzip -t ${file}`);
  run(["-q", "-d", dir, file]);
  return { names: run(["-Z1", file]).split("\n").filter(Boolean), listing: run(["-Z", "-T", file]) };
}

/**
 * tree maps every regular file under dir (relative, "/"-separated) to its bytes.
 * @param {string} dir
 */
function tree(dir) {
  return new Map(
    fs
      .readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => [path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"), fs.readFileSync(path.join(e.parentPath, e.name))]),
  );
}

test("zip: Info-ZIP reads back every entry, in order, with its time and mode", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "eidlink-zip-"));
  try {
    const files = /** @type {[string, Uint8Array][]} */ ([["a.txt", Buffer.from("hello ".repeat(100))], ["dir/è.json", Buffer.from("{}")], ["empty", Buffer.alloc(0)]]);
    const a = zip(files, 1700000000);
    assert.deepEqual(a, zip(files, 1700000000));
    fs.writeFileSync(path.join(tmp, "t.zip"), a);
    const { names, listing } = infoZip(path.join(tmp, "t.zip"), path.join(tmp, "x"));
    assert.deepEqual(names, ["a.txt", "dir/è.json", "empty"]);
    assert.deepEqual(tree(path.join(tmp, "x")), new Map(files.map(([n, d]) => [n, Buffer.from(d)])));
    // Deflated when it pays, stored otherwise; 2023-11-14 22:13:20 UTC; rw-r--r--.
    assert.match(listing, /^-rw-r--r-- .* defN 20231114\.221320 a\.txt$/m);
    assert.match(listing, /^-rw-r--r-- .* stor 20231114\.221320 dir\/è\.json$/m);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("build: both packages, reproducible", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "eidlink-build-"));
  try {
    const env = { ...process.env, SOURCE_DATE_EPOCH: "1700000000" };
    const run = (/** @type {string} */ out) => execFileSync(process.execPath, [path.join(root, "build.mjs"), out], { env, encoding: "utf8" });
    const first = run(path.join(tmp, "a"));
    const second = run(path.join(tmp, "b"));
    assert.equal(first, second, "same hashes twice");
    const icons = tree(path.join(root, "src/icons"));
    for (const [browser, file, manifest] of [["chrome", "eidlink-chrome.zip", chrome], ["firefox", "eidlink-firefox.xpi", firefox]]) {
      const x = path.join(tmp, `x-${browser}`);
      const { names } = infoZip(path.join(tmp, "a", file), x);
      assert.deepEqual(names, [...names].sort());
      const unpacked = tree(path.join(tmp, "a", browser));
      assert.deepEqual(new Set(names), new Set(unpacked.keys()), `${file}: every file of dist/${browser}`);
      assert.deepEqual(tree(x), unpacked, `${file}: same bytes as dist/${browser}`);
      for (const f of ["manifest.json", "background.js", "content/page-api.js", "content/helper.js", "pin/pin.html", "pin/pin.js", "popup/popup.html", "options/options.html", "_locales/it/messages.json", "_locales/en/messages.json"]) assert.ok(names.includes(f), `${file}: ${f}`);
      for (const icon of Object.values(manifest.icons)) assert.deepEqual(unpacked.get(icon), icons.get(icon.replace(/^icons\//, "")), `${file}: ${icon} is the committed src/${icon}`);
      assert.deepEqual(JSON.parse(/** @type {Buffer} */ (unpacked.get("manifest.json")).toString()), manifest);
    }
    assert.match(fs.readFileSync(path.join(tmp, "a", "SHA256SUMS"), "utf8"), /^[0-9a-f]{64}  eidlink-chrome\.zip\n[0-9a-f]{64}  eidlink-firefox\.xpi\n$/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
