// TLS client-certificate logins that fail, in headless Chromium and Firefox
// ESR (the rig and the dialog rules: tls.test.mjs, lib/tls.mjs): the
// browser's handshake fails with no dialog, and instead of its bare error
// code the tab shows eidlink's page, which says what happened and how to
// retry (background/tls-watch.js). The CIE here is a SoftHSM2 card that
// pads PKCS#1 v1.5 only, like a real CIE (no raw RSA: no PSS for TLS 1.3).
// Every wait is bounded.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { text, until, workdir } from "./lib/harness.mjs";
import { TlsRig } from "./lib/tls.mjs";

const CIE_PIN = "48151623";
const CNS_PIN = "27182818";

/**
 * explained waits for eidlink's page in place of the browser's error on p
 * and returns what it says: its reason (data-state), the words and the detail.
 * @param {import("./lib/harness.mjs").Page} p
 */
async function explained(p) {
  await until(async () => /\/tls\/failed\.html/.test(await p.url()), "eidlink's page in place of the browser's error");
  await p.waitFunction(() => document.body?.dataset.state && document.body.dataset.state !== "loading");
  return { state: String(await p.evaluate(() => document.body.dataset.state)), what: await p.text("#what"), detail: String(await p.text("#detail")) };
}

/**
 * pkcs1Only makes a SoftHSM2 card list no raw RSA (CKM_RSA_X_509): it
 * signs PKCS#1 v1.5 only, as a CIE does.
 * @param {import("./lib/harness.mjs").Card} card
 */
function pkcs1Only(card) {
  fs.appendFileSync(path.join(card.dir, "softhsm2.conf"), "slots.mechanisms = CKM_RSA_PKCS\n");
}

/** @param {"chromium"|"firefox"} kind */
function defineFaults(kind) {
  describe(`${kind}: TLS logins that fail, explained`, { timeout: 600_000 }, () => {
    const rig = new TlsRig(kind, workdir(`tls-faults-${kind}`));
    const check = rig.check.bind(rig);

    before(async () => {
      // each replica trusts its own kind of card: the CNS in vpcd's reader for INPS
      await rig.start({ cie: { type: "cie", pin: CIE_PIN }, cns: { type: "cns", vpcd: "cns-cardos", pin: CNS_PIN, givenName: "ANNA", surname: "BIANCHI", cf: "BNCNNA85M41F205Q" } }, undefined, { byKind: true });
      pkcs1Only(rig.cards.cie);
      await rig.useCard(rig.cards.cie);
      await rig.launch();
    });

    after(() => rig.close());

    test(
      "TLS 1.3 with a CIE that pads PKCS#1 v1.5 itself: no dialog, and eidlink's words instead of the browser's code",
      check(async () => {
        const p = await rig.open(rig.sites.idpTls13);
        const pin = await rig.pinFor(p, "#pc");
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        const e = await explained(p);
        assert.equal(e.state, "tls13");
        assert.equal(e.what, text("tlsNeeds13").replace("$1", "CIE di MARIO ROSSI"));
        assert.match(e.detail, kind === "chromium" ? /ERR_SSL_CLIENT_AUTH_NO_COMMON_ALGORITHMS/ : /SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT/);
      }),
    );

    test(
      "the service stopped after the unlock: no dialog, the tab says so and how to retry; back on the login page the site's button logs in",
      check(async () => {
        await rig.useCard(rig.cards.cie); // nothing unlocked
        const p = await rig.open(rig.sites.idp);
        await p.waitFor('#eidlink-status[data-eidlink-state="ready"]');
        const login = String(await p.attr("#pc", "href"));
        rig.unlock(CIE_PIN, "cie"); // from a terminal
        await rig.svc?.stop();
        await p.raw.goto(login).catch(() => {}); // the login address: the handshake fails
        const e = await explained(p);
        assert.equal(e.state, "service-stopped", e.what ?? "");
        assert.equal(e.what, `${text("tlsServiceStopped")} ${text("tlsRetry")}`);
        await p.click("#back");
        await until(async () => new URL(await p.url()).pathname === "/", "the login page again");
        const pin = await rig.pinFor(p, "#pc"); // a host started the service again
        assert.deepEqual(await rig.login(pin, CIE_PIN, p), { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.2", site: "true" });
      }),
    );

    test(
      "the card taken out after the unlock: no dialog, the tab says so and how to retry; the card back, the site's button logs in",
      check(async () => {
        const vcard = rig.vcards[0];
        await rig.useCard(rig.cards.cns);
        let p = await rig.open(rig.sites.inps);
        await p.waitFor('#eidlink-status[data-eidlink-state="ready"]');
        const login = String(await p.attr("#cns", "action"));
        rig.unlock(CNS_PIN, "cns"); // from a terminal
        await vcard.remove();
        await p.raw.goto(login).catch(() => {}); // the login address: the handshake fails
        const e = await explained(p);
        // The card gone from eidlink's module before the handshake: no certificate to send; or
        // still in the browser's view: the signature, which the service refuses (both are seen).
        const removed = /** @type {Record<string, string>} */ ({
          "no-card": `${text("tlsNoCardSeen")} ${text("tlsRetry")}${kind === "chromium" ? " " + text("tlsReopenChrome") : ""}`,
          refused: `${text("tlsFailed").replace("$1", text("err_EIDLINK_CARD_REMOVED"))} ${text("tlsRetry")}`,
        });
        assert.equal(e.what, removed[e.state], e.state);
        await vcard.insert();
        // Chromium remembers, until it closes, that it sent this site no certificate (when the
        // card had left its view): the retry needs the browser reopened, as the page says.
        if (kind === "chromium") {
          await rig.launch();
          p = await rig.open(rig.sites.inps);
        } else {
          await p.click("#back");
          await until(async () => new URL(await p.url()).pathname === "/", "the login page again");
        }
        const pin = await rig.pinFor(p, "#procedi");
        assert.deepEqual(await rig.login(pin, CNS_PIN, p), { text: "Benvenuto ANNA BIANCHI", kind: "cns", tls: "TLS 1.2", site: "true" });
      }),
    );
  });
}

defineFaults("chromium");
defineFaults("firefox");
