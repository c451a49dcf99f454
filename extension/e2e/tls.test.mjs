// TLS client-certificate logins end to end, in headless Chromium and
// Firefox ESR: the local replicas of the CIE identity provider and of
// INPS's CNS login (internal/tlsreplica) under their real host names,
// eidlink installed with `eidlink install --user` in a fresh HOME, the
// eidlink service with a SoftHSM2 card behind eidlink's own PKCS#11 module,
// the extension holding the user's click until the PIN is typed in
// eidlink's window. No browser dialog may appear: JavaScript dialogs fail
// the test, and a certificate chooser or a browser PIN prompt would stop the
// navigation, which every wait bounds.
// The rig (lib/tls.mjs) says how each browser is set up; in Firefox the
// module is loaded by the extension's popup button (browser.pkcs11), as a
// user does once.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { serveStatic, text, until, workdir } from "./lib/harness.mjs";
import { TlsRig, welcome } from "./lib/tls.mjs";

const CIE_PIN = "48151623";
const CNS_PIN = "27182818";
const WRONG_PIN = "11223344";
/** A host that is no site profile's, which the browser maps to the replicas too. */
const OTHER_HOST = "www.example.org";

/** @param {"chromium"|"firefox"} kind */
function defineTls(kind) {
  describe(`${kind}: TLS logins through eidlink's PKCS#11 module`, { timeout: 900_000 }, () => {
    const rig = new TlsRig(kind, workdir(`tls-${kind}`));
    const check = rig.check.bind(rig);

    before(async () => {
      await rig.start({
        cie: { type: "cie", pin: CIE_PIN },
        cns: { type: "cns", pin: CNS_PIN, givenName: "ANNA", surname: "BIANCHI", cf: "BNCNNA85M41F205Q" },
      });
      await rig.launch();
    });

    after(() => rig.close());

    test(
      "CIE identity provider: the click on 'Prosegui con computer' waits for the PIN (a wrong one first), then a TLS 1.2 login with no dialog",
      check(async () => {
        const p = await rig.open(rig.sites.idp);
        const pin = await rig.pinFor(p, "#pc");
        assert.equal(await pin.text("#heading"), text("pinHeadingTls"));
        assert.equal(await pin.text("#origin"), new URL(rig.sites.idp).host, "the window names the site");
        assert.equal(new URL(await p.url()).pathname, "/", "the click is held: still on the identity provider");
        await pin.type("#pin", WRONG_PIN);
        await pin.press("Enter");
        await pin.waitFunction(() => !(/** @type {HTMLElement} */ (document.querySelector("#error")).hidden));
        assert.match(String(await pin.text("#tries")), /2/);
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        const w = await welcome(p);
        assert.deepEqual(w, { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.2", site: "true" }, "the site's own click handler and the navigation both saw the click");
        assert.match(rig.svc?.log() ?? "", /card unlocked for TLS signatures/);
      }),
    );

    test(
      "cancel: the click stays held and eidlink's box says how to retry; the retry logs in",
      check(async () => {
        const p = await rig.open(rig.sites.idp);
        const pin = await rig.pinFor(p, "#pc");
        await pin.click("#cancel");
        await p.waitFor('#eidlink-status[data-eidlink-unlock="ERR_WEBEID_USER_CANCELLED"]'); // the box says so, and how to retry (unit tests: the words)
        assert.equal(new URL(await p.url()).pathname, "/", "nothing was sent");
        const again = await rig.pinFor(p, "#pc");
        await again.type("#pin", CIE_PIN);
        await again.press("Enter");
        assert.equal((await welcome(p)).text, "Benvenuto MARIO ROSSI");
      }),
    );

    if (kind === "chromium") {
      test(
        "the PIN asked at signing time: the login address opened directly, the PIN in eidlink's window for 'a site', then the login",
        check(async () => {
          // A service started afresh: nothing unlocked. (Firefox would stop its networking
          // while the module waits, and cannot load the module before the window: Chromium only.)
          await rig.useCard(rig.cards.cie);
          await rig.launch();
          // No eidlink box open: the extension connects to the service as the login address starts loading.
          const p = await rig.open("about:blank");
          const link = new URL("/cie", rig.sites.idp);
          link.port = String(rig.sites.ports[1]); // the replica's TLS 1.2 endpoint, the identity provider's "Prosegui con computer"
          /** @type {Promise<unknown>} */
          let nav = Promise.resolve();
          const pin = await rig.s.pinWindow(async () => void (nav = p.raw.goto(link.href).catch(() => {})));
          // in the browser's language (headless Chromium's is English whatever --lang says): no page asked
          const lang = (await pin.text("#heading")) === text("pinHeadingTls", "en") ? "en" : "it";
          assert.equal(await pin.text("#heading"), text("pinHeadingTls", lang));
          assert.equal(await pin.text("#origin"), text("pinSomeSite", lang), "the module does not know the site");
          await pin.type("#pin", CIE_PIN);
          await pin.press("Enter");
          await nav;
          assert.deepEqual(await welcome(p), { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.2", site: "false" });
          assert.match(rig.svc?.log() ?? "", /card unlocked for TLS signatures" origin="" signatures=3/, "unlocked at signing time, one signature used");
        }),
      );
    }

    if (kind === "firefox") {
      test(
        "an unrelated tab keeps loading while the PIN window is open",
        check(async () => {
          const p = await rig.open(rig.sites.idp);
          const pin = await rig.pinFor(p, "#pc");
          const other = await serveStatic(path.join(import.meta.dirname, "replicas"));
          try {
            const tab = await rig.s.newPage();
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

    if (kind === "firefox") {
      test(
        "another host gets no certificate without asking: Firefox holds it at its chooser while the identity provider logs in",
        check(async () => {
          // The identity provider's client-auth endpoint under a host that is no site profile's:
          // Firefox remembers the card's certificate for the identity provider's host only.
          const from = rig.replicas?.log().length ?? 0;
          const since = () => rig.replicas?.log().slice(from) ?? "";
          const other = await rig.s.newPage();
          void other.raw.goto(`https://${OTHER_HOST}:${rig.sites.ports[1]}/cie`, { timeout: 0 }).catch(() => {}); // ends when check() closes the page
          await until(() => since().includes(`client hello" host=${OTHER_HOST}`), "the other host's handshake");
          // The same card then logs in where its certificate is remembered: the other
          // handshake, which started first, had every chance to get it.
          const p = await rig.open(rig.sites.idp);
          const pin = await rig.pinFor(p, "#pc");
          assert.equal((await rig.login(pin, CIE_PIN, p)).text, "Benvenuto MARIO ROSSI");
          assert.doesNotMatch(since(), new RegExp(`client-certificate login.* host=${OTHER_HOST.replaceAll(".", "\\.")}`), "no certificate for the other host");
          assert.equal(await other.url(), "about:blank", "the other host's page waits on the chooser");
        }),
      );
    }

    test(
      "TLS 1.3 with a card whose module offers raw RSA (SoftHSM2): the service signs RSA-PSS",
      check(async () => {
        const p = await rig.open(rig.sites.idpTls13);
        const pin = await rig.pinFor(p, "#pc");
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
        await rig.useCard(rig.cards.cns);
        await rig.launch();
        const p = await rig.open(rig.sites.inps);
        const pin = await rig.pinFor(p, "#procedi");
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
