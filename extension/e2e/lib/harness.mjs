// The end-to-end harness: virtual cards, browser profiles made by
// `eidlink dev-profile`, the demo relying party, and one small driver API
// over Playwright (Chromium) and Puppeteer (Firefox ESR), so the same tests
// run in both browsers. Every wait is on a condition with a deadline.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import puppeteer from "puppeteer-core";

export const extRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const repo = path.resolve(extRoot, "..");
export const bin = path.resolve(process.env.EIDLINK_BIN ?? path.join(repo, "bin"));
export const outDir = path.join(repo, "bin", "e2e");
const ids = JSON.parse(fs.readFileSync(path.join(extRoot, "ids.json"), "utf8"));

/** Firefox gives the add-on this moz-extension:// host (pref extensions.webextensions.uuids). */
export const FIREFOX_UUID = "e1d11a2c-0000-4000-8000-00000000e2e0";
/** The extension's own pages, by browser. */
export const extensionBase = { chromium: `chrome-extension://${ids.chrome}/`, firefox: `moz-extension://${FIREFOX_UUID}/` };

const WAIT = 15_000;

/** @param {number} ms */
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * until polls cond (every 50 ms) until it returns a truthy value, which it
 * returns, or throws after timeout ms.
 * @template T
 * @param {() => T|Promise<T>} cond
 * @param {string} what for the error
 * @param {number} [timeout]
 * @returns {Promise<T>}
 */
export async function until(cond, what, timeout = WAIT) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await delay(50);
  }
}

/** workdir makes a fresh temporary directory. @param {string} name */
export const workdir = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `eidlink-${name}-`));

/**
 * eidlink runs bin/eidlink and returns its stdout.
 * @param {...string} args
 */
export function eidlink(...args) {
  return eidlinkWith(process.env, ...args);
}

/**
 * eidlinkWith is eidlink with env as the whole environment.
 * @param {NodeJS.ProcessEnv} env
 * @param {...string} args
 */
export function eidlinkWith(env, ...args) {
  try {
    return execFileSync(path.join(bin, "eidlink"), args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new Error(`eidlink ${args.join(" ")}: ${/** @type {any} */ (e).stderr || e}`);
  }
}

/**
 * @typedef {{dir: string, kind: string, holder: string, codiceFiscale: string, pin?: string, caFile: string, module?: string}} Card
 *   module: the PKCS#11 module the service reaches it through, when not a SoftHSM2 card's own
 * @typedef {{browser: string, dir: string, host: string, scenario?: string, manifest: string, wrapper?: string,
 *   envFile?: string, log?: string, serviceEnv?: Record<string, string>, card?: Card, extension: string,
 *   launch: {executable: string, args: string[], env?: Record<string, string>}}} Profile
 */

/**
 * testcard makes a SoftHSM2 virtual card with `eidlink testcard init`.
 * @param {string} dir
 * @param {{type?: string, pin: string, givenName?: string, surname?: string, cf?: string, key?: string}} o
 *   key: rsa2048 (the default), p256 or p384
 * @returns {Card}
 */
export function testcard(dir, o) {
  const args = ["testcard", "init", "--dir", dir, "--type", o.type ?? "cie", "--pin", o.pin];
  if (o.key) args.push("--key", o.key);
  if (o.givenName) args.push("--given-name", o.givenName, "--surname", o.surname ?? "", "--cf", o.cf ?? "");
  eidlink(...args);
  const c = JSON.parse(fs.readFileSync(path.join(dir, "card.json"), "utf8"));
  return { dir, kind: c.type, holder: c.holder, codiceFiscale: c.codiceFiscale, pin: o.pin, caFile: c.caFile };
}

/**
 * devProfile prepares (or switches) a profile with `eidlink dev-profile`.
 * @param {string} browser chromium or firefox
 * @param {string} dir
 * @param {{host: "mock"|"real"|"none", scenario?: string, cardDir?: string, card?: string}} o
 * @returns {Profile}
 */
export function devProfile(browser, dir, o) {
  const args = ["dev-profile", "--json", "--browser", browser, "--dir", dir, "--host", o.host];
  if (o.scenario) args.push("--scenario", o.scenario);
  if (o.cardDir) args.push("--card-dir", o.cardDir);
  if (o.card) args.push("--card", o.card);
  return JSON.parse(eidlink(...args));
}

/**
 * startDemo starts the demo relying party on a free port, trusting the
 * given card CAs.
 * @param {string[]} caFiles
 * @returns {Promise<{origin: string, close: () => void}>}
 */
export async function startDemo(caFiles) {
  const proc = spawn(path.join(bin, "eidlink-demo"), [...caFiles.flatMap((f) => ["--ca", f]), "--addr", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const origin = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the demo site did not start: " + log)), WAIT);
    const on = (/** @type {Buffer} */ d) => {
      log += d;
      const m = /serving (\S+)/.exec(log);
      if (m) (clearTimeout(timer), resolve(m[1]));
    };
    proc.stdout.on("data", on);
    proc.stderr.on("data", on);
    proc.on("exit", (code) => reject(new Error(`the demo site exited (${code}): ${log}`)));
  });
  return { origin, close: () => proc.kill() };
}

/**
 * The TLS client-certificate replicas (internal/tlsreplica): entry pages
 * under the real host names, which the browser maps to 127.0.0.1.
 * @typedef {{idp: string, idpTls13: string, inps: string, ports: number[]}} Replicas
 */

/** The replica hosts, and the browser flag or pref that maps them to 127.0.0.1. */
export const REPLICA_HOSTS = ["idserver.servizicie.interno.gov.it", "www.inps.it"];

/**
 * startReplicas starts `eidlink-demo --tls-replicas` trusting the given
 * card CAs; serverCA is the PEM file of its server CA. byKind: the CAs
 * trusted by one site only, the identity provider (cie) or INPS (cns).
 * @param {string[]} caFiles
 * @param {string} serverCA
 * @param {{cie?: string[], cns?: string[]}} [byKind]
 * @returns {Promise<{sites: Replicas, close: () => void, log: () => string}>}
 */
export async function startReplicas(caFiles, serverCA, byKind = {}) {
  const cas = [...caFiles.flatMap((f) => ["--ca", f]), ...(byKind.cie ?? []).flatMap((f) => ["--cie-ca", f]), ...(byKind.cns ?? []).flatMap((f) => ["--cns-ca", f])];
  const proc = spawn(path.join(bin, "eidlink-demo"), ["--tls-replicas", ...cas, "--cert-out", serverCA], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (/** @type {Buffer} */ d) => (log += d));
  proc.stderr.on("data", (/** @type {Buffer} */ d) => (log += d));
  let exited = false;
  proc.on("exit", () => (exited = true));
  const found = until(() => /tls replicas (\{.*\})/.exec(log) ?? (exited ? "exited" : null), "the TLS replicas to start");
  const m = /** @type {RegExpExecArray|string} */ (await found.catch((e) => (proc.kill(), Promise.reject(e))));
  if (typeof m === "string") throw new Error(`eidlink-demo --tls-replicas exited: ${log}`);
  return { sites: JSON.parse(m[1]), close: () => proc.kill(), log: () => log };
}

/**
 * lockReaders waits (at most timeout ms) for the lock through which test
 * processes take turns with vpcd's virtual readers on the shared pcscd
 * (internal/virtualcard/virtualcardtest), and returns its release. Held, no
 * other test inserts or removes a virtual card, so the service sees no
 * reader event it did not cause.
 * @param {number} [timeout]
 * @returns {Promise<() => void>}
 */
export async function lockReaders(timeout = 120_000) {
  const proc = spawn("flock", ["-x", path.join(os.tmpdir(), "eidlink-vpcd-tests.lock"), "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  proc.stdout.on("data", (/** @type {Buffer} */ d) => (out += d));
  await until(() => out.includes("locked"), "the vpcd readers' lock", timeout).catch((e) => (proc.kill(), Promise.reject(e)));
  return () => proc.stdin.end();
}

/** OpenSC's PKCS#11 module, the card software of a CNS in a vpcd reader. */
export const OPENSC_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";

/**
 * vpcdCard plays a virtual card of type (eidlink-vcard, "cns-cardos") in
 * vpcd's first reader, its certificates in dir, and waits until pcscd shows
 * it. The caller holds lockReaders(). stop() takes it out, and waits until
 * pcscd sees the reader empty; remove() and insert() take it out and put
 * it back, as a holder does (its --control socket), each waiting for pcscd.
 * @param {string} dir
 * @param {{type: string, pin: string, givenName?: string, surname?: string, cf?: string}} o
 * @returns {Promise<{card: Card, stop: () => Promise<void>, remove: () => Promise<void>, insert: () => Promise<void>}>}
 */
export async function vpcdCard(dir, o) {
  const caFile = path.join(dir, "ca.pem");
  const control = path.join(dir, "control.sock");
  const args = ["--type", o.type, "--vpcd", "127.0.0.1:35963", "--pin", o.pin, "--cert-dir", dir, "--ca-out", caFile, "--control", control];
  if (o.givenName) args.push("--given-name", o.givenName, "--surname", o.surname ?? "", "--cf", o.cf ?? "");
  const proc = spawn(path.join(bin, "eidlink-vcard"), args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  let exited = false;
  proc.stderr.on("data", (/** @type {Buffer} */ d) => (log += d));
  const gone = new Promise((resolve) => proc.on("exit", () => ((exited = true), resolve(undefined))));
  const readerShows = () => /^0\s+Yes\s/m.test(execFileSync("opensc-tool", ["--list-readers"], { encoding: "utf8" }));
  // stop takes the card out and waits until pcscd sees the reader empty: the next test finds it so.
  const stop = async () => {
    if (!exited) proc.kill("SIGTERM");
    await gone;
    await until(() => !readerShows(), "vpcd's reader 0 to be empty");
  };
  try {
    await until(() => exited || (/virtual card ready/.test(log) && readerShows()), "the virtual card in vpcd's reader 0");
    if (exited) throw new Error(`eidlink-vcard exited: ${log}`);
  } catch (e) {
    await stop();
    throw e;
  }
  const m = /holder=(\S+)/.exec(log);
  const card = { dir, kind: o.type.split("-")[0], holder: `${o.givenName ?? "MARIO"} ${o.surname ?? "ROSSI"}`, codiceFiscale: m?.[1] ?? "", pin: o.pin, caFile, module: OPENSC_MODULE };
  /** tell writes one line to the control socket and waits for pcscd to see the card in or out. @param {"insert"|"remove"} line */
  const tell = async (line) => {
    const answer = await new Promise((resolve, reject) => {
      let got = "";
      const c = net.createConnection(control, () => c.write(line + "\n"));
      c.setTimeout(WAIT, () => c.destroy(new Error(`eidlink-vcard's control socket did not answer ${line}`)));
      c.on("data", (/** @type {Buffer} */ d) => (got += d) && got.includes("\n") && (c.end(), resolve(got.trim())));
      c.on("error", reject);
    });
    if (!/^ok /.test(answer)) throw new Error(`eidlink-vcard ${line}: ${answer}`);
    await until(() => readerShows() === (line === "insert"), `vpcd's reader 0 to ${line === "insert" ? "show" : "lose"} the card`);
  };
  return { card, stop, remove: () => tell("remove"), insert: () => tell("insert") };
}

/**
 * serveStatic serves the files of dir over http on a free loopback port
 * (the site helper's replicas: e2e/replicas). Unknown paths get 404.
 * @param {string} dir
 * @returns {Promise<{origin: string, close: () => void}>}
 */
export async function serveStatic(dir) {
  const types = /** @type {Record<string, string>} */ ({ ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8" });
  const server = http.createServer((req, res) => {
    const file = path.join(dir, path.normalize(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname)));
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "Content-Type": types[path.extname(file)] ?? "application/octet-stream", "Cache-Control": "no-store" });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", () => resolve(undefined)));
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  return { origin: `http://127.0.0.1:${port}`, close: () => (server.closeAllConnections(), server.close()) };
}

const locales = Object.fromEntries(
  ["it", "en"].map((l) => [l, JSON.parse(fs.readFileSync(path.join(extRoot, "_locales", l, "messages.json"), "utf8"))]),
);

/**
 * text is the extension's message for key in lang, as the user reads it.
 * @param {string} key
 * @param {string} [lang]
 */
export function text(key, lang = "it") {
  const m = locales[lang][key];
  if (!m) throw new Error(`no message ${key}`);
  return m.message;
}

/** errorText is the message a page gets for an error code. @param {string} code @param {string} [lang] */
export const errorText = (code, lang) => text("err_" + code.replace(/^ERR_(WEBEID|EIDLINK)_/, "$1_"), lang);

/**
 * The driver API: a page of either browser.
 */
export class Page {
  /**
   * @param {any} raw a Playwright or Puppeteer page
   * @param {"chromium"|"firefox"} kind
   */
  constructor(raw, kind) {
    this.raw = raw;
    this.kind = kind;
  }
  /** @param {string} url */
  async goto(url) {
    await this.raw.goto(url, { waitUntil: "load" });
  }
  /**
   * click clicks sel. Like press, a click that ends the page (Cancel in the
   * PIN window) may close it while the click is dispatched.
   * @param {string} sel
   */
  async click(sel) {
    try {
      await this.raw.click(sel);
    } catch (e) {
      if (!(await this.closed())) throw e;
    }
  }
  /**
   * @template A, R
   * @param {(arg: A) => R} fn
   * @param {A} [arg]
   * @returns {Promise<Awaited<R>>}
   */
  evaluate(fn, arg) {
    return this.raw.evaluate(fn, arg);
  }
  /**
   * waitFunction waits until fn(arg) is truthy in the page.
   * @template A
   * @param {(arg: A) => unknown} fn
   * @param {A} [arg]
   * @param {number} [timeout]
   */
  async waitFunction(fn, arg, timeout = WAIT) {
    if (this.kind === "chromium") await this.raw.waitForFunction(fn, arg, { timeout });
    else await this.raw.waitForFunction(fn, { timeout, polling: 50 }, arg);
  }
  /** waitFor waits until sel matches an element. @param {string} sel @param {number} [timeout] */
  async waitFor(sel, timeout = WAIT) {
    try {
      await this.waitFunction((s) => !!document.querySelector(s), sel, timeout);
    } catch (e) {
      throw new Error(`${sel} did not appear on ${await this.url()}: ${/** @type {Error} */ (e).message.split("\n")[0]}`);
    }
  }
  /** @param {string} sel */
  text(sel) {
    return this.evaluate((s) => document.querySelector(s)?.textContent ?? null, sel);
  }
  /** @param {string} sel @param {string} name */
  attr(sel, name) {
    return this.evaluate(([s, n]) => document.querySelector(s)?.getAttribute(n) ?? null, [sel, name]);
  }
  /** visible: the element exists and nothing hides it. @param {string} sel */
  visible(sel) {
    return this.evaluate((s) => {
      const el = /** @type {HTMLElement|null} */ (document.querySelector(s));
      return !!el && !el.closest("[hidden]") && el.getClientRects().length > 0;
    }, sel);
  }
  /** type types value into the input sel (cleared first). @param {string} sel @param {string} value */
  async type(sel, value) {
    if (this.kind === "chromium") return this.raw.fill(sel, value);
    await this.raw.$eval(sel, (/** @type {HTMLInputElement} */ el) => (el.value = ""));
    await this.raw.type(sel, value);
  }
  /**
   * press presses key. A key that ends the page (Enter in the PIN window
   * closes it when the login succeeds) may close it before the key is up.
   * @param {string} key
   */
  async press(key) {
    try {
      await this.raw.keyboard.press(key);
    } catch (e) {
      if (!(await this.closed())) throw e;
    }
  }
  /** @param {string} file */
  async screenshot(file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await this.raw.screenshot({ path: file });
  }
  /** @param {number} width @param {number} height */
  size(width, height) {
    return this.kind === "chromium" ? this.raw.setViewportSize({ width, height }) : this.raw.setViewport({ width, height });
  }
  /** url is the page's location (Firefox's popups keep reporting about:blank otherwise). */
  url() {
    return this.evaluate(() => location.href).catch(() => this.raw.url());
  }
  /**
   * closed tells whether the page is gone. Puppeteer keeps Firefox's
   * popups closed by the extension open; their frame is gone though.
   */
  async closed() {
    if (this.raw.isClosed()) return true;
    if (this.kind === "chromium") return false;
    return this.raw.evaluate(() => false).catch((/** @type {unknown} */ e) => /no such frame|closed|detached/i.test(String(e)));
  }
  isClosed() {
    return this.raw.isClosed();
  }
  close() {
    return this.isClosed() ? undefined : this.raw.close();
  }
}

/**
 * A browser with the extension loaded on a dev profile.
 */
export class Session {
  /** @type {"chromium"|"firefox"} */
  kind = "chromium";
  /** @type {Profile} */
  profile = /** @type {any} */ (null);
  /** the extension's base URL */
  base = "";
  /** @type {import("playwright-core").BrowserContext} Chromium */
  ctx = /** @type {any} */ (null);
  /** @type {import("playwright-core").Worker} Chromium: the extension's service worker */
  worker = /** @type {any} */ (null);
  /** @type {import("puppeteer-core").Browser} Firefox */
  browser = /** @type {any} */ (null);
  /** @type {{url: string, text: string}[]} console errors from extension code */
  extensionErrors = [];
  /** @type {string[]} every console line and page error, of every page (PIN checks) */
  consoleLog = [];
  /** @type {Set<any>} raw pages seen, to find new windows */
  known = new Set();

  /**
   * launch starts the profile's browser, in Italian unless o.lang says.
   * @param {Profile} profile
   * @param {{headless?: boolean, lang?: string, env?: Record<string, string>, prefs?: Record<string, unknown>, userDataDir?: string}} [o] env: the browser's
   *   (and so the host's) environment; prefs: more Firefox preferences; userDataDir: Firefox's profile
   *   directory, kept (Puppeteer writes its preferences into user.js and puts prefs.js back at close),
   *   else a throwaway one
   */
  static async launch(profile, o = {}) {
    const s = new Session();
    s.kind = /** @type {"chromium"|"firefox"} */ (profile.browser);
    s.profile = profile;
    s.base = extensionBase[s.kind];
    const headless = o.headless ?? true;
    const lang = o.lang ?? "it-IT";
    if (s.kind === "chromium") {
      s.ctx = await chromium.launchPersistentContext(profile.dir, {
        executablePath: fs.existsSync("/usr/lib/chromium/chromium") ? "/usr/lib/chromium/chromium" : profile.launch.executable,
        headless,
        ignoreHTTPSErrors: true,
        locale: lang,
        ...(o.env && { env: o.env }),
        args: [...profile.launch.args, `--lang=${lang}`, "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
      s.ctx.on("console", (/** @type {any} */ m) => s.onConsole(m.type(), m.text(), m.location()?.url ?? m.page()?.url() ?? ""));
      s.ctx.on("weberror", (/** @type {any} */ e) => s.onConsole("error", String(e.error()), e.page()?.url() ?? ""));
      s.worker = s.ctx.serviceWorkers().find((/** @type {any} */ w) => w.url().startsWith(s.base)) ?? (await s.ctx.waitForEvent("serviceworker", { predicate: (/** @type {any} */ w) => w.url().startsWith(s.base), timeout: WAIT }));
      s.worker.on("console", (/** @type {any} */ m) => s.onConsole(m.type(), m.text(), s.worker.url()));
    } else {
      s.browser = await puppeteer.launch({
        browser: "firefox",
        executablePath: profile.launch.executable,
        headless,
        acceptInsecureCerts: true,
        ...(o.userDataDir && { userDataDir: o.userDataDir }),
        env: { ...(o.env ?? process.env), ...profile.launch.env },
        extraPrefsFirefox: {
          "extensions.webextensions.uuids": JSON.stringify({ [ids.firefox]: FIREFOX_UUID }),
          "intl.accept_languages": `${lang},${lang.slice(0, 2)}`,
          "intl.locale.requested": lang,
          "devtools.console.stdout.content": true, // pages' and the extension's console on stdout
          "services.settings.server": "data:,#remote-settings-dummy/v1", // no network here
          "extensions.webextOptionalPermissionPrompts": false, // optional permissions granted without a doorhanger
          ...o.prefs,
        },
      });
      // Puppeteer does not see the console of extension pages; Firefox
      // prints the console of every page on its stdout.
      const proc = s.browser.process();
      for (const stream of [proc?.stdout, proc?.stderr]) {
        let rest = "";
        stream?.on("data", (/** @type {Buffer} */ d) => {
          const lines = (rest + d).split("\n");
          rest = lines.pop() ?? "";
          for (const l of lines) s.onFirefoxOutput(l);
        });
      }
      await s.browser.installExtension(profile.extension);
      s.browser.on("targetcreated", async (/** @type {any} */ t) => {
        const p = await t.page().catch(() => null);
        if (p) s.watch(p);
      });
    }
    return s;
  }

  /**
   * @param {string} type
   * @param {string} txt
   * @param {string} url where it came from
   */
  onConsole(type, txt, url) {
    this.consoleLog.push(`${type} ${url} ${txt}`);
    if (type === "error" && /^(chrome|moz)-extension:/.test(url)) this.extensionErrors.push({ url, text: txt });
  }

  /**
   * onFirefoxOutput takes a line of Firefox's output: console lines of every
   * page ("console.error: ...") and script errors ("JavaScript error: URL, line N: ...").
   * @param {string} line
   */
  onFirefoxOutput(line) {
    this.consoleLog.push(line);
    // Firefox's own noise: the remote agent driving it (when windows close)
    // and Remote Settings (no network here).
    const automation = /chrome:\/\/remote\/|JSWindowActorChild|RSLoader|remote-settings/.test(line);
    if (!automation && (/^console\.error: /.test(line) || /^JavaScript error: moz-extension:/.test(line))) this.extensionErrors.push({ url: "firefox output", text: line });
  }

  /** watch collects a Firefox page's console. @param {any} p */
  watch(p) {
    if (this.known.has(p)) return;
    this.known.add(p);
    p.on("console", (/** @type {any} */ m) => this.onConsole(m.type(), m.text(), m.location()?.url || p.url()));
    p.on("pageerror", (/** @type {any} */ e) => this.onConsole("error", String(e), p.url()));
  }

  /** @type {Page[]} pages opened by newPage */
  pages = [];

  async newPage() {
    const raw = this.kind === "chromium" ? await this.ctx.newPage() : await this.browser.newPage();
    if (this.kind === "firefox") this.watch(raw);
    this.known.add(raw);
    const p = new Page(raw, this.kind);
    await p.size(1000, 760);
    this.pages.push(p);
    return p;
  }

  /** closePages closes every page newPage opened (after a failed test). */
  async closePages() {
    await Promise.all(this.pages.map((p) => p.close()?.catch(() => {})));
    this.pages = [];
  }

  /**
   * window runs trigger and returns the extension page it opens whose
   * location contains part (the PIN window: "pin/pin.html").
   * @param {() => Promise<unknown>} trigger
   * @param {string} [part]
   */
  async window(trigger, part = "pin/pin.html") {
    if (this.kind === "chromium") {
      const opened = this.ctx.waitForEvent("page", { predicate: (/** @type {any} */ p) => p.url().includes(part), timeout: WAIT });
      await trigger();
      return new Page(await opened, this.kind);
    }
    const before = new Set(await this.browser.pages());
    await trigger();
    const raw = await until(async () => {
      for (const p of await this.browser.pages()) {
        if (before.has(p)) continue;
        this.watch(p);
        if ((await p.evaluate(() => location.href).catch(() => "")).includes(part)) return p;
      }
      return null;
    }, `a window with ${part}`);
    return new Page(raw, this.kind);
  }

  /**
   * pinWindow is window() for the PIN window, once it shows a request.
   * @param {() => Promise<unknown>} trigger
   */
  async pinWindow(trigger) {
    const pin = await this.window(trigger);
    await pin.waitFunction(() => document.body?.dataset.state && document.body.dataset.state !== "loading");
    return pin;
  }

  /**
   * extensionPage opens one of the extension's pages (popup/popup.html).
   * Firefox forbids navigating a tab there from outside, so the page is
   * opened from an extension page: from opener (a PIN window) if given.
   * @param {string} file
   * @param {Page} [opener]
   */
  async extensionPage(file, opener) {
    if (this.kind === "chromium") {
      const p = await this.newPage();
      await p.goto(this.base + file);
      return p;
    }
    if (!opener) throw new Error("Firefox: extensionPage needs an extension page to open it from");
    return this.window(() => opener.evaluate((f) => /** @type {any} */ (globalThis).browser.tabs.create({ url: "/" + f }).then(() => {}), file), file);
  }

  /**
   * storage returns everything the extension stored (local and session).
   * @param {Page} [extPage] Firefox: an extension page to read it from
   */
  async storage(extPage) {
    const read = async () => {
      const api = /** @type {any} */ (globalThis).browser ?? /** @type {any} */ (globalThis).chrome;
      return { local: await api.storage.local.get(null), session: api.storage.session ? await api.storage.session.get(null) : {} };
    };
    if (this.kind === "chromium") return this.worker.evaluate(read);
    if (!extPage) throw new Error("Firefox: storage needs an extension page");
    return extPage.evaluate(read);
  }

  async close() {
    await (this.kind === "chromium" ? this.ctx.close() : this.browser.close()).catch(() => {});
    stopService(this.profile);
  }
}

/**
 * stopService stops the service the profile's host started, if one runs:
 * each test leaves no process behind.
 * @param {Profile} profile
 */
export function stopService(profile) {
  if (profile?.serviceEnv) eidlinkWith({ ...process.env, ...profile.serviceEnv }, "service", "stop");
}

/**
 * serviceLog is what the service the profile's host started logged.
 * @param {Profile} profile
 */
export const serviceLog = (profile) => {
  const f = profile.serviceEnv ? path.join(profile.serviceEnv.EIDLINK_RUNTIME_DIR, "service.log") : "";
  return f && fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
};

/**
 * hostLog is what the profile's host wrote on stderr.
 * @param {Profile} profile
 */
export const hostLog = (profile) => (profile.log && fs.existsSync(profile.log) ? fs.readFileSync(profile.log, "utf8") : "");

/**
 * hostEnv is the environment the profile's host gets (its host.env).
 * @param {Profile} profile
 * @returns {Record<string, string>}
 */
export function hostEnv(profile) {
  const env = /** @type {Record<string, string>} */ ({});
  for (const line of fs.readFileSync(/** @type {string} */ (profile.envFile), "utf8").split("\n")) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2].startsWith("'") ? m[2].slice(1, -1).replaceAll("'\\''", "'") : m[2];
  }
  return env;
}

/**
 * setHostEnv replaces the profile's host.env (read at every host start).
 * @param {Profile} profile
 * @param {Record<string, string>} env
 */
export function setHostEnv(profile, env) {
  const quote = (/** @type {string} */ v) => "'" + v.replaceAll("'", "'\\''") + "'";
  fs.writeFileSync(/** @type {string} */ (profile.envFile), Object.entries(env).map(([k, v]) => `${k}=${quote(v)}\n`).join(""), { mode: 0o600 });
}

/**
 * startService runs `eidlink service run` with env (and no other) and
 * waits until it listens.
 * @param {Record<string, string>} env
 * @returns {Promise<{endpoint: string, log: () => string, stop: () => Promise<void>}>}
 */
export async function startService(env) {
  const proc = spawn(path.join(bin, "eidlink"), ["service", "run"], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  let exited = false;
  proc.stderr.on("data", (/** @type {Buffer} */ d) => (log += d));
  const gone = new Promise((resolve) => proc.on("exit", () => ((exited = true), resolve(undefined))));
  const m = await until(() => /service listening on (\S+)/.exec(log) ?? (exited ? "exited" : null), "eidlink service run to listen").catch((e) => (proc.kill(), Promise.reject(e)));
  if (!m || typeof m === "string") throw new Error(`eidlink service run exited: ${log}`);
  return {
    endpoint: m[1],
    log: () => log,
    stop: async () => {
      if (!exited) proc.kill("SIGTERM");
      await gone;
    },
  };
}

/**
 * tree lists every path under root with its type and mode ("d755 a/b").
 * @param {string} root
 */
export function tree(root) {
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .map((e) => {
      const p = path.join(e.parentPath, e.name);
      const st = fs.lstatSync(p);
      return `${e.isDirectory() ? "d" : e.isSymbolicLink() ? "l" : "f"}${(st.mode & 0o777).toString(8)} ${path.relative(root, p)}`;
    })
    .sort();
}
