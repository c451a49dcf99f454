// The TLS-login rig shared by tls.test.mjs and demo-tls.mjs: SoftHSM2
// cards, the replicas of internal/tlsreplica under the real host names,
// `eidlink service run` with one card behind eidlink's PKCS#11 module,
// `eidlink install --user` in a fresh HOME, and a browser that maps the
// replica hosts to 127.0.0.1. Chromium gets the AutoSelectCertificateForUrls
// file that `eidlink install --system --parts policies` writes, as
// /etc/chromium/policies/managed/eidlink-e2e-PID.json, removed by close()
// (so Chromium needs root: Chromium on Linux reads no user policies).
// Firefox runs as a user's does: on the profile its first start made in the
// fresh HOME, where `eidlink install --user --firefox-cert` wrote the cards'
// certificates as remembered choices for the site profiles' hosts only;
// no global automatic choice (security.default_personal_cert keeps "Ask
// Every Time"), so any other host would get the certificate chooser.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPLICA_HOSTS, Session, bin, devProfile, eidlinkWith, hostEnv, lockReaders, setHostEnv, startReplicas, startService, testcard, vpcdCard } from "./harness.mjs";

/** @typedef {import("./harness.mjs").Card} Card */
/** @typedef {import("./harness.mjs").Page} Page */

/** LOGIN_WAIT bounds a login: the click to the welcome page. */
export const LOGIN_WAIT = 30_000;

/**
 * welcome waits for the MyINPS replica's greeting and returns what it says.
 * @param {Page} page
 */
export async function welcome(page) {
  try {
    await page.waitFor("#welcome", LOGIN_WAIT);
  } catch (e) {
    throw new Error(`no welcome page: at ${await page.url()}: ${/** @type {Error} */ (e).message}`);
  }
  const d = (/** @type {string} */ a) => page.attr("#details", a);
  return { text: await page.text("#welcome"), kind: await d("data-kind"), tls: await d("data-tls"), site: await d("data-site") };
}

/**
 * firefoxFirstRun starts Firefox once in env's HOME, as a user does before
 * installing eidlink, and returns the profile that start made and uses
 * (installs.ini): under ~/.mozilla/firefox, or $XDG_CONFIG_HOME/mozilla/firefox
 * when that does not exist (Firefox 147 and later).
 * @param {string} exe
 * @param {Record<string, string>} env
 * @param {string} work a scratch directory
 */
function firefoxFirstRun(exe, env, work) {
  execFileSync(exe, ["--headless", "--screenshot", path.join(work, "first-run.png"), "about:blank"], { env, stdio: "ignore", timeout: 60_000 });
  for (const root of [path.join(env.HOME, ".mozilla/firefox"), path.join(env.XDG_CONFIG_HOME, "mozilla/firefox")]) {
    const ini = path.join(root, "installs.ini");
    const m = fs.existsSync(ini) && /^Default=(.+)$/m.exec(fs.readFileSync(ini, "utf8"));
    if (m) return path.join(root, m[1]);
  }
  throw new Error(`Firefox's first start made no profile in ${env.HOME}`);
}

/**
 * cardCert is the file of card's authentication certificate, as a user
 * exports it for `eidlink install --firefox-cert`: read from a SoftHSM2
 * card with pkcs11-tool into out, or eidlink-vcard's own cert.pem.
 * @param {Card} card
 * @param {string} out
 */
function cardCert(card, out) {
  if (card.module) return path.join(card.dir, "cert.pem");
  const c = JSON.parse(fs.readFileSync(path.join(card.dir, "card.json"), "utf8"));
  execFileSync("pkcs11-tool", ["--module", c.module, "--read-object", "--type", "cert", "--id", "01", "--output-file", out], { env: { ...process.env, SOFTHSM2_CONF: c.softhsm2Conf }, stdio: "ignore" });
  return out;
}

export class TlsRig {
  /**
   * @param {"chromium"|"firefox"} kind
   * @param {string} work a fresh directory, removed by close()
   */
  constructor(kind, work) {
    this.kind = kind;
    this.work = work;
    this.home = path.join(work, "home");
    this.dir = kind === "chromium" ? path.join(this.home, "chromium") : this.home;
    /** @type {Record<string, Card>} */
    this.cards = {};
    /** @type {import("./harness.mjs").Profile} */
    this.profile = /** @type {any} */ (null);
    /** @type {Record<string, string>} the browser's, the host's and the service's environment */
    this.env = {};
    /** @type {Awaited<ReturnType<typeof startReplicas>>|null} */
    this.replicas = null;
    /** @type {Awaited<ReturnType<typeof startService>>|null} */
    this.svc = null;
    /** @type {Session|null} */
    this.session = null;
    this.policyFile = "";
    this.release = () => {};
    /** @type {Awaited<ReturnType<typeof vpcdCard>>[]} the vpcd cards: remove(), insert(), stop() */
    this.vcards = [];
    /** @type {string[]} JavaScript dialogs of any page open()ed */
    this.dialogs = [];
    /** Firefox: eidlink's module loaded in this browser */
    this.moduleLoaded = false;
    /** Firefox: the profile directory its first start made */
    this.firefoxProfile = "";
  }

  /** the browser launch() started */
  get s() {
    if (!this.session) throw new Error("no browser: call launch() first");
    return this.session;
  }

  /** the replicas' addresses */
  get sites() {
    return /** @type {NonNullable<TlsRig["replicas"]>} */ (this.replicas).sites;
  }

  /**
   * start makes the cards (the first is put behind the service), starts
   * the replicas trusting them and installs eidlink. It holds the vpcd
   * readers' lock until close(): a card or reader event on the shared
   * pcscd, whatever the reader, ends an unlock (tlsauth).
   * A spec with vpcd is a virtual card of that type (eidlink-vcard,
   * "cns-cardos") in vpcd's first reader, which the service reaches
   * through OpenSC; the others are SoftHSM2 cards, key their key type.
   * @param {Record<string, {type: string, pin: string, givenName?: string, surname?: string, cf?: string, key?: string, vpcd?: string}>} specs
   * @param {number} [lockWait] ms
   * @param {{byKind?: boolean}} [opts] byKind: each replica trusts its own kind of card only,
   *   as the real sites do (the identity provider CIEs, INPS CNSs), so that a browser
   *   with both cards offers each site its own
   */
  async start(specs, lockWait = 600_000, opts = {}) {
    if (this.kind === "chromium" && process.getuid?.() !== 0) throw new Error("TLS logins in Chromium need root: the certificate auto-selection policy lives in /etc/chromium/policies/managed");
    this.release = await lockReaders(lockWait);
    fs.mkdirSync(this.dir, { recursive: true });
    fs.mkdirSync(path.join(this.work, "run"), { mode: 0o700 });
    for (const [name, o] of Object.entries(specs)) {
      const dir = path.join(this.work, name);
      if (!o.vpcd) {
        this.cards[name] = testcard(dir, o);
        continue;
      }
      if (this.vcards.length) throw new Error("one vpcd card at a time: it takes vpcd's first reader");
      const v = await vpcdCard(dir, { ...o, type: o.vpcd });
      this.vcards.push(v);
      this.cards[name] = v.card;
    }
    const serverCA = path.join(this.work, "server-ca.pem");
    const cards = Object.values(this.cards);
    const ofKind = (/** @type {string} */ k) => cards.filter((c) => c.kind === k).map((c) => c.caFile);
    this.replicas = opts.byKind ? await startReplicas([], serverCA, { cie: ofKind("cie"), cns: ofKind("cns") }) : await startReplicas(cards.map((c) => c.caFile), serverCA);
    await this.useCard(Object.values(this.cards)[0]);
    if (this.kind === "chromium") {
      // The certificate database Chromium creates on its first start, with the replicas' server CA trusted.
      const nssdb = "sql:" + path.join(this.home, ".pki/nssdb");
      fs.mkdirSync(path.join(this.home, ".pki/nssdb"), { recursive: true });
      execFileSync("certutil", ["-N", "-d", nssdb, "--empty-password"]);
      execFileSync("certutil", ["-A", "-d", nssdb, "-n", "eidlink TLS replica CA", "-t", "C,,", "-i", serverCA]);
      eidlinkWith(this.env, "install", "--user", "--user-data-dir", this.dir);
      const root = path.join(this.work, "root");
      eidlinkWith(this.env, "install", "--system", "--parts", "policies", "--browsers", "chromium", "--root", root);
      this.policyFile = `/etc/chromium/policies/managed/eidlink-e2e-${process.pid}.json`;
      fs.mkdirSync(path.dirname(this.policyFile), { recursive: true });
      fs.copyFileSync(path.join(root, "etc/chromium/policies/managed/eidlink.json"), this.policyFile);
    } else {
      this.firefoxProfile = firefoxFirstRun(this.profile.launch.executable, this.env, this.work);
      const certs = Object.entries(this.cards).map(([name, c]) => cardCert(c, path.join(this.work, `${name}-cert.der`)));
      eidlinkWith(this.env, "install", "--user", ...certs.flatMap((f) => ["--firefox-cert", f]));
    }
  }

  /**
   * useCard (re)starts the service with cards behind it, as the browser's
   * module and host see them: at most one SoftHSM2 card (each has its own
   * SOFTHSM2_CONF), and vpcd cards through their module.
   * @param {...Card} cards
   */
  async useCard(...cards) {
    await this.stopService();
    const softhsm = cards.filter((c) => !c.module);
    if (softhsm.length > 1) throw new Error("one SoftHSM2 card at a time behind the service");
    // The profile's own card, for the profile's environment; without one, any SoftHSM2 card of the rig.
    const own = softhsm[0] ?? Object.values(this.cards).find((c) => !c.module);
    this.profile = devProfile(this.kind, this.dir, { host: "real", cardDir: own?.dir ?? path.join(this.work, "profile-card") });
    const e = hostEnv(this.profile);
    delete e.EIDLINK_CONFIG_DIR; // the service of XDG_RUNTIME_DIR below, not the profile's own
    delete e.EIDLINK_RUNTIME_DIR;
    e.EIDLINK_PKCS11_MODULE = cards.map((c) => c.module ?? e.EIDLINK_PKCS11_MODULE).join(":");
    if (!softhsm.length) e.SOFTHSM2_CONF = path.join(this.work, "no-softhsm2.conf");
    this.env = { ...e, PATH: process.env.PATH ?? "", HOME: this.home, XDG_RUNTIME_DIR: path.join(this.work, "run"), XDG_CONFIG_HOME: path.join(this.work, "config") };
    this.svc = await startService({ ...this.env, EIDLINK_LOG: "debug" }); // its log goes with a failure
    setHostEnv(this.profile, this.env);
  }

  /**
   * launch (re)starts the browser on the profile, the replica hosts mapped to 127.0.0.1.
   * @param {{headless?: boolean}} [o]
   */
  async launch(o = {}) {
    await this.session?.close();
    this.moduleLoaded = false;
    if (this.kind === "chromium") {
      const rules = `--host-resolver-rules=${REPLICA_HOSTS.map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`;
      this.session = await Session.launch({ ...this.profile, launch: { ...this.profile.launch, args: [...this.profile.launch.args, rules] } }, { ...o, env: this.env });
    } else {
      this.session = await Session.launch(this.profile, { ...o, env: this.env, userDataDir: this.firefoxProfile, prefs: { "network.dns.forceResolve": "127.0.0.1" } });
    }
    return this.session;
  }

  /** open opens url in a new tab whose JavaScript dialogs fail check(). @param {string} url */
  async open(url) {
    const page = await this.s.newPage();
    page.raw.on("dialog", (/** @type {any} */ d) => (this.dialogs.push(`${d.type()}: ${d.message()}`), d.dismiss().catch(() => {})));
    await page.goto(url);
    return page;
  }

  /**
   * check makes a test body that asserts no browser dialog came and, on
   * failure, adds what the service and the replicas logged; it closes
   * the pages afterwards.
   * @param {() => Promise<void>} body
   */
  check(body) {
    return async () => {
      try {
        await body();
        assert.deepEqual(this.dialogs, [], "no browser dialog");
      } catch (e) {
        const err = /** @type {Error} */ (e);
        err.message += "\n" + this.log();
        throw err;
      } finally {
        await this.session?.closePages();
      }
    };
  }

  /**
   * pinFor clicks sel on the page (the user's click) and returns the PIN
   * window it opens; in Firefox, the first time after launch(), eidlink's
   * module is loaded meanwhile with the popup's button, as a user does once.
   * @param {Page} p
   * @param {string} sel
   */
  async pinFor(p, sel) {
    await p.waitFor('#eidlink-status[data-eidlink-state="ready"]');
    const pin = await this.s.pinWindow(() => p.click(sel));
    if (this.kind === "firefox" && !this.moduleLoaded) {
      const popup = await this.s.extensionPage("popup/popup.html", pin);
      await popup.waitFunction(() => document.body.dataset.state && document.body.dataset.state !== "loading");
      await popup.click("#pkcs11-install");
      await popup.waitFunction(() => document.querySelector("#pkcs11-result")?.textContent);
      assert.equal(await popup.attr("#pkcs11-result", "data-installed"), "eidlink", String(await popup.text("#pkcs11-result")));
      await popup.close();
      this.moduleLoaded = true;
    }
    return pin;
  }

  /**
   * login types pin into the PIN window and returns the welcome page's
   * greeting on p.
   * @param {Page} win the PIN window
   * @param {string} pin
   * @param {Page} p
   */
  async login(win, pin, p) {
    await win.type("#pin", pin);
    await win.press("Enter");
    return welcome(p);
  }

  /**
   * unlock unlocks the service's card from a terminal, as "eidlink unlock"
   * does for command-line tools: the PIN on its standard input.
   * @param {string} pin
   * @param {string} card its kind (with several cards in)
   */
  unlock(pin, card) {
    try {
      return execFileSync(path.join(bin, "eidlink"), ["unlock", "--card", card], { env: this.env, input: pin + "\n", encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    } catch (e) {
      throw new Error(`eidlink unlock: ${/** @type {any} */ (e).stderr || e}`);
    }
  }

  /** stopService stops the rig's service, and one that a host started after a test stopped it. */
  async stopService() {
    await this.svc?.stop();
    if (this.env.XDG_RUNTIME_DIR) eidlinkWith(this.env, "service", "stop");
  }

  /** log is what the service and the replicas logged, for a failure's report. */
  log() {
    return `--- service log:\n${this.svc?.log().slice(-3000)}\n--- replicas:\n${this.replicas?.log().slice(-1500)}`;
  }

  /** close stops everything and leaves the machine as it was. */
  async close() {
    await this.session?.close();
    if (this.policyFile) fs.rmSync(this.policyFile, { force: true });
    this.replicas?.close();
    await this.stopService();
    for (const v of this.vcards) await v.stop();
    this.release();
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
