// TLS client-certificate logins with the other cards, in headless Chromium
// and Firefox ESR (the rig and the dialog rules: tls.test.mjs, lib/tls.mjs):
// a CNS played by eidlink-vcard in vpcd's reader, which the service reaches
// through pcscd and OpenSC's PKCS#11 module, as a real CNS; a card with an
// EC key on a TLS 1.3 site (CKM_ECDSA, the service turns the card's DER
// signature into r||s); and both inserted at once, where each site's
// login control unlocks its own kind of card. Each replica trusts its own
// kind of card only, as the real sites do, so the browser offers each site
// its own certificate.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eidlinkWith, text, workdir } from "./lib/harness.mjs";
import { TlsRig } from "./lib/tls.mjs";

const CNS_PIN = "27182818";
const EC_PIN = "31415926";

/** @param {"chromium"|"firefox"} kind */
function defineCards(kind) {
  describe(`${kind}: TLS logins with the vpcd CNS, an EC card, and both inserted`, { timeout: 900_000 }, () => {
    const rig = new TlsRig(kind, workdir(`tls-cards-${kind}`));
    const check = rig.check.bind(rig);

    before(async () => {
      await rig.start({
        cns: { type: "cns", vpcd: "cns-cardos", pin: CNS_PIN, givenName: "ANNA", surname: "BIANCHI", cf: "BNCNNA85M41F205Q" },
        ec: { type: "cie", key: "p256", pin: EC_PIN, givenName: "LUCA", surname: "VERDI", cf: "VRDLCU75C12F205W" },
      }, undefined, { byKind: true });
    });

    after(() => rig.close());

    test(
      "the CNS in a PC/SC reader through OpenSC: INPS's 'Procedi' waits for the PIN, then a TLS 1.2 login with no dialog",
      check(async () => {
        await rig.launch();
        const p = await rig.open(rig.sites.inps);
        const pin = await rig.pinFor(p, "#procedi");
        assert.equal(await pin.text("#card-kind"), text("kind_cns"));
        const w = await rig.login(pin, CNS_PIN, p);
        assert.deepEqual(w, { text: "Benvenuto ANNA BIANCHI", kind: "cns", tls: "TLS 1.2", site: "true" });
        assert.match(rig.svc?.log() ?? "", /card unlocked for TLS signatures/);
      }),
    );

    test(
      "TLS 1.3 with an EC card: the browser signs with CKM_ECDSA through eidlink",
      check(async () => {
        await rig.useCard(rig.cards.ec);
        await rig.launch();
        const p = await rig.open(rig.sites.idpTls13);
        const pin = await rig.pinFor(p, "#pc");
        const w = await rig.login(pin, EC_PIN, p);
        assert.deepEqual(w, { text: "Benvenuto LUCA VERDI", kind: "cie", tls: "TLS 1.3", site: "true" });
      }),
    );

    test(
      "two cards inserted: 'Procedi' unlocks the CNS, 'Prosegui con computer' the CIE, each PIN window naming its card",
      check(async () => {
        await rig.useCard(rig.cards.ec, rig.cards.cns);
        await rig.launch();
        const inps = await rig.open(rig.sites.inps);
        const cnsPin = await rig.pinFor(inps, "#procedi");
        assert.equal(await cnsPin.text("#card-kind"), text("kind_cns"));
        assert.equal((await rig.login(cnsPin, CNS_PIN, inps)).text, "Benvenuto ANNA BIANCHI");
        const idp = await rig.open(rig.sites.idpTls13);
        const ciePin = await rig.pinFor(idp, "#pc");
        assert.equal(await ciePin.text("#card-kind"), text("kind_cie"));
        assert.deepEqual(await rig.login(ciePin, EC_PIN, idp), { text: "Benvenuto LUCA VERDI", kind: "cie", tls: "TLS 1.3", site: "true" });
      }),
    );

    if (kind === "chromium") {
      test(
        "the CIE unlocked, INPS's form sent without a click: the CNS's own PIN at signing time, and the CIE's unlock goes on",
        check(async () => {
          // Where the last test left off: both cards, the CIE unlocked; a browser started afresh,
          // which has no TLS session with INPS to resume. (Firefox would stop its networking
          // while the module waits for a PIN: Chromium only, as in tls.test.mjs.)
          const unlocked = () => /a card is unlocked for (\d+) more signatures/.exec(eidlinkWith(rig.env, "status"))?.[1];
          const left = unlocked();
          assert.ok(left, "the CIE is unlocked");
          const logFrom = rig.svc?.log().length ?? 0;
          await rig.launch();
          const p = await rig.open(rig.sites.inps);
          await p.waitFor('#eidlink-status[data-eidlink-state="ready"]'); // the box's port to the service carries the request
          /** @type {Promise<unknown>} */
          let sent = Promise.resolve();
          const pin = await rig.s.pinWindow(async () => void (sent = p.evaluate(() => /** @type {HTMLFormElement} */ (document.forms.namedItem("cns")).submit()).catch(() => {})));
          assert.equal(await pin.text("#origin"), text("pinSomeSite", (await pin.text("#heading")) === text("pinHeadingTls", "en") ? "en" : "it"), "the module does not know the site");
          const w = await rig.login(pin, CNS_PIN, p);
          await sent;
          assert.deepEqual(w, { text: "Benvenuto ANNA BIANCHI", kind: "cns", tls: "TLS 1.2", site: "false" });
          assert.equal(unlocked(), left, "the CIE's unlock, untouched");
          assert.doesNotMatch(rig.svc?.log().slice(logFrom) ?? "", /TLS unlock ended|card unlocked/, "neither ended nor replaced by the CNS");
        }),
      );
    }
  });
}

defineCards("chromium");
defineCards("firefox");
