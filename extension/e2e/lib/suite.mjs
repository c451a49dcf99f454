// The end-to-end suite, the same for Chromium and Firefox: the demo
// relying party, the real eidlink-host on SoftHSM2 virtual cards (CIE and
// CNS logins, wrong PIN, cancel, a raw Web eID page, the site helper,
// the extension's pages), then every error path scripted by the mock host.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Session, bin, devProfile, eidlinkWith, errorText, extRoot, hostEnv, hostLog, outDir, serveStatic, serviceLog, setHostEnv, startDemo, startService, testcard, text, tree, until, workdir } from "./harness.mjs";

const CIE_PIN = "48151623";
const CNS_PIN = "27182818";
const WRONG_PIN = "11223344";

/**
 * loginResult waits for the demo page's outcome: the welcome line, or the
 * error line "Accesso non riuscito: MESSAGE [CODE]".
 * @param {import("./harness.mjs").Page} page
 */
async function loginResult(page, timeout = 20_000) {
  await page.waitFunction(() => !(/** @type {HTMLElement|null} */ (document.querySelector("#welcome"))?.hidden ?? true) || document.querySelector("#result")?.classList.contains("error"), undefined, timeout);
  return { welcome: (await page.visible("#welcome")) ? await page.text("#welcome") : null, error: await page.text("#result.error") };
}

/**
 * recordErrors wraps the page library so the test sees the whole error
 * object (code, eidlinkCode, triesLeft), not only what the page prints.
 * @param {import("./harness.mjs").Page} page
 */
async function recordErrors(page) {
  await page.waitFunction(() => /** @type {any} */ (window).eidlink?.authenticate);
  await page.evaluate(() => {
    const lib = /** @type {any} */ (window).eidlink;
    const authenticate = lib.authenticate;
    lib.authenticate = (/** @type {any[]} */ ...args) =>
      authenticate(...args).catch((/** @type {any} */ e) => {
        /** @type {any} */ (window).lastError = { code: e.code, eidlinkCode: e.eidlinkCode, triesLeft: e.triesLeft, requiresUpdate: e.requiresUpdate, nativeApp: e.nativeApp };
        throw e;
      });
  });
}

/** @param {"chromium"|"firefox"} kind */
export function defineSuite(kind) {
  describe(`${kind}: eidlink end to end`, { timeout: 240_000 }, () => {
    const work = workdir(`e2e-${kind}`);
    const dir = path.join(work, "profile");
    const mockDir = path.join(work, "mock");
    /** @type {Session} */
    let s;
    /** @type {{origin: string, close: () => void}} */
    let demo;
    /** @type {import("./harness.mjs").Profile} */
    let profile;
    /** @type {Record<string, import("./harness.mjs").Card>} */
    const cards = {};
    let failed = false;
    const shot = (/** @type {string} */ name) => path.join(outDir, `${kind}-${name}.png`);

    /** openDemo opens a page of the demo site and waits for the helper's badge. */
    const openDemo = async (file = "/", state = "ready") => {
      const page = await s.newPage();
      await page.goto(demo.origin + file);
      try {
        await page.waitFor(`#eidlink-status[data-eidlink-state="${state}"]`);
      } catch (e) {
        throw new Error(`the badge on ${file} says ${await page.attr("#eidlink-status", "data-eidlink-state")}, not ${state}`, { cause: e });
      }
      return page;
    };

    before(async () => {
      cards.cie = testcard(path.join(work, "cie"), { pin: CIE_PIN });
      cards.cns = testcard(path.join(work, "cns"), { type: "cns", pin: CNS_PIN, givenName: "ANNA", surname: "BIANCHI", cf: "BNCNNA85M41F205Q" });
      cards.mock = /** @type {any} */ (devProfile(kind, dir, { host: "mock", cardDir: mockDir }).card);
      profile = devProfile(kind, dir, { host: "real", cardDir: cards.cie.dir });
      demo = await startDemo([cards.cie.caFile, cards.cns.caFile, cards.mock.caFile]);
      // Firefox loads eidlink's PKCS#11 module itself (browser.pkcs11): it asks the profile's own service.
      s = await Session.launch(profile, kind === "firefox" ? { env: { .../** @type {Record<string, string>} */ (process.env), ...profile.serviceEnv } } : {});
    });

    after(async () => {
      await s?.close();
      demo?.close();
      if (!failed) fs.rmSync(work, { recursive: true, force: true });
      else console.error(`e2e ${kind}: kept ${work} (host log in ${dir}/eidlink/host.log)`);
    });

    /** @param {() => Promise<void>} f */
    const check = (f) => async () => {
      try {
        await f();
      } catch (e) {
        failed = true;
        await s.closePages();
        throw e;
      }
    };

    /** @type {import("./harness.mjs").Page} */
    let page;

    test(
      "site helper: recognises the MyINPS replica's tabs and preselects the CIE tab",
      check(async () => {
        page = await openDemo();
        assert.equal(await page.attr("#eidlink-status", "data-eidlink-card"), "cie");
        assert.equal(await page.attr("#eidlink-status", "data-eidlink-profile"), "myinps");
        const marked = (/** @type {string} */ attr) => page.evaluate((a) => [...document.querySelectorAll(`[${a}]`)].map((e) => `${e.id}=${e.getAttribute(a)}`), attr);
        assert.deepEqual(await marked("data-eidlink-tab"), ["tab-spid=spid", "tab-cie=cie", "tab-cns=cns"]);
        await page.waitFor('#tab-cie[data-eidlink-preselected="true"][aria-selected="true"]');
        await page.waitFor('#cie-login[data-eidlink-login="cie"]'); // marked once its panel shows
        assert.deepEqual(await marked("data-eidlink-login"), ["spid-login=spid", "cie-login=cie"]);
        assert.ok(await page.visible("#cie-login"), "the CIE panel is open");
        assert.equal(await page.evaluate(() => document.querySelector("#eidlink-status")?.shadowRoot ?? null), null, "the badge's shadow root is closed to the page");
        await page.screenshot(shot("helper"));
      }),
    );

    test(
      "CIE login: the PIN window names site and holder, a wrong PIN shows the tries left, the right one logs in",
      check(async () => {
        await page.evaluate(() => {
          const w = /** @type {any} */ (window);
          w.seen = [];
          addEventListener("message", (e) => w.seen.push(JSON.stringify(e.data)));
        });
        const pin = await s.pinWindow(() => page.click("#cie-login"));
        assert.equal(await pin.attr("body", "data-state"), "input");
        assert.equal(await pin.text("#origin"), new URL(demo.origin).host);
        assert.equal(await pin.text("#holder"), "MARIO ROSSI");
        assert.equal(await pin.text("#cf"), "RSSMRA80A01H501U");
        assert.equal(await pin.text("#card-kind"), text("kind_cie"));
        assert.equal(await pin.visible("#pin-hint"), true, "the CIE's 8-digit PIN is explained");
        assert.equal(await pin.text("#tries"), text("triesLeft").replace("$1", "3"));
        await pin.evaluate(() => console.info("e2e-probe"));
        await until(() => s.consoleLog.some((l) => l.includes("e2e-probe")), "the PIN window's console to be captured");
        await pin.size(480, 700);
        await pin.screenshot(shot("pin"));
        await pin.type("#pin", WRONG_PIN);
        await pin.press("Enter");
        await pin.waitFor("#error:not([hidden])");
        assert.equal(await pin.text("#error"), text("pinWrong"));
        assert.equal(await pin.text("#tries"), text("triesLeft").replace("$1", "2"), "the tries left are shown");
        assert.equal(await pin.attr("body", "data-state"), "input");
        await pin.screenshot(shot("pin-wrong"));
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        const r = await loginResult(page);
        assert.equal(r.welcome, "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)", `login failed: ${r.error}`);
        await until(() => pin.closed(), "the PIN window to close");
        await page.screenshot(shot("welcome"));
        assert.match(hostLog(profile), /started the eidlink service/, "the dev profile's host starts its own service");
        assert.match(serviceLog(profile), /command done/, "the profile's service ran the login");
      }),
    );

    test(
      "the PIN never reaches the page: DOM, messages, storage, cookies",
      check(async () => {
        const state = await page.evaluate(() =>
          JSON.stringify({
            html: document.documentElement.outerHTML,
            seen: /** @type {any} */ (window).seen,
            local: { ...localStorage },
            session: { ...sessionStorage },
            cookie: document.cookie,
            name: window.name,
            globals: Object.keys(window),
          }),
        );
        assert.match(state, /web-eid:authenticate-success/, "the recorder saw the exchange");
        for (const p of [CIE_PIN, WRONG_PIN]) assert.ok(!state.includes(p), `the PIN ${p} is visible to the page`);
        await page.close();
      }),
    );

    test(
      "a page speaking only the Web eID postMessage protocol (no eidlink.js) authenticates",
      check(async () => {
        const raw = await s.newPage();
        await raw.goto(demo.origin + "/cie-idp.html");
        assert.equal(await raw.evaluate(() => "eidlink" in window || [...document.scripts].some((x) => x.src.includes("eidlink"))), false);
        /** @type {Promise<any>} */
        let result = Promise.resolve();
        const pin = await s.pinWindow(async () => {
          result = raw.evaluate(async () => {
            const { nonce } = await (await fetch("/api/challenge", { method: "POST" })).json();
            const t0 = performance.now();
            /** @type {{action: string, at: number}[]} */
            const events = [];
            const reply = new Promise((resolve) =>
              addEventListener("message", (e) => {
                if (e.source !== window || typeof e.data?.action !== "string" || !e.data.action.startsWith("web-eid:authenticate-")) return;
                events.push({ action: e.data.action, at: performance.now() - t0 });
                if (!e.data.action.endsWith("-ack")) resolve(e.data);
              }),
            );
            window.postMessage({ action: "web-eid:authenticate", libraryVersion: "2.1.0", challengeNonce: nonce, options: { lang: "en" } }, "*");
            const { action, ...token } = /** @type {any} */ (await reply);
            const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(token) });
            return { events, action, login: await res.json() };
          });
        });
        assert.equal(await pin.text("#heading"), text("pinHeadingAuth", "en"), "the page's lang option reaches the PIN window");
        await pin.type("#pin", CIE_PIN);
        await pin.press("Enter");
        const r = await result;
        assert.equal(r.action, "web-eid:authenticate-success");
        assert.equal(r.login.welcome, "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)");
        assert.equal(r.events[0].action, "web-eid:authenticate-ack");
        assert.ok(r.events[0].at < 1000, `ack after ${r.events[0].at} ms`);
        await raw.close();
      }),
    );

    test(
      "with a PIN window open: popup and options load, storage holds no PIN; Cancel gives USER_CANCELLED",
      check(async () => {
        page = await openDemo();
        await recordErrors(page);
        const pin = await s.pinWindow(() => page.click("#cie-login"));
        const stored = JSON.stringify(await s.storage(pin));
        for (const p of [CIE_PIN, CNS_PIN, WRONG_PIN]) assert.ok(!stored.includes(p), `the PIN is in the extension's storage: ${stored}`);
        const popup = await s.extensionPage("popup/popup.html", pin);
        await popup.waitFunction(() => document.body.dataset.state && document.body.dataset.state !== "loading");
        assert.equal(await popup.attr("body", "data-state"), "ready");
        assert.match(String(await popup.text("#host-version")), /^eidlink-host \d+\.\d+\.\d+/);
        assert.ok(String(await popup.text("#host-version")).endsWith(`(${text("popupModeService")})`), String(await popup.text("#host-version")));
        assert.equal(await popup.visible("#pkcs11-install"), kind === "firefox", "the PKCS#11 button is Firefox's only");
        assert.match(String(await popup.text("#cards")), /MARIO ROSSI/);
        await popup.size(400, 560);
        await popup.screenshot(shot("popup"));
        const options = await s.extensionPage("options/options.html", pin);
        await options.waitFor("#devMode");
        assert.equal(await options.visible("#language"), true);
        await popup.close();
        await options.close();
        await pin.click("#cancel");
        const r = await loginResult(page);
        assert.ok(r.error?.includes(errorText("ERR_WEBEID_USER_CANCELLED")) && r.error.includes("[ERR_WEBEID_USER_CANCELLED]"), String(r.error));
        await until(() => pin.closed(), "the PIN window to close");
        await page.close();
      }),
    );

    test(
      "with `eidlink service run` up, the CIE login goes through the service",
      check(async () => {
        const env = hostEnv(profile);
        delete env.EIDLINK_CONFIG_DIR; // the service of XDG_RUNTIME_DIR below, not the profile's own
        delete env.EIDLINK_RUNTIME_DIR;
        Object.assign(env, { HOME: process.env.HOME ?? work, XDG_RUNTIME_DIR: path.join(work, "run"), XDG_CONFIG_HOME: path.join(work, "config") });
        fs.mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
        const svc = await startService(env);
        const logFrom = hostLog(profile).length;
        try {
          setHostEnv(profile, env);
          page = await openDemo();
          const pin = await s.pinWindow(() => page.click("#cie-login"));
          const popup = await s.extensionPage("popup/popup.html", pin);
          await popup.waitFunction(() => document.body.dataset.state && document.body.dataset.state !== "loading");
          assert.ok(String(await popup.text("#host-version")).endsWith(`(${text("popupModeService")})`), String(await popup.text("#host-version")));
          await popup.close();
          await pin.type("#pin", CIE_PIN);
          await pin.press("Enter");
          const r = await loginResult(page);
          assert.equal(r.welcome, "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)", `login failed: ${r.error}`);
          await page.close();
          assert.ok((svc.log().match(/host connected/g) ?? []).length >= 2, `the service saw no hosts: ${svc.log()}`);
          assert.doesNotMatch(hostLog(profile).slice(logFrom), /started the eidlink service/);
        } finally {
          await svc.stop();
          profile = devProfile(kind, dir, { host: "real", cardDir: cards.cie.dir });
        }
      }),
    );

    if (kind === "chromium") {
      test(
        "eidlink install --user in a fresh HOME: the login works with nothing else; uninstall leaves the directories as they were",
        check(async () => {
          const home = path.join(work, "home");
          const userDataDir = path.join(home, "chromium");
          fs.mkdirSync(userDataDir, { recursive: true });
          const card = hostEnv(profile);
          const env = { PATH: process.env.PATH ?? "", HOME: home, SOFTHSM2_CONF: card.SOFTHSM2_CONF, EIDLINK_PKCS11_MODULE: card.EIDLINK_PKCS11_MODULE };
          const before = tree(home);
          eidlinkWith(env, "install", "--user", "--user-data-dir", userDataDir);
          const installed = tree(home).filter((p) => !before.includes(p));
          assert.ok(installed.some((p) => p.endsWith(" chromium/NativeMessagingHosts/it.eidlink.host.json")), `installed:\n${installed.join("\n")}`);
          eidlinkWith(env, "uninstall", "--user"); // what install recorded
          assert.deepEqual(tree(home), before, "uninstall right after install");
          eidlinkWith(env, "install", "--user", "--user-data-dir", userDataDir);
          const b = await Session.launch({ ...profile, dir: userDataDir }, { env });
          try {
            const page = await b.newPage();
            await page.goto(demo.origin + "/");
            await page.waitFor('#eidlink-status[data-eidlink-state="ready"]');
            const pin = await b.pinWindow(() => page.click("#cie-login"));
            await pin.type("#pin", CIE_PIN);
            await pin.press("Enter");
            const r = await loginResult(page);
            assert.equal(r.welcome, "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)", `login failed: ${r.error}`);
          } finally {
            await b.close();
            eidlinkWith(env, "service", "stop"); // the one the installed host started
          }
          eidlinkWith(env, "uninstall", "--user"); // what install recorded
          // What install made is gone, but for directories the browser put its own files in (~/.local).
          const after = tree(home);
          const name = (/** @type {string} */ e) => e.slice(e.indexOf(" ") + 1);
          const kept = (/** @type {string} */ d) => d.startsWith("d") && after.some((q) => name(q).startsWith(name(d) + "/") && !installed.includes(q));
          assert.deepEqual(after.filter((p) => installed.includes(p) && !kept(p)), [], "uninstall after the browser ran");
        }),
      );
    }

    if (kind === "firefox") {
      test(
        "after eidlink install --user, the popup's button loads eidlink's module into Firefox and the card is listed",
        check(async () => {
          eidlinkWith({ PATH: process.env.PATH ?? "", HOME: profile.dir }, "install", "--user", "--parts", "pkcs11");
          assert.ok(fs.existsSync(path.join(profile.dir, ".mozilla/pkcs11-modules/eidlink.json")), "install wrote the module's manifest");
          page = await openDemo();
          const pin = await s.pinWindow(() => page.click("#cie-login"));
          const popup = await s.extensionPage("popup/popup.html", pin);
          await popup.waitFunction(() => document.body.dataset.state && document.body.dataset.state !== "loading");
          await popup.click("#pkcs11-install");
          await popup.waitFunction(() => document.querySelector("#pkcs11-result")?.textContent);
          const result = String(await popup.text("#pkcs11-result"));
          assert.match(String(await popup.attr("#pkcs11-result", "data-installed")), /\beidlink\b/, result);
          assert.ok(result.startsWith(text("popupPkcs11Done").split("$1")[0]), result);
          const slots = await popup.evaluate(() => /** @type {any} */ (globalThis).browser.pkcs11.getModuleSlots("eidlink"));
          assert.ok(slots.some((/** @type {any} */ x) => x.token?.name === "CIE di MARIO ROSSI"), `slots: ${JSON.stringify(slots)}`);
          await popup.close();
          await pin.click("#cancel");
          const r = await loginResult(page);
          assert.ok(r.error?.includes("[ERR_WEBEID_USER_CANCELLED]"), String(r.error));
          await page.close();
        }),
      );
    }

    describe("site helper on independent MyINPS replicas (e2e/replicas)", () => {
      /** @type {{origin: string, close: () => void}} */
      let replicas;
      before(async () => (replicas = await serveStatic(path.join(extRoot, "e2e", "replicas"))));
      after(() => replicas?.close());

      /**
       * @typedef {object} Replica
       * @property {string} file
       * @property {string} name
       * @property {string} tab       the CIE tab the helper must find (open shadow roots searched)
       * @property {string} selected  the CIE tab once the page shows it selected
       * @property {string} login     the CIE login button once its tab is open
       * @property {string} [enter]   clicked first (client-side navigation to the login view)
       * @property {string} [after]   what the badge must follow (placement)
       */
      /** @type {Replica[]} */
      const cases = [
        { file: "table-tabs.html", name: "tabs as numbered table cells with icons and extra words, one login button shown", tab: "#scheda-3", selected: "#scheda-3.sel", login: "#entra-cie", after: "table#schede" },
        { file: "shadow-late.html", name: "tabs in nested open shadow roots, rendered by a script 1.5 s after load", tab: "#tab-cie", selected: '#tab-cie[aria-selected="true"]', login: '#login[data-kind="cie"]', after: "[role=tablist]" },
        { file: "spa.html", name: "login view swapped in by history.pushState after the user's click", tab: "#tab-cie", selected: "#tab-cie.active", login: "#login-cie", enter: "#enter", after: "div.tabs" },
        { file: "aria-list.html", name: "role=tab buttons in a list, labels with extra words and an icon", tab: "#t-cie", selected: '#t-cie[aria-selected="true"]', login: "#login-cie", after: "ul#nav" },
        { file: "layout.html", name: "layout table and flex rows: the badge breaks neither", tab: "#l-cie", selected: "#l-cie.current", login: "#login-cie", after: "div#bar" },
      ];
      /**
       * deep runs a query in the page across open shadow roots: the
       * element's attribute name, "visible", "after" (the badge follows
       * sel2) or "exists".
       * @param {import("./harness.mjs").Page} p
       * @param {string} sel
       * @param {string} what
       * @param {string} [sel2]
       */
      const deep = (p, sel, what, sel2 = "") =>
        p.evaluate(
          ([s, w, s2]) => {
            const el = /** @type {any} */ (window).deepAll(s)[0];
            if (w === "exists") return !!el;
            if (!el) return null;
            if (w === "visible") return el.getClientRects().length > 0;
            if (w === "after") return el.previousElementSibling?.matches(s2) ? "yes" : `after ${el.previousElementSibling?.outerHTML.slice(0, 80)}, in ${el.parentNode?.nodeName}`;
            return el.getAttribute(w);
          },
          [sel, what, sel2],
        );
      for (const c of cases) {
        test(
          `${c.file}: ${c.name}`,
          check(async () => {
            const p = await s.newPage();
            await p.goto(`${replicas.origin}/${c.file}`);
            if (c.enter) {
              await p.click(c.enter);
              await p.waitFunction(() => location.pathname === "/spa/accesso");
            }
            const badge = '#eidlink-status[data-eidlink-state="ready"]';
            try {
              await p.waitFunction((sel) => /** @type {any} */ (window).deepAll(sel).length > 0, badge, 15_000);
            } catch (e) {
              throw new Error(`no ready badge on ${c.file}: ${await deep(p, "#eidlink-status", "data-eidlink-state")}`, { cause: e });
            }
            assert.equal(await deep(p, "#eidlink-status", "data-eidlink-card"), "cie");
            assert.equal(await deep(p, c.tab, "data-eidlink-tab"), "cie", "the CIE tab is recognised");
            await p.waitFunction((sel) => /** @type {any} */ (window).deepAll(sel).length > 0, `${c.selected}[data-eidlink-preselected="true"]`);
            await p.waitFunction((sel) => /** @type {any} */ (window).deepAll(sel).length > 0, `${c.login}[data-eidlink-login="cie"]`);
            assert.equal(await deep(p, c.login, "visible"), true, "the CIE login button shows");
            assert.equal(await deep(p, "#eidlink-status", "after", c.after), "yes", "the badge's place");
            const layout = await p.evaluate(() => ({ before: /** @type {any} */ (window).layoutBefore, now: /** @type {any} */ (window).measure() }));
            assert.ok(layout.before?.tabs.length >= 3, `layout measured: ${JSON.stringify(layout)}`);
            assert.deepEqual(layout.now, layout.before, "table columns and tab boxes unchanged by the badge");
            await p.screenshot(shot(`replica-${c.file.replace(".html", "")}`));
            await p.close();
          }),
        );
      }
    });

    test(
      "CIE identity provider replica: the badge offers to continue on the computer",
      check(async () => {
        const idp = await openDemo("/cie-idp.html");
        await idp.waitFor('#eidlink-status[data-eidlink-offer="continue"]');
        assert.equal(await idp.attr("#eidlink-status", "data-eidlink-profile"), "cie-idp");
        assert.equal(await idp.attr('[data-eidlink-continue="cie"]', "href"), "/?via=pc#cie");
        await idp.screenshot(shot("idp"));
        await idp.close();
      }),
    );

    test(
      "CNS login: the helper preselects the CNS tab and the holder logs in",
      check(async () => {
        profile = devProfile(kind, dir, { host: "real", cardDir: cards.cns.dir });
        page = await openDemo();
        // The badge may show the last status first: the switched card's comes once the
        // profile's service, stopped by dev-profile, is started again with the CNS.
        await page.waitFor('#eidlink-status[data-eidlink-card="cns"]');
        await page.waitFor('#tab-cns[data-eidlink-preselected="true"][aria-selected="true"]');
        const pin = await s.pinWindow(() => page.click("#cns-login"));
        assert.equal(await pin.text("#card-kind"), text("kind_cns"));
        assert.equal(await pin.text("#holder"), "ANNA BIANCHI");
        await pin.type("#pin", CNS_PIN);
        await pin.press("Enter");
        const r = await loginResult(page);
        assert.equal(r.welcome, "Benvenuto ANNA BIANCHI (BNCNNA85M41F205Q)", `login failed: ${r.error}`);
        await page.close();
      }),
    );

    test(
      "the PIN is in no log: host stderr (debug level) and every console",
      check(async () => {
        const log = hostLog(profile) + serviceLog(profile);
        assert.match(log, /command done/, "the service logged its commands");
        for (const p of [CIE_PIN, CNS_PIN, WRONG_PIN]) {
          assert.ok(!log.includes(p), `the PIN is in the host's or the service's log ${profile.log}`);
          assert.ok(!s.consoleLog.some((l) => l.includes(p)), "the PIN is in a console message");
        }
      }),
    );

    describe("mock host: every error path shows the right message on the page", () => {
      /**
       * @typedef {object} Case
       * @property {string} scenario      mock scenario, or "no-host"
       * @property {string} badge         the helper's state on the page
       * @property {string} [code]        Web eID code the page gets
       * @property {string} [eidlinkCode] eidlink's finer code
       * @property {(pin: import("./harness.mjs").Page) => Promise<void>} [pin] drives the PIN window
       * @property {boolean} [welcome]    the login succeeds
       * @property {string} [name]        the test's name, when not the scenario's
       */
      const right = async (/** @type {import("./harness.mjs").Page} */ pin) => {
        await pin.type("#pin", cards.mock.pin ?? "");
        await pin.press("Enter");
      };
      /** @type {Case[]} */
      const cases = [
        { scenario: "no-host", badge: "no-host", code: "ERR_WEBEID_NATIVE_UNAVAILABLE" },
        { scenario: "wrong-version", badge: "no-host", code: "ERR_WEBEID_VERSION_MISMATCH" },
        { scenario: "no-reader", badge: "no-reader", code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_NO_READER" },
        { scenario: "no-card", badge: "no-card", code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_NO_CARD" },
        { scenario: "no-module", badge: "no-module", code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_NO_MODULE" },
        { scenario: "pin-blocked", badge: "pin-blocked", code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_PIN_BLOCKED" },
        {
          scenario: "ok",
          name: "ok, the user cancels",
          badge: "ready",
          code: "ERR_WEBEID_USER_CANCELLED",
          pin: (pin) => pin.click("#cancel"),
        },
        { scenario: "card-removed", badge: "ready", code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_CARD_REMOVED", pin: right },
        { scenario: "crash", badge: "ready", code: "ERR_WEBEID_NATIVE_UNAVAILABLE", pin: right },
        {
          scenario: "timeout",
          badge: "ready",
          code: "ERR_WEBEID_USER_TIMEOUT",
          pin: async (pin) => assert.equal(await pin.attr("body", "data-state"), "input"),
        },
        {
          scenario: "last-try",
          badge: "ready",
          code: "ERR_WEBEID_NATIVE_FATAL",
          eidlinkCode: "ERR_EIDLINK_PIN_BLOCKED",
          pin: async (pin) => {
            assert.equal(await pin.visible("#last-try-warning"), true, "the last try is announced");
            await pin.size(480, 700);
            await pin.screenshot(shot("pin-last-try"));
            await pin.type("#pin", WRONG_PIN);
            await pin.press("Enter");
          },
        },
        {
          scenario: "wrong-pin-once",
          badge: "ready",
          welcome: true,
          pin: async (pin) => {
            await right(pin);
            await pin.waitFor("#error:not([hidden])");
            assert.equal(await pin.text("#tries"), text("triesLeft").replace("$1", "2"));
            await right(pin);
          },
        },
        {
          scenario: "last4",
          badge: "ready",
          welcome: true,
          pin: async (pin) => {
            assert.equal(await pin.visible("#last4-hint"), true, "only the last 4 digits are asked");
            await pin.type("#pin", (cards.mock.pin ?? "").slice(-4));
            await pin.press("Enter");
          },
        },
        {
          scenario: "card-later",
          name: "card-later: the PIN window asks for the card, then for the PIN",
          badge: "no-card",
          welcome: true,
          pin: async (pin) => {
            await pin.waitFor('body[data-state="card"]');
            assert.equal(await pin.text("#card-title"), text("cardTitleNoCard"));
            assert.equal(await pin.visible("#card-cancel"), true, "the holder can cancel the wait");
            await pin.size(480, 700);
            await pin.screenshot(shot("pin-card-wait"));
            await pin.waitFor('body[data-state="input"]'); // the card arrived
            await right(pin);
          },
        },
        {
          scenario: "pinpad",
          badge: "ready",
          welcome: true,
          pin: async (pin) => {
            assert.equal(await pin.attr("body", "data-state"), "pinpad");
            assert.equal(await pin.visible("#pinpad"), true, "type the PIN on the reader");
            await pin.size(480, 700);
            await pin.screenshot(shot("pin-pinpad"));
          },
        },
      ];
      for (const c of cases) {
        test(
          c.name ?? c.scenario,
          check(async () => {
            profile = devProfile(kind, dir, c.scenario === "no-host" ? { host: "none" } : { host: "mock", scenario: c.scenario, cardDir: mockDir });
            const page = await openDemo("/", c.badge);
            await recordErrors(page);
            if ((await page.attr("#tab-cie", "aria-selected")) !== "true") await page.click("#tab-cie");
            if (c.pin) {
              const pin = await s.pinWindow(() => page.click("#cie-login"));
              await c.pin(pin);
              const r = await loginResult(page);
              await until(() => pin.closed(), "the PIN window to close");
              if (c.welcome) assert.equal(r.welcome, "Benvenuto MARIO ROSSI (RSSMRA80A01H501U)", `login failed: ${r.error}`);
            } else {
              await page.click("#cie-login");
            }
            if (!c.welcome) {
              const r = await loginResult(page);
              const code = /** @type {string} */ (c.code);
              assert.ok(r.error?.includes(errorText(c.eidlinkCode ?? code)), `page shows "${r.error}", want the text of ${c.eidlinkCode ?? code}`);
              assert.ok(r.error?.includes(`[${code}]`), `page shows "${r.error}", want [${code}]`);
              const e = await page.evaluate(() => /** @type {any} */ (window).lastError);
              assert.equal(e.code, code);
              assert.equal(e.eidlinkCode, c.eidlinkCode);
              if (c.scenario === "wrong-version") assert.deepEqual([e.requiresUpdate, e.nativeApp], [{ extension: true, nativeApp: false }, "99.0.0"], "Web eID's VersionMismatchError fields");
              if (c.scenario === "no-card") await page.screenshot(shot("no-card"));
            }
            await page.close();
          }),
        );
      }

      if (kind === "chromium") {
        test(
          "the README example (examples/playwright-login.mjs) logs in and meets no-card",
          check(async () => {
            const out = await new Promise((resolve, reject) => {
              execFile(
                process.execPath,
                [path.join(extRoot, "e2e", "examples", "playwright-login.mjs")],
                { env: { ...process.env, SITE: demo.origin + "/#cie", EIDLINK: path.join(bin, "eidlink"), CARD_DIR: mockDir }, timeout: 60_000 },
                (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout)),
              );
            });
            assert.match(out, /^logged in: Benvenuto MARIO ROSSI \(RSSMRA80A01H501U\)$/m);
            assert.ok(out.includes(`no card: Accesso non riuscito: ${errorText("ERR_EIDLINK_NO_CARD")} [ERR_WEBEID_NATIVE_FATAL]`), out);
          }),
        );
      }

      test(
        "no console errors on extension pages",
        check(async () => {
          assert.deepEqual(s.extensionErrors, []);
        }),
      );
    });
  });
}
