// TLS client-certificate logins end to end, in headless Chromium and
// Firefox ESR: the local replicas of the CIE identity provider and of
// INPS's CNS login (internal/tlsreplica) under their real host names,
// eidlink installed with `eidlink install --user` in a fresh HOME, the
// eidlink service with a SoftHSM2 card behind eidlink's own PKCS#11 module,
// the extension holding the user's click until the PIN is typed in
// eidlink's window. No browser dialog may appear: JavaScript dialogs fail
// the test, and a certificate chooser or a browser PIN prompt would stop the
// navigation, which every wait bounds.
//
// Chromium: the AutoSelectCertificateForUrls policy that `eidlink install
// --system --parts policies` writes is put in /etc/chromium/policies/managed
// under a name of this run's own, and removed afterwards (root only: Chromium
// on Linux reads no user policies). Firefox: the module is loaded by the
// extension's popup button (browser.pkcs11), and the test profile sets
// security.default_personal_cert, as Firefox has no per-site choice (README,
// "Log in to MyINPS with CIE or CNS").

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { REPLICA_HOSTS, Session, devProfile, eidlinkWith, hostEnv, lockReaders, serveStatic, setHostEnv, startReplicas, startService, testcard, text, workdir } from "./lib/harness.mjs";

const CIE_PIN = "48151623";
const CNS_PIN = "27182818";
const WRONG_PIN = "11223344";
const LOGIN_WAIT = 30_000;

/**
 * welcome waits for the MyINPS replica's greeting and returns what it says.
 * @param {import("./lib/harness.mjs").Page} page
 */
async function welcome(page) {
  try {
    await page.waitFor("#welcome", LOGIN_WAIT);
  } catch (e) {
    throw new Error(`no welcome page: at ${await page.url()}: ${/** @type {Error} */ (e).message}`);
  }
  const d = (/** @type {string} */ a) => page.attr("#details", a);
  return { text: await page.text("#welcome"), kind: await d("data-kind"), tls: await d("data-tls"), site: await d("data-site") };
}

/** @param {"chromium"|"firefox"} kind */
function defineTls(kind) {
  describe(`${kind}: TLS logins through eidlink's PKCS#11 module`, { timeout: 900_000 }, () => {
    const work = workdir(`tls-${kind}`);
    const home = path.join(work, "home");
    const dir = kind === "chromium" ? path.join(home, "chromium") : home;
    /** @type {Record<string, import("./lib/harness.mjs").Card>} */
    const cards = {};
    /** @type {Session} */
    let s;
    /** @type {import("./lib/harness.mjs").Profile} */
    let profile;
    /** @type {Awaited<ReturnType<typeof startReplicas>>} */
    let replicas;
    /** @type {Awaited<ReturnType<typeof startService>>|null} */
    let svc = null;
    /** @type {Record<string, string>} */
    let env = {};
    let policyFile = "";
    let release = () => {};
    /** @type {string[]} JavaScript dialogs of any page */
    const dialogs = [];
    /** @type {import("./lib/harness.mjs").Page|null} */
    let page = null;

    /**
     * useCard (re)starts the service with card behind it, as the
     * browser's module and host see it.
     * @param {import("./lib/harness.mjs").Card} card
     */
    async function useCard(card) {
      await svc?.stop();
      profile = devProfile(kind, dir, { host: "real", cardDir: card.dir });
      const e = hostEnv(profile);
      delete e.EIDLINK_CONFIG_DIR; // the service of XDG_RUNTIME_DIR below, not the profile's own
      delete e.EIDLINK_RUNTIME_DIR;
      env = { ...e, PATH: process.env.PATH ?? "", HOME: home, XDG_RUNTIME_DIR: path.join(work, "run"), XDG_CONFIG_HOME: path.join(work, "config") };
      svc = await startService({ ...env, EIDLINK_LOG: "debug" }); // its log goes with a failure
      setHostEnv(profile, env);
    }

    /** open opens url in a new tab whose JavaScript dialogs fail the test. @param {string} url */
    async function open(url) {
      page = await s.newPage();
      page.raw.on("dialog", (/** @type {any} */ d) => (dialogs.push(`${d.type()}: ${d.message()}`), d.dismiss().catch(() => {})));
      await page.goto(url);
      return page;
    }

    before(async () => {
      if (kind === "chromium" && process.getuid?.() !== 0) throw new Error("the Chromium TLS logins need root: the certificate auto-selection policy lives in /etc/chromium/policies/managed");
      // A card or reader event from the shared pcscd ends an unlock, whatever the reader
      // (tlsauth): no other test may move vpcd's virtual cards meanwhile.
      release = await lockReaders(600_000); // other packages' tests may hold it for minutes
      fs.mkdirSync(dir, { recursive: true });
      fs.mkdirSync(path.join(work, "run"), { mode: 0o700 });
      cards.cie = testcard(path.join(work, "cie"), { type: "cie", pin: CIE_PIN });
      cards.cns = testcard(path.join(work, "cns"), { type: "cns", pin: CNS_PIN, givenName: "ANNA", surname: "BIANCHI", cf: "BNCNNA85M41F205Q" });
      replicas = await startReplicas([cards.cie.caFile, cards.cns.caFile], path.join(work, "server-ca.pem"));
      await useCard(cards.cie);
      if (kind === "chromium") {
        // The certificate database Chromium creates on its first start, with the replicas' server CA trusted.
        const nssdb = "sql:" + path.join(home, ".pki/nssdb");
        fs.mkdirSync(path.join(home, ".pki/nssdb"), { recursive: true });
        execFileSync("certutil", ["-N", "-d", nssdb, "--empty-password"]);
        execFileSync("certutil", ["-A", "-d", nssdb, "-n", "eidlink TLS replica CA", "-t", "C,,", "-i", path.join(work, "server-ca.pem")]);
        eidlinkWith(env, "install", "--user", "--user-data-dir", dir);
        const root = path.join(work, "root");
        eidlinkWith(env, "install", "--system", "--parts", "policies", "--browsers", "chromium", "--root", root);
        policyFile = `/etc/chromium/policies/managed/eidlink-e2e-${process.pid}.json`;
        fs.mkdirSync(path.dirname(policyFile), { recursive: true });
        fs.copyFileSync(path.join(root, "etc/chromium/policies/managed/eidlink.json"), policyFile);
      } else {
        eidlinkWith(env, "install", "--user");
      }
      await launch();
    });

    /** launch starts the browser on the profile, with the replica hosts mapped to 127.0.0.1. */
    async function launch() {
      if (kind === "chromium") {
        const rules = `--host-resolver-rules=${REPLICA_HOSTS.map((h) => `MAP ${h} 127.0.0.1`).join(", ")}`;
        s = await Session.launch({ ...profile, launch: { ...profile.launch, args: [...profile.launch.args, rules] } }, { env });
      } else {
        s = await Session.launch(profile, { env, prefs: { "network.dns.forceResolve": "127.0.0.1", "security.default_personal_cert": "Select Automatically" } });
        moduleLoaded = false;
      }
    }

    after(async () => {
      await s?.close();
      release();
      if (policyFile) fs.rmSync(policyFile, { force: true });
      replicas?.close();
      await svc?.stop();
      fs.rmSync(work, { recursive: true, force: true });
    });

    /**
     * check runs a test body and, on failure, adds what the service and
     * the replicas logged.
     * @param {() => Promise<void>} body
     */
    const check = (body) => async () => {
      try {
        await body();
        assert.deepEqual(dialogs, [], "no browser dialog");
      } catch (e) {
        const err = /** @type {Error} */ (e);
        err.message += `\n--- service log:\n${svc?.log().slice(-3000)}\n--- replicas:\n${replicas.log().slice(-1500)}`;
        throw err;
      } finally {
        await s.closePages();
        page = null;
      }
    };

    /**
     * pinFor clicks sel on the page (the user's click) and returns the PIN
     * window it opens; in Firefox, the first time, eidlink's module is
     * loaded meanwhile with the popup's button, as a user does once.
     * @param {import("./lib/harness.mjs").Page} p
     * @param {string} sel
     */
    async function pinFor(p, sel) {
      await p.waitFor('#eidlink-status[data-eidlink-state="ready"]');
      const pin = await s.pinWindow(() => p.click(sel));
      if (kind === "firefox" && !moduleLoaded) {
        const popup = await s.extensionPage("popup/popup.html", pin);
        await popup.waitFunction(() => document.body.dataset.state && document.body.dataset.state !== "loading");
        await popup.click("#pkcs11-install");
        await popup.waitFunction(() => document.querySelector("#pkcs11-result")?.textContent);
        assert.equal(await popup.attr("#pkcs11-result", "data-installed"), "eidlink", String(await popup.text("#pkcs11-result")));
        await popup.close();
        moduleLoaded = true;
      }
      return pin;
    }
    let moduleLoaded = false;

    test(
      "CIE identity provider: the click on 'Prosegui con computer' waits for the PIN (a wrong one first), then a TLS 1.2 login with no dialog",
      check(async () => {
        const p = await open(replicas.sites.idp);
        const pin = await pinFor(p, "#pc");
        assert.equal(await pin.text("#heading"), text("pinHeadingTls"));
        assert.equal(await pin.text("#origin"), new URL(replicas.sites.idp).host, "the window names the site");
        assert.equal(new URL(await p.url()).pathname, "/", "the click is held: still on the identity provider");
        await pin.type("#pin", WRONG_PIN);
        await pin.press("Enter");
        await pin.waitFunction(() => !(/** @type {HTMLElement} */ (document.querySelector("#error")).hidden));
        assert.match(String(await pin.text("#tries")), /2/);
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        const w = await welcome(p);
        assert.deepEqual(w, { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.2", site: "true" }, "the site's own click handler and the navigation both saw the click");
        assert.match(svc?.log() ?? "", /card unlocked for TLS signatures/);
      }),
    );

    test(
      "cancel: the click stays held and eidlink's box says how to retry; the retry logs in",
      check(async () => {
        const p = await open(replicas.sites.idp);
        const pin = await pinFor(p, "#pc");
        await pin.click("#cancel");
        await p.waitFor('#eidlink-status[data-eidlink-unlock="ERR_WEBEID_USER_CANCELLED"]'); // the box says so, and how to retry (unit tests: the words)
        assert.equal(new URL(await p.url()).pathname, "/", "nothing was sent");
        const again = await pinFor(p, "#pc");
        await again.type("#pin", CIE_PIN);
        await again.press("Enter");
        assert.equal((await welcome(p)).text, "Benvenuto MARIO ROSSI");
      }),
    );

    if (kind === "firefox") {
      test(
        "an unrelated tab keeps loading while the PIN window is open",
        check(async () => {
          const p = await open(replicas.sites.idp);
          const pin = await pinFor(p, "#pc");
          const other = await serveStatic(path.join(import.meta.dirname, "replicas"));
          try {
            const tab = await s.newPage();
            await tab.goto(other.origin + "/layout.html"); // bounded: the harness's navigation timeout
            assert.ok(await tab.text("h1"), "the other tab loaded");
          } finally {
            other.close();
          }
          await pin.type("#pin", CIE_PIN);
          await pin.press("Enter");
          assert.equal((await welcome(p)).tls, "TLS 1.2");
        }),
      );
    }

    test(
      "TLS 1.3 with a card whose module offers raw RSA (SoftHSM2): the service signs RSA-PSS",
      check(async () => {
        const p = await open(replicas.sites.idpTls13);
        const pin = await pinFor(p, "#pc");
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        assert.deepEqual(await welcome(p), { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.3", site: "true" });
      }),
    );

    test(
      "CNS on INPS: 'Procedi' (a form button) waits for the PIN, then the form goes with the site's own field",
      check(async () => {
        // The other card, in a browser started afresh: NSS keeps the tokens it saw, and the
        // CIE's certificate, which the replicas also trust, would be chosen first.
        await s.close();
        await useCard(cards.cns);
        await launch();
        const p = await open(replicas.sites.inps);
        const pin = await pinFor(p, "#procedi");
        assert.equal(await pin.text("#card-kind"), text("kind_cns"));
        await pin.type("#pin", CNS_PIN);
        await pin.press("Enter");
        assert.deepEqual(await welcome(p), { text: "Benvenuto ANNA BIANCHI", kind: "cns", tls: "TLS 1.2", site: "true" });
      }),
    );
  });
}

defineTls("chromium");
defineTls("firefox");
