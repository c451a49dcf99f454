// The TLS-login rig shared by tls.test.mjs and demo-tls.mjs: SoftHSM2
// cards, the replicas of internal/tlsreplica under the real host names,
// `eidlink service run` with one card behind eidlink's PKCS#11 module,
// `eidlink install --user` in a fresh HOME, and a browser that maps the
// replica hosts to 127.0.0.1. Chromium gets the AutoSelectCertificateForUrls
// file that `eidlink install --system --parts policies` writes, as
// /etc/chromium/policies/managed/eidlink-e2e-PID.json, removed by close()
// (so Chromium needs root: Chromium on Linux reads no user policies).
// Firefox's test profile sets security.default_personal_cert, a test-only
// global choice (real profiles get per-site choices: install --firefox-cert).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPLICA_HOSTS, Session, devProfile, eidlinkWith, hostEnv, lockReaders, setHostEnv, startReplicas, startService, testcard } from "./harness.mjs";

/** @typedef {import("./harness.mjs").Card} Card */

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
   * @param {Record<string, {type: string, pin: string, givenName?: string, surname?: string, cf?: string}>} specs
   * @param {number} [lockWait] ms
   */
  async start(specs, lockWait = 600_000) {
    if (this.kind === "chromium" && process.getuid?.() !== 0) throw new Error("TLS logins in Chromium need root: the certificate auto-selection policy lives in /etc/chromium/policies/managed");
    this.release = await lockReaders(lockWait);
    fs.mkdirSync(this.dir, { recursive: true });
    fs.mkdirSync(path.join(this.work, "run"), { mode: 0o700 });
    for (const [name, o] of Object.entries(specs)) this.cards[name] = testcard(path.join(this.work, name), o);
    const serverCA = path.join(this.work, "server-ca.pem");
    this.replicas = await startReplicas(Object.values(this.cards).map((c) => c.caFile), serverCA);
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
      eidlinkWith(this.env, "install", "--user");
    }
  }

  /**
   * useCard (re)starts the service with card behind it, as the browser's
   * module and host see it.
   * @param {Card} card
   */
  async useCard(card) {
    await this.svc?.stop();
    this.profile = devProfile(this.kind, this.dir, { host: "real", cardDir: card.dir });
    const e = hostEnv(this.profile);
    delete e.EIDLINK_CONFIG_DIR; // the service of XDG_RUNTIME_DIR below, not the profile's own
    delete e.EIDLINK_RUNTIME_DIR;
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
    if (this.kind === "chromium") {
      const rules = `--host-resolver-rules=${REPLICA_HOSTS.map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`;
      this.session = await Session.launch({ ...this.profile, launch: { ...this.profile.launch, args: [...this.profile.launch.args, rules] } }, { ...o, env: this.env });
    } else {
      this.session = await Session.launch(this.profile, { ...o, env: this.env, prefs: { "network.dns.forceResolve": "127.0.0.1", "security.default_personal_cert": "Select Automatically" } });
    }
    return this.session;
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
    await this.svc?.stop();
    this.release();
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}
