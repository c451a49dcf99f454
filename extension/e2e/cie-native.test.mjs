// End-to-end: logins with a virtual CIE on eidlink's own CIE driver. No
// IPZS module anywhere, no SoftHSM2 card: only `eidlink-vcard --type
// cie-nxp` in vpcd's first reader (the Go tests of internal/cie cover
// every CIE variant). A Web eID login in headless Chromium and Firefox
// ESR: the PIN window asks all 8 digits and names the path, the demo
// relying party verifies the token. A TLS 1.2 login on the identity
// provider's replica in Chromium (the rig of tls.test.mjs), through
// eidlink's PKCS#11 module.

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Session, devProfile, hostEnv, lockReaders, serviceLog, setHostEnv, startDemo, text, vpcdCard, workdir } from "./lib/harness.mjs";
import { TlsRig, welcome } from "./lib/tls.mjs";

const CIE_PIN = "31415926";

for (const kind of /** @type {const} */ (["chromium", "firefox"])) {
  describe(`${kind}: a virtual CIE on eidlink's native driver`, { timeout: 420_000 }, () => {
    const work = workdir(`e2e-cie-native-${kind}`);
    /** @type {Session} */
    let s;
    /** @type {{origin: string, close: () => void}} */
    let demo;
    /** @type {import("./lib/harness.mjs").Profile} */
    let profile;
    /** @type {Awaited<ReturnType<typeof vpcdCard>>} */
    let vcard;
    /** @type {() => void} */
    let unlockReaders = () => {};
    let failed = false;

    before(async () => {
      unlockReaders = await lockReaders(300_000); // other tests on this machine may hold vpcd a while
      vcard = await vpcdCard(path.join(work, "cie"), { type: "cie-nxp", pin: CIE_PIN });
      profile = devProfile(kind, path.join(work, "profile"), { host: "real" });
      // The CIE alone: no PKCS#11 token (the profile's SoftHSM2 card hidden), the driver's default choice.
      setHostEnv(profile, { ...hostEnv(profile), SOFTHSM2_CONF: path.join(work, "none.conf"), EIDLINK_PKCS11_MODULE: "" });
      demo = await startDemo([vcard.card.caFile]);
      s = await Session.launch(profile);
    });

    after(async () => {
      await s?.close();
      demo?.close();
      await vcard?.stop();
      unlockReaders();
      if (!failed) fs.rmSync(work, { recursive: true, force: true });
      else console.error(`e2e cie-native ${kind}: kept ${work}`);
    });

    test("the PIN window asks all 8 digits of the CIE, driver eidlink, and the site verifies the token", async () => {
      try {
        const page = await s.newPage();
        await page.goto(demo.origin + "/");
        await page.waitFor('#eidlink-status[data-eidlink-state="ready"][data-eidlink-card="cie"]');
        const pin = await s.pinWindow(() => page.click("#cie-login"));
        assert.equal(await pin.text("#card-kind"), text("kind_cie_native"));
        assert.equal(await pin.text("#holder"), "MARIO ROSSI");
        assert.equal(await pin.text("#pin-label"), text("pinLabelCie"));
        assert.equal(await pin.visible("#last4-hint"), false, "no last-4 rule on the native path");
        assert.equal(await pin.visible("#first4"), false);
        assert.equal(await pin.text("#tries"), text("triesLeft").replace("$1", "3"));
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        await page.waitFunction(() => !(/** @type {HTMLElement|null} */ (document.querySelector("#welcome"))?.hidden ?? true) || document.querySelector("#result")?.classList.contains("error"), undefined, 30_000);
        assert.equal(await page.text("#welcome"), "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)", `login failed: ${await page.text("#result.error")}`);
        assert.match(serviceLog(profile), /command done/, "the profile's service ran the login");
        await page.close();
      } catch (e) {
        failed = true;
        throw e;
      }
    });
  });
}

describe("chromium: a TLS login with a virtual CIE on eidlink's native driver", { timeout: 600_000 }, () => {
  const rig = new TlsRig("chromium", workdir("tls-cie-native-chromium"));
  before(async () => {
    await rig.start({ cie: { type: "cie", vpcd: "cie-nxp", pin: CIE_PIN } });
    await rig.launch();
  });
  after(() => rig.close());

  test(
    "the CIE identity provider over TLS 1.2: the PIN window names the path, all 8 digits unlock the card, the site greets the holder",
    rig.check(async () => {
      const p = await rig.open(rig.sites.idp);
      const pin = await rig.pinFor(p, "#pc");
      assert.equal(await pin.text("#card-kind"), text("kind_cie_native"));
      assert.equal(await pin.visible("#last4-hint"), false);
      await pin.type("#pin", CIE_PIN);
      await pin.press("Enter");
      assert.deepEqual(await welcome(p), { text: "Benvenuto MARIO ROSSI", kind: "cie", tls: "TLS 1.2", site: "true" });
    }),
  );
});
