// make demo: a whole CIE login in a browser. A SoftHSM2 virtual CIE, the
// demo relying party, Chromium with the extension and the real
// eidlink-host; the PIN typed into eidlink's PIN window; the welcome line,
// the time taken and a screenshot (bin/demo.png).
//
//   node e2e/demo.mjs          headless, automatic
//   node e2e/demo.mjs --ui     a visible browser for you to click through;
//                              it stays open until you close it

import fs from "node:fs";
import path from "node:path";
import { Session, devProfile, repo, startDemo, testcard, workdir } from "./lib/harness.mjs";

const ui = process.argv.includes("--ui");
if (ui && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  console.error("demo: --ui needs a display (DISPLAY or WAYLAND_DISPLAY); make demo runs headless");
  process.exit(1);
}
const PIN = "12345678";
const start = performance.now();
const ms = (/** @type {number} */ t) => `${Math.round(performance.now() - t)} ms`;
const work = workdir("demo");
/** @type {Session|undefined} */
let s;
/** @type {{origin: string, close: () => void}|undefined} */
let demo;
try {
  const card = testcard(path.join(work, "card"), { pin: PIN });
  const profile = devProfile("chromium", path.join(work, "profile"), { host: "real", cardDir: card.dir });
  demo = await startDemo([card.caFile]);
  console.log(`demo: site ${demo.origin}, virtual CIE of ${card.holder} (${card.codiceFiscale}), PIN ${PIN}`);
  s = await Session.launch(profile, { headless: !ui });
  const page = await s.newPage();
  await page.goto(demo.origin + "/");
  if (ui) {
    console.log(`demo: in the browser, click "Entra con CIE" and type the PIN ${PIN} in eidlink's window; close the browser to end`);
    const ctx = s.ctx;
    const closed = new Promise((resolve) => ctx.on("close", resolve));
    const welcome = page.waitFor("#welcome:not([hidden])", 60 * 60_000).then(() => page.text("#welcome"), () => null);
    const line = await Promise.race([welcome, closed.then(() => null)]);
    if (line) console.log(line);
    await closed;
  } else {
    await page.waitFor('#eidlink-status[data-eidlink-state="ready"]');
    const login = performance.now();
    const pin = await s.pinWindow(() => page.click("#cie-login"));
    await pin.type("#pin", PIN);
    await pin.press("Enter");
    await page.waitFor("#welcome:not([hidden])", 30_000);
    const took = ms(login);
    console.log(await page.text("#welcome"));
    const shot = path.join(repo, "bin", "demo.png");
    await page.screenshot(shot);
    console.log(`demo: login in ${took} (click to welcome, PIN typed by the demo); ${ms(start)} in all; screenshot ${path.relative(process.cwd(), shot)}`);
  }
} catch (e) {
  console.error("demo: failed:", e instanceof Error ? e.message : e);
  process.exitCode = 1;
} finally {
  await s?.close();
  demo?.close();
  fs.rmSync(work, { recursive: true, force: true });
}
