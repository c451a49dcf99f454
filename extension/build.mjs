// Builds the extension for both browsers from one source:
//   dist/chrome/, dist/firefox/          unpacked (load unpacked / temporary add-on)
//   dist/eidlink-chrome.zip, dist/eidlink-firefox.xpi, dist/SHA256SUMS
// Reproducible: sorted entries, timestamps from SOURCE_DATE_EPOCH.
// Usage: node build.mjs [OUTDIR]   (default: dist)

import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { makeManifest } from "./tools/manifest.mjs";
import { zip } from "./tools/zip.mjs";

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(root, "dist"));
const readJSON = (/** @type {string} */ f) => JSON.parse(fs.readFileSync(path.join(root, f), "utf8"));
const epoch = Number(process.env.SOURCE_DATE_EPOCH || 315532800); // default: 1980-01-01

const entries = {
  background: "src/background/index.js",
  "content/page-api": "src/content/page-api.js",
  "content/helper": "src/content/helper.js",
  "pin/pin": "src/pin/pin.js",
  "popup/popup": "src/popup/popup.js",
  "options/options": "src/options/options.js",
  "tls/failed": "src/tls/failed.js",
};
const statics = ["ui.css", "pin/pin.html", "pin/pin.css", "popup/popup.html", "popup/popup.css", "options/options.html", "options/options.css", "tls/failed.html"];
const targets = { chrome: "chrome116", firefox: "firefox142" };
const packages = { chrome: "eidlink-chrome.zip", firefox: "eidlink-firefox.xpi" };

/**
 * @param {string} dir
 * @returns {string[]} paths relative to dir, sorted
 */
function walk(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join("/"))
    .sort();
}

/**
 * @param {string} file
 * @param {string|Uint8Array} data
 */
function write(file, data) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, data);
}

async function main() {
  fs.rmSync(dist, { recursive: true, force: true });
  const version = readJSON("package.json").version;
  const ids = readJSON("ids.json");
  const profiles = readJSON("src/profiles/site-profiles.json");
  const sums = [];
  for (const browser of /** @type {const} */ (["chrome", "firefox"])) {
    const out = path.join(dist, browser);
    await esbuild.build({
      entryPoints: Object.fromEntries(Object.entries(entries).map(([o, i]) => [o, path.join(root, i)])),
      outdir: out,
      bundle: true,
      format: "iife",
      target: targets[browser],
      charset: "utf8",
      legalComments: "none",
      logLevel: "warning",
    });
    for (const f of statics) write(path.join(out, f), fs.readFileSync(path.join(root, "src", f)));
    fs.cpSync(path.join(root, "_locales"), path.join(out, "_locales"), { recursive: true });
    fs.cpSync(path.join(root, "src/icons"), path.join(out, "icons"), { recursive: true });
    if (browser === "chrome") write(path.join(out, "managed_schema.json"), fs.readFileSync(path.join(root, "src/managed_schema.json")));
    write(path.join(out, "manifest.json"), JSON.stringify(makeManifest(browser, { version, ids, profiles }), null, 2) + "\n");
    const files = walk(out).map((f) => /** @type {[string, Uint8Array]} */ ([f, fs.readFileSync(path.join(out, f))]));
    const pkg = zip(files, epoch);
    write(path.join(dist, packages[browser]), pkg);
    sums.push(`${createHash("sha256").update(pkg).digest("hex")}  ${packages[browser]}`);
  }
  write(path.join(dist, "SHA256SUMS"), sums.join("\n") + "\n");
  console.log(sums.join("\n"));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
