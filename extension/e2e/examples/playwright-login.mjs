// Testing your site without a card: a CIE login on your page in headless
// Chromium, with the eidlink extension and the eidlink mock host (no card,
// no reader), then an error path. Runs in CI as it is.
//
// Needs: Chromium, `npm i -D playwright-core`, the eidlink binaries
// (eidlink, eidlink-mockhost) and the built extension (extension/dist/chrome).
//
//   SITE=https://localhost:8443/ LOGIN='#login-cie' WELCOME='#welcome' FAILURE='.error' \
//   node playwright-login.mjs
//
// Your server verifies the token as usual: give it the mock card's CA
// (printed below; CARD_DIR keeps one card across runs) as a trust anchor.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const env = process.env;
const SITE = env.SITE ?? "https://localhost:8443/";
const LOGIN = env.LOGIN ?? "#cie-login"; // the button that starts the CIE login
const WELCOME = env.WELCOME ?? "#welcome:not([hidden])"; // shown once logged in
const FAILURE = env.FAILURE ?? "#result.error"; // shown when the login fails
const EIDLINK = env.EIDLINK ?? "eidlink";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eidlink-profile-"));

// `eidlink dev-profile` registers the mock host in a browser profile; run
// it again with another scenario to change what the next login meets.
const profile = (/** @type {string} */ scenario) => {
  const args = ["dev-profile", "--json", "--browser", "chromium", "--dir", dir, "--host", "mock", "--scenario", scenario];
  if (env.CARD_DIR) args.push("--card-dir", env.CARD_DIR);
  return JSON.parse(execFileSync(EIDLINK, args, { encoding: "utf8" }));
};

const p = profile("ok");
console.log(`mock card: ${p.card.holder}, PIN ${p.card.pin}; trust anchor: ${p.card.caFile}`);
const ctx = await chromium.launchPersistentContext(p.dir, {
  executablePath: p.launch.executable,
  headless: true,
  ignoreHTTPSErrors: true, // a self-signed test server
  args: p.launch.args, // loads the extension
});
try {
  // The extension must be running before the page loads.
  if (!ctx.serviceWorkers().length) await ctx.waitForEvent("serviceworker");
  const page = await ctx.newPage();
  await page.goto(SITE);

  // A login: eidlink asks the PIN in its own window, never in your page.
  const pinWindow = ctx.waitForEvent("page", (w) => w.url().includes("/pin/pin.html"));
  await page.click(LOGIN);
  const pin = await pinWindow;
  await pin.fill("#pin", p.card.pin);
  await pin.press("#pin", "Enter").catch(() => {}); // the window may close before the key is up
  await page.waitForSelector(WELCOME);
  console.log("logged in:", await page.textContent(WELCOME));

  // An error path: no card in the reader (other scenarios: eidlink-mockhost -h).
  profile("no-card");
  await page.reload();
  await page.click(LOGIN);
  await page.waitForSelector(FAILURE);
  console.log("no card:", await page.textContent(FAILURE));
} finally {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
