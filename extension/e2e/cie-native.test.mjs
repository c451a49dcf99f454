// End-to-end: a Web eID login with a virtual CIE on eidlink's own CIE
// driver, in headless Chromium and Firefox ESR. No IPZS module anywhere,
// no SoftHSM2 card: only `eidlink-vcard --type cie-nxp` in vpcd's first
// reader (the Go tests of internal/cie cover every CIE variant). The PIN
// window asks all 8 digits and names the path; the demo relying party
// verifies the token.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Session, bin, devProfile, hostEnv, lockReaders, serviceLog, setHostEnv, startDemo, text, until, workdir } from "./lib/harness.mjs";

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
    /** @type {import("node:child_process").ChildProcess} */
    let vcard;
    /** @type {() => void} */
    let unlockReaders = () => {};
    let failed = false;

    before(async () => {
      unlockReaders = await lockReaders(300_000); // other tests on this machine may hold vpcd a while
      const caFile = path.join(work, "ca.pem");
      vcard = spawn(path.join(bin, "eidlink-vcard"), ["--type", "cie-nxp", "--pin", CIE_PIN, "--ca-out", caFile], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      vcard.stderr?.on("data", (/** @type {Buffer} */ d) => (log += d));
      await until(() => /virtual card ready.*inserted=true/.test(log) || vcard.exitCode !== null, "the virtual CIE to be inserted");
      assert.equal(vcard.exitCode, null, `eidlink-vcard exited: ${log}`);
      profile = devProfile(kind, path.join(work, "profile"), { host: "real" });
      // The CIE alone: no PKCS#11 token (the profile's SoftHSM2 card hidden), the driver's default choice.
      setHostEnv(profile, { ...hostEnv(profile), SOFTHSM2_CONF: path.join(work, "none.conf"), EIDLINK_PKCS11_MODULE: "" });
      demo = await startDemo([caFile]);
      s = await Session.launch(profile);
    });

    after(async () => {
      await s?.close();
      demo?.close();
      vcard?.kill();
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
