// make bench: the browser round trips, in one headless Chromium run.
//
//   page -> token    window.eidlink.authenticate on the demo site, through
//                    the extension, eidlink-host and a SoftHSM2 virtual CIE,
//                    the PIN typed into eidlink's PIN window by the bench
//   page -> status   web-eid:status: the same path without the card (the
//                    host is started and says its version)
//   echo             a bare native-messaging round trip from the extension's
//                    service worker to eidlink-mockhost in "echo" mode, port open
//   connect          connectNative until the host's version message
//   fresh profile    BENCH_FRESH new Chromium profiles: the page's first
//                    web-eid:status right after the first navigation, and
//                    when the helper's badge appeared (the extension's
//                    background starts with the browser, as a user's would)
//
// Medians of BENCH_N runs (default 20; echo 10x as many). Timings are
// printed, never asserted.

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Session, devProfile, eidlink, startDemo, testcard, workdir } from "./lib/harness.mjs";

const N = Number(process.env.BENCH_N ?? 20);
const FRESH = Number(process.env.BENCH_FRESH ?? 5);
const PIN = "12345678";
const median = (/** @type {number[]} */ xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const work = workdir("bench");
const dir = path.join(work, "profile");
/** @type {Session|undefined} */
let s;
/** @type {{origin: string, close: () => void}|undefined} */
let demo;
try {
  const card = testcard(path.join(work, "card"), { pin: PIN });
  const profile = devProfile("chromium", dir, { host: "real", cardDir: card.dir });
  fs.writeFileSync(profile.envFile ?? "", fs.readFileSync(profile.envFile ?? "", "utf8").replace("EIDLINK_LOG=debug", "EIDLINK_LOG=warn"));
  demo = await startDemo([card.caFile]);

  /** @type {{status: number, badge: number}[]} */
  const fresh = [];
  for (let i = 0; i < FRESH; i++) {
    const p = devProfile("chromium", path.join(work, `fresh-${i}`), { host: "real", cardDir: card.dir });
    fs.writeFileSync(p.envFile ?? "", fs.readFileSync(p.envFile ?? "", "utf8").replace("EIDLINK_LOG=debug", "EIDLINK_LOG=warn"));
    const b = await Session.launch(p);
    try {
      const page = await b.newPage();
      await page.goto(demo.origin + "/");
      fresh.push(
        await page.evaluate(async () => {
          // the badge's time since the navigation started (performance.now()'s
          // origin); if it is already there, now is an upper bound
          const badge = new Promise((resolve) => {
            const seen = () => document.querySelector("#eidlink-status[data-eidlink-state]") && (resolve(performance.now()), true);
            if (!seen()) new MutationObserver((_, o) => seen() && o.disconnect()).observe(document, { subtree: true, childList: true, attributes: true });
          });
          const start = performance.now();
          await /** @type {any} */ (window).eidlink.status();
          const status = performance.now() - start;
          return { status, badge: /** @type {number} */ (await badge) };
        }),
      );
    } finally {
      await b.close();
    }
  }

  s = await Session.launch(profile);
  const page = await s.newPage();
  await page.goto(demo.origin + "/");
  await page.waitFor('#eidlink-status[data-eidlink-state="ready"]');

  /** @type {{total: number, shown: number, afterPin: number}[]} */
  const logins = [];
  let token = "";
  let nonce = "";
  for (let i = 0; i <= N; i++) {
    nonce = randomBytes(32).toString("base64");
    const t0 = performance.now();
    /** @type {Promise<{ms: number, token: string}>} */
    let result = Promise.resolve({ ms: 0, token: "" });
    const pin = await s.pinWindow(async () => {
      result = page.evaluate(async (n) => {
        const start = performance.now();
        const t = await /** @type {any} */ (window).eidlink.authenticate(n);
        return { ms: performance.now() - start, token: JSON.stringify(t) };
      }, nonce);
    });
    const shown = performance.now() - t0;
    await pin.type("#pin", PIN);
    const submit = performance.now();
    await pin.press("Enter");
    const r = await result;
    if (i > 0) logins.push({ total: r.ms, shown, afterPin: performance.now() - submit }); // the first one warms up
    token = r.token;
  }
  fs.writeFileSync(path.join(work, "token.json"), token);
  eidlink("verify", "--origin", new URL(demo.origin).origin, "--nonce", nonce, "--ca", card.caFile, path.join(work, "token.json"));

  const statuses = [];
  for (let i = 0; i <= N; i++) {
    const ms = await page.evaluate(async () => {
      const start = performance.now();
      await /** @type {any} */ (window).eidlink.status();
      return performance.now() - start;
    });
    if (i > 0) statuses.push(ms);
  }

  devProfile("chromium", dir, { host: "mock", scenario: "echo", cardDir: path.join(work, "mock") });
  const native = await s.worker.evaluate(
    async (/** @type {{n: number, echoes: number}} */ o) => {
      const api = /** @type {any} */ (globalThis).chrome;
      /** @param {any} port */
      const next = (port) =>
        new Promise((resolve) => {
          const f = (/** @type {unknown} */ m) => (port.onMessage.removeListener(f), resolve(m));
          port.onMessage.addListener(f);
        });
      const connects = [];
      for (let i = 0; i < o.n; i++) {
        const t = performance.now();
        const port = api.runtime.connectNative("it.eidlink.host");
        await next(port);
        connects.push(performance.now() - t);
        port.disconnect();
      }
      const port = api.runtime.connectNative("it.eidlink.host");
      await next(port);
      const echoes = [];
      const msg = { command: "status", arguments: { origin: "https://www.inps.it" } };
      for (let i = 0; i <= o.echoes; i++) {
        const t = performance.now();
        const got = next(port);
        port.postMessage(msg);
        await got;
        if (i > 0) echoes.push(performance.now() - t);
      }
      port.disconnect();
      return { connects, echoes };
    },
    { n: N, echoes: 10 * N },
  );

  const m = {
    login: median(logins.map((l) => l.total)),
    shown: median(logins.map((l) => l.shown)),
    afterPin: median(logins.map((l) => l.afterPin)),
    status: median(statuses),
    echo: median(native.echoes),
    connect: median(native.connects),
    freshStatus: median(fresh.map((f) => f.status)),
    freshStatusMax: Math.max(...fresh.map((f) => f.status)),
    freshBadge: median(fresh.map((f) => f.badge)),
  };
  const line = (/** @type {string} */ what, /** @type {string} */ value) => console.log(`  ${what.padEnd(66)} ${value}`);
  const f = (/** @type {number} */ ms) => `${ms.toFixed(ms < 1 ? 3 : 1).padStart(8)} ms`;
  console.log(`\neidlink browser round trips (headless Chromium, virtual CIE on SoftHSM2; medians of ${N}, echo of ${10 * N})`);
  line("page -> token (authenticate, PIN typed into the PIN window)", f(m.login));
  line("  of which: click to PIN window shown", f(m.shown));
  line("  of which: PIN submitted to token in the page", f(m.afterPin));
  line("page -> web-eid:status -> page (host started each time)", f(m.status));
  line("native messaging echo round trip (service worker, port open)", f(m.echo));
  line("native messaging connect (host start to version message)", f(m.connect));
  line(`fresh profile: first web-eid:status (median of ${FRESH})`, f(m.freshStatus));
  line(`fresh profile: first web-eid:status (slowest of ${FRESH})`, f(m.freshStatusMax));
  line(`fresh profile: badge shown, from navigation start (median of ${FRESH})`, f(m.freshBadge));
  line("page -> token / native messaging echo", `${(m.login / m.echo).toFixed(0).padStart(8)}x`);
  line("PIN submitted to token / native messaging echo", `${(m.afterPin / m.echo).toFixed(0).padStart(8)}x`);
} catch (e) {
  console.error("bench: failed:", e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await s?.close();
  demo?.close();
  fs.rmSync(work, { recursive: true, force: true });
}
