// One manifest template, two browsers. Chrome: service worker, fixed id
// from the public key in ids.json, storage.managed schema. Firefox:
// background scripts, gecko id, data collection declaration.

import { createHash } from "node:crypto";
import { tlsLoginMatches } from "../src/shared/origin.js";

/**
 * @typedef {{chrome: string, firefox: string, chromeKey: string, nativeHost: string}} Ids
 * @typedef {{demoOrigins: string[], profiles: {hosts: string[], unlock?: object}[]}} Profiles
 */

/** Firefox 142 is the first that knows data_collection_permissions. */
export const FIREFOX_MIN = "142.0";
export const CHROME_MIN = "116";

/**
 * chromeId computes the extension id Chrome derives from the manifest key:
 * the first 32 hex digits of SHA-256(DER public key), 0-f mapped to a-p.
 * @param {string} keyBase64
 */
export function chromeId(keyBase64) {
  const hex = createHash("sha256").update(Buffer.from(keyBase64, "base64")).digest("hex").slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join("");
}

/**
 * helperMatches are the content-script matches of the site helper: every
 * profile host over https, plus the demo site's loopback origins (where
 * the helper itself waits for a page marker or developer mode).
 * @param {Profiles} profiles
 */
export function helperMatches(profiles) {
  const hosts = [...new Set(profiles.profiles.flatMap((p) => p.hosts))].sort();
  return [...hosts.map((h) => `https://${h}/*`), ...profiles.demoOrigins];
}

/** The page API runs on every https page and on loopback http (where it refuses unless developer mode is on). */
export const PAGE_API_MATCHES = ["https://*/*", "http://localhost/*", "http://127.0.0.1/*", "http://[::1]/*"];

/**
 * makeManifest returns the manifest.json object for "chrome" or "firefox".
 * @param {"chrome"|"firefox"} browser
 * @param {{version: string, ids: Ids, profiles: Profiles}} o
 */
export function makeManifest(browser, { version, ids, profiles }) {
  const icons = { 16: "icons/16.png", 32: "icons/32.png", 48: "icons/48.png", 128: "icons/128.png" };
  /** @type {Record<string, unknown>} */
  const m = {
    manifest_version: 3,
    name: "__MSG_extName__",
    description: "__MSG_extDescription__",
    version,
    default_locale: "it",
    icons,
    // webRequest on the TLS-login hosts only (background/tls-watch.js):
    // the hosts the site helper runs on already, so no new warning.
    permissions: ["nativeMessaging", "storage", "webRequest"],
    host_permissions: tlsLoginMatches(profiles),
    action: { default_title: "__MSG_actionTitle__", default_popup: "popup/popup.html", default_icon: icons },
    options_ui: { page: "options/options.html", open_in_tab: true },
    content_scripts: [
      { matches: PAGE_API_MATCHES, js: ["content/page-api.js"], all_frames: true, run_at: "document_start" },
      { matches: helperMatches(profiles), js: ["content/helper.js"], run_at: "document_idle" },
    ],
  };
  if (browser === "chrome") {
    m.key = ids.chromeKey;
    m.minimum_chrome_version = CHROME_MIN;
    m.background = { service_worker: "background.js" };
    m.storage = { managed_schema: "managed_schema.json" };
  } else {
    m.background = { scripts: ["background.js"] };
    // browser.pkcs11.installModule: asked for when the user clicks the popup's button.
    m.optional_permissions = ["pkcs11"];
    m.browser_specific_settings = {
      gecko: { id: ids.firefox, strict_min_version: FIREFOX_MIN, data_collection_permissions: { required: ["none"] } },
    };
  }
  return m;
}
