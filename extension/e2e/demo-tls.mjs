// make demo-tls: a TLS client-certificate login in headless Chromium with
// no browser dialog. A SoftHSM2 virtual CIE behind the eidlink service and
// eidlink's PKCS#11 module (installed with `eidlink install --user` in a
// fresh HOME), the replica of the CIE identity provider (internal/tlsreplica)
// under its real host name; the click on "Prosegui con computer" waits for
// the PIN, typed into eidlink's window, then the browser signs the TLS 1.2
// handshake through eidlink and lands on the MyINPS replica: prints its
// welcome line and the time taken, saves bin/demo-tls.png. Root (the
// certificate auto-selection policy; see lib/tls.mjs).

import path from "node:path";
import { repo, workdir } from "./lib/harness.mjs";
import { TlsRig } from "./lib/tls.mjs";

const PIN = "12345678";
const start = performance.now();
const ms = (/** @type {number} */ t) => `${Math.round(performance.now() - t)} ms`;
const rig = new TlsRig("chromium", workdir("demo-tls"));
try {
  await rig.start({ cie: { type: "cie", pin: PIN } });
  const card = rig.cards.cie;
  console.log(`demo-tls: CIE identity provider replica ${rig.sites.idp}, virtual CIE of ${card.holder} (${card.codiceFiscale}), PIN ${PIN}`);
  const s = await rig.launch();
  /** @type {string[]} */
  const dialogs = [];
  const page = await s.newPage();
  page.raw.on("dialog", (/** @type {any} */ d) => (dialogs.push(d.message()), d.dismiss()));
  await page.goto(rig.sites.idp);
  await page.waitFor('#eidlink-status[data-eidlink-state="ready"]');
  const login = performance.now();
  const pin = await s.pinWindow(() => page.click("#pc"));
  await pin.type("#pin", PIN);
  await pin.press("Enter");
  await page.waitFor("#welcome", 30_000);
  const took = ms(login);
  if (dialogs.length) throw new Error(`browser dialogs: ${dialogs.join("; ")}`);
  console.log(`${await page.text("#welcome")} (${await page.attr("#details", "data-tls")}, client certificate signed through eidlink's PKCS#11 module, no browser dialog)`);
  const shot = path.join(repo, "bin", "demo-tls.png");
  await page.screenshot(shot);
  console.log(`demo-tls: login in ${took} (click to welcome, PIN typed by the demo); ${ms(start)} in all; screenshot ${path.relative(process.cwd(), shot)}`);
} catch (e) {
  console.error("demo-tls: failed:", e instanceof Error ? e.message : e);
  console.error(rig.log());
  process.exitCode = 1;
} finally {
  await rig.close();
}
