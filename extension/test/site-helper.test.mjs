// The site helper on a DOM (linkedom) with a scripted background port.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHTML } from "linkedom";
import data from "../src/profiles/site-profiles.json" with { type: "json" };
import { shadowRoots } from "../src/content/profiles.js";
import { SiteHelper, unlock } from "../src/content/site-helper.js";
import { translate } from "../src/shared/i18n.js";
import { defaults } from "../src/shared/settings.js";
import { FakePort, tick, until } from "./fakes.mjs";

const D = /** @type {any} */ (data);
const REPLICA = `<h1>Entra in MyINPS</h1>
<div class="tabs" role="tablist">
  <button role="tab" id="tab-spid" aria-selected="true">SPID</button>
  <button role="tab" id="tab-cie" aria-selected="false">CIE</button>
  <button role="tab" id="tab-cns" aria-selected="false">CNS</button>
  <button role="tab" id="tab-pin" aria-selected="false">PIN INPS</button>
</div>
<section id="panel"><button id="spid-login">Entra con SPID</button>
<ul id="idp"><li><button id="aruba">Aruba ID</button></li><li><button id="poste">Poste ID</button></li><li><button id="lepida">Lepida ID</button></li></ul></section>`;
const IDP = `<h1>Scegli come proseguire</h1><a id="app" href="/app">Prosegui con smartphone</a><a id="pc" href="/?via=pc#cie">Prosegui con computer</a>`;

const token = { module: "m", slot: 0, label: "CIE", cardKind: "cie", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U", hasAuthKey: true, hasSignKey: false, triesLeft: 1, pinLocked: false, pinpad: false, minPinLength: 8, maxPinLength: 8, pinPart: "full" };
const ready = { version: "0.1.0", mode: "service", tokens: [token], readers: [{ name: "r", cardPresent: true, cardKind: "cie" }] };
const noCard = { version: "0.1.0", mode: "service", tokens: [], readers: [{ name: "r", cardPresent: false }] };

/**
 * @param {string} body
 * @param {string} profileId
 * @param {object} [settings]
 * @param {{href: string}} [loc]
 */
function setup(body, profileId, settings = {}, loc = { href: "http://127.0.0.1:8080/" }, unlock = async () => ({ action: "eidlink:unlock-success" })) {
  const { document } = parseHTML(`<!doctype html><html><body>${body}</body></html>`);
  const clicks = /** @type {string[]} */ ([]);
  for (const el of document.querySelectorAll("[role=tab]")) {
    el.addEventListener("click", () => {
      clicks.push(el.id);
      for (const t of document.querySelectorAll("[role=tab]")) t.setAttribute("aria-selected", String(t === el));
    });
  }
  for (const el of document.querySelectorAll("a,#spid-login")) el.addEventListener("click", (e) => (clicks.push(el.id), e.preventDefault?.()));
  const port = new FakePort();
  const sent = /** @type {any[]} */ ([]);
  /** @type {(() => void)[]} */
  const scans = [];
  const unlocks = /** @type {string[]} the card kinds asked for */ ([]);
  const helper = new SiteHelper({
    doc: document,
    loc,
    data: D,
    profiles: D.profiles.filter((/** @type {any} */ p) => p.id === profileId),
    settings: { ...defaults, devMode: true, locked: [], ...settings },
    t: (k, ...s) => translate("it", k, ...s),
    connect: () => port,
    send: async (m) => void sent.push(m),
    schedule: (run) => void scans.push(run),
    unlock: (card) => (unlocks.push(card), unlock()),
  });
  helper.start();
  const badge = () => /** @type {HTMLElement} */ (document.getElementById("eidlink-status"));
  const text = () => [...(badge().shadowRoot?.childNodes ?? [])].map((n) => n.textContent).join(" ");
  /** settle runs the scans the page's changes asked for, until none is left. */
  const settle = async () => {
    for (let i = 0; i < 20; i++) {
      await tick(); // MutationObserver callbacks
      const run = scans.shift();
      if (!run) return;
      run();
    }
    throw new Error("the helper keeps scanning");
  };
  return { document, helper, port, clicks, sent, badge, text, settle, scans, unlocks };
}

test("replica: badge after the tabs, loading then ready; the CIE tab opens; the PIN tab is marked retired", () => {
  const { document, port, clicks, badge, text } = setup(REPLICA, "myinps");
  assert.equal(badge().previousElementSibling?.getAttribute("role"), "tablist", "badge right after the tabs");
  assert.equal(badge().getAttribute("data-eidlink-state"), "loading");
  assert.equal(document.getElementById("tab-cie")?.getAttribute("data-eidlink-tab"), "cie");
  assert.equal(document.getElementById("spid-login")?.getAttribute("data-eidlink-login"), "spid");
  assert.equal(document.getElementById("tab-pin")?.getAttribute("data-eidlink-retired"), "true");
  assert.match(text(), /1° ottobre 2021/);
  port.receive({ type: "status", status: ready });
  assert.equal(badge().getAttribute("data-eidlink-state"), "ready");
  assert.equal(badge().getAttribute("data-eidlink-card"), "cie");
  assert.match(text(), /CIE di MARIO ROSSI pronta/);
  assert.match(text(), /RSSMRA80A01H501U/);
  assert.match(text(), /resta un solo tentativo/);
  assert.deepEqual(clicks, ["tab-cie"]);
  assert.equal(document.getElementById("tab-cie")?.getAttribute("data-eidlink-preselected"), "true");
  port.receive({ type: "status", status: ready });
  assert.deepEqual(clicks, ["tab-cie"], "preselection happens once");
  assert.ok(!clicks.includes("spid-login"), "never a login button");
});

test("no card: says what to do, selects nothing; after the user acted, nothing is clicked", () => {
  const { port, clicks, badge, text, document, helper } = setup(REPLICA, "myinps");
  port.receive({ type: "status", status: noCard });
  assert.equal(badge().getAttribute("data-eidlink-state"), "no-card");
  assert.match(text(), /appoggia la CIE/);
  assert.deepEqual(clicks, []);
  helper.userActed = true; // a real (trusted) click or key press on the page
  port.receive({ type: "status", status: ready });
  assert.deepEqual(clicks, []);
  assert.equal(document.getElementById("tab-cie")?.getAttribute("aria-selected"), "false");
});

test("host missing: no-host with the doctor hint", () => {
  const { port, badge, text } = setup(REPLICA, "myinps");
  port.receive({ type: "status", status: null, error: "ERR_WEBEID_NATIVE_UNAVAILABLE" });
  assert.equal(badge().getAttribute("data-eidlink-state"), "no-host");
  assert.match(text(), /eidlink doctor/);
});

test("SPID: the remembered provider is marked and focused, never clicked; a choice is remembered when opted in", () => {
  const { document, clicks, sent, text } = setup(REPLICA, "myinps", { spidMemory: true, spidProvider: "poste" });
  const poste = document.getElementById("poste");
  assert.equal(poste?.getAttribute("data-eidlink-spid"), "poste");
  assert.equal(poste?.getAttribute("data-eidlink-spid-preferred"), "true");
  assert.ok(!clicks.includes("poste"));
  assert.match(text(), /gestore SPID abituale: PosteID/);
  document.getElementById("lepida")?.click();
  assert.deepEqual(sent, [{ type: "spid-remember", provider: "lepida" }]);
});

test("SPID memory off: nothing remembered, nothing marked", () => {
  const { document, sent } = setup(REPLICA, "myinps", { spidMemory: false, spidProvider: "poste" });
  document.getElementById("lepida")?.click();
  assert.deepEqual(sent, []);
  assert.equal(document.getElementById("poste")?.hasAttribute("data-eidlink-spid-preferred"), false);
});

const IDP_HOST = { href: "https://idserver.servizicie.interno.gov.it/idp/login" };
const INPS_HOST = { href: "https://www.inps.it/it/it.html" };

test("CIE IdP: 'continue on this computer' offered only with a ready CIE, clicked only by the user", async () => {
  const { port, clicks, badge, document, unlocks } = setup(IDP, "cie-idp", {}, IDP_HOST);
  const action = () => /** @type {HTMLElement} */ (badge().shadowRoot?.getElementById("eidlink-action"));
  port.receive({ type: "status", status: noCard });
  assert.equal(badge().hasAttribute("data-eidlink-offer"), false);
  assert.equal(action().hidden, true);
  port.receive({ type: "status", status: ready });
  assert.equal(badge().getAttribute("data-eidlink-offer"), "continue");
  assert.equal(action().textContent, "Prosegui con questo computer");
  assert.deepEqual(clicks, [], "not clicked on its own");
  assert.equal(document.getElementById("pc")?.getAttribute("data-eidlink-continue"), "cie");
  action().click();
  await until(() => clicks.length);
  assert.deepEqual(clicks, ["pc"], "clicked once the card is unlocked");
  assert.equal(unlocks.length, 1);
});

test("outside developer mode the badge's shadow root is closed: the page cannot read the holder", () => {
  const { badge, port } = setup(REPLICA, "myinps", { devMode: false });
  port.receive({ type: "status", status: ready });
  assert.equal(badge().shadowRoot, null);
  assert.equal(badge().getAttribute("data-eidlink-state"), "ready");
  assert.ok(!badge().outerHTML.includes("MARIO"));
});

test("unknown markup: the helper stays silent and does not throw", () => {
  const { badge, port } = setup(`<div><<p>ciao</div><svg><text>SPID</text></svg>`, "myinps");
  assert.equal(badge(), null);
  assert.equal(port.sent.length, 0, "no host connection for pages it does not know");
});

const TABLE = `<h1>Entra in MyINPS</h1>
<table id="login-table"><tbody><tr>
  <td id="tab-pin" class="tab selected"><span>1</span> PIN</td>
  <td id="tab-spid" class="tab"><span>2</span> SPID</td>
  <td id="tab-cie" class="tab"><span>3</span> CIE <small>Carta d'Identità Elettronica</small></td>
  <td id="tab-cns" class="tab"><span>4</span> CNS</td>
</tr></tbody></table>
<div id="panels"><button id="login-pin">Entra con PIN</button><button id="login-cie" style="display: none">Entra con CIE</button></div>`;

test("table replica: the CIE cell is preselected, the badge sits after the table, the login shown then is marked", async () => {
  const { document, port, badge, settle } = setup(TABLE, "myinps");
  const clicked = /** @type {string[]} */ ([]);
  for (const td of document.querySelectorAll("td")) {
    td.addEventListener("click", () => {
      clicked.push(td.id);
      /** @type {HTMLElement} */ (document.getElementById("login-pin")).setAttribute("style", "display: none");
      /** @type {HTMLElement} */ (document.getElementById("login-cie")).removeAttribute("style");
    });
  }
  assert.equal(badge().previousElementSibling?.id, "login-table", "after the whole table");
  assert.equal(document.querySelector("tr")?.children.length, 4, "no cell added");
  port.receive({ type: "status", status: ready });
  assert.deepEqual(clicked, ["tab-cie"]);
  await settle();
  assert.equal(document.getElementById("login-cie")?.getAttribute("data-eidlink-login"), "cie");
});

test("late rendering in nested open shadow roots: found once rendered, changes inside them are watched", async () => {
  const { document, port, settle, clicks } = setup(`<main id="app"></main>`, "myinps");
  const deep = (/** @type {string} */ sel) => {
    const roots = [document, ...shadowRoots(document)];
    for (const r of roots) {
      const el = r.querySelector(sel);
      if (el) return el;
    }
    return null;
  };
  assert.equal(deep("#eidlink-status"), null);
  const shell = document.createElement("login-shell");
  const outer = shell.attachShadow({ mode: "open" });
  outer.innerHTML = `<h2>Entra in MyINPS</h2><login-tabs></login-tabs>`;
  const inner = /** @type {Element} */ (outer.querySelector("login-tabs")).attachShadow({ mode: "open" });
  inner.innerHTML = `<div role="tablist" id="tl"><button role="tab" id="t-spid">SPID</button><button role="tab" id="t-cie">CIE</button></div><div id="panel"></div>`;
  /** @type {Element} */ (document.getElementById("app")).append(shell);
  await settle();
  assert.equal(deep("#eidlink-status")?.previousElementSibling?.id, "tl", "the badge is next to the tabs, inside their shadow root");
  assert.equal(inner.querySelector("#t-cie")?.getAttribute("data-eidlink-tab"), "cie");
  /** @type {Element} */ (inner.querySelector("#panel")).innerHTML = `<button id="go">Entra con CIE</button>`;
  await settle();
  assert.equal(inner.querySelector("#go")?.getAttribute("data-eidlink-login"), "cie", "a change inside the inner shadow root was seen");
  for (const el of inner.querySelectorAll("[role=tab]")) el.addEventListener("click", () => clicks.push(el.id));
  port.receive({ type: "status", status: ready });
  assert.deepEqual(clicks, ["t-cie"]);
});

test("client-side navigation: the login view swapped in after the user's click gets its preselection; leaving it removes the badge", async () => {
  const loc = { href: "http://127.0.0.1:8080/" };
  const { document, helper, port, settle, badge } = setup(`<main id="app"><button id="enter">Entra in MyINPS</button></main>`, "myinps", {}, loc);
  assert.equal(badge(), null);
  helper.acted(/** @type {any} */ ({ isTrusted: true })); // the user's click on "Entra in MyINPS"
  loc.href = "http://127.0.0.1:8080/accesso"; // history.pushState
  const app = /** @type {Element} */ (document.getElementById("app"));
  app.innerHTML = REPLICA;
  const clicked = /** @type {string[]} */ ([]);
  document.getElementById("tab-cie")?.addEventListener("click", () => clicked.push("tab-cie"));
  await settle();
  port.receive({ type: "status", status: ready });
  assert.equal(badge()?.getAttribute("data-eidlink-state"), "ready");
  assert.deepEqual(clicked, ["tab-cie"], "preselected on the new view");
  app.innerHTML = `<p>Prestazioni</p>`;
  await settle();
  assert.equal(badge(), null, "no badge without the login view");
});

test("a click on the login view before the helper saw it still counts: nothing preselected", async () => {
  const loc = { href: "http://127.0.0.1:8080/" };
  const { document, helper, port, settle } = setup(`<main id="app"></main>`, "myinps", {}, loc);
  helper.acted(/** @type {any} */ ({ isTrusted: true }));
  /** @type {Element} */ (document.getElementById("app")).innerHTML = REPLICA;
  const clicked = /** @type {string[]} */ ([]);
  document.getElementById("tab-cie")?.addEventListener("click", () => clicked.push("tab-cie"));
  await settle();
  port.receive({ type: "status", status: ready });
  assert.deepEqual(clicked, []);
});

test("policy not read yet: the badge shows, nothing is clicked or focused until it is; a policy turning the helper off leaves the page as found", () => {
  const { document, helper, port, badge } = setup(REPLICA, "myinps", { pending: true, spidMemory: true, spidProvider: "poste" });
  const clicked = /** @type {string[]} */ ([]);
  document.getElementById("tab-cie")?.addEventListener("click", () => clicked.push("tab-cie"));
  port.receive({ type: "status", status: ready });
  assert.equal(badge().getAttribute("data-eidlink-state"), "ready");
  assert.equal(badge().shadowRoot, null, "closed until the policy allows developer mode");
  assert.deepEqual(clicked, []);
  assert.equal(document.getElementById("poste")?.hasAttribute("data-eidlink-spid-preferred"), false);
  helper.applyPolicy({ ...defaults, devMode: true, locked: [], spidMemory: true, spidProvider: "poste" });
  assert.deepEqual(clicked, ["tab-cie"]);
  assert.equal(document.getElementById("poste")?.getAttribute("data-eidlink-spid-preferred"), "true");

  const off = setup(REPLICA, "myinps", { pending: true });
  off.port.receive({ type: "status", status: noCard });
  assert.ok(off.badge());
  off.helper.applyPolicy({ ...defaults, helper: false, locked: ["helper"] });
  assert.equal(off.badge(), null, "badge gone");
  assert.equal(off.document.querySelector("[data-eidlink-tab],[data-eidlink-login],[data-eidlink-retired]"), null, "marks gone");
  assert.equal(off.port.connected, false, "status watch closed");
});

/**
 * userClick is the user's click on el as the capture listener gets it
 * (linkedom has no capture phase): it records what the helper did to it.
 * @param {Element} el
 * @param {boolean} [trusted]
 */
function userClick(el, trusted = true) {
  const e = { isTrusted: trusted, target: el, prevented: false, stopped: false };
  return Object.assign(e, { composedPath: () => [el], preventDefault: () => (e.prevented = true), stopImmediatePropagation: () => (e.stopped = true) });
}

/** deferred is a promise with its resolve. */
function deferred() {
  /** @type {(v: any) => void} */
  let resolve = () => {};
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

const CNS = `<h1>Entra in MyINPS</h1>
<div class="tabs" role="tablist">
  <button role="tab" id="tab-spid" aria-selected="false">SPID</button>
  <button role="tab" id="tab-cie" aria-selected="false">CIE</button>
  <button role="tab" id="tab-cns" aria-selected="true">CNS</button>
</div>
<form id="cns-form" action="/cns"><button id="procedi" type="submit"><span>Procedi</span></button></form>`;

test("TLS login: the user's click on 'Prosegui con computer' is held until unlocked, then the site and the link see one click", async () => {
  const d = deferred();
  const { document, helper, port, clicks, unlocks, text } = setup(IDP, "cie-idp", {}, IDP_HOST, () => d.promise);
  port.receive({ type: "status", status: ready });
  const pc = /** @type {Element} */ (document.getElementById("pc"));
  const first = userClick(pc);
  helper.held(/** @type {any} */ (first));
  assert.ok(first.prevented && first.stopped, "the site sees nothing of the held click");
  assert.deepEqual(unlocks, ["cie"], "the card of the control clicked");
  assert.match(text(), /Inserisci il PIN nella finestra di eidlink/);
  const again = userClick(pc);
  helper.held(/** @type {any} */ (again));
  assert.ok(again.prevented && again.stopped, "a second click while the PIN window is open is held too");
  assert.equal(unlocks.length, 1, "one unlock at a time");
  assert.deepEqual(clicks, []);
  d.resolve({ action: "eidlink:unlock-success", unlocked: { expiresIn: 60, signatures: 4, cardKind: "cie" } });
  await until(() => clicks.length);
  assert.deepEqual(clicks, ["pc"], "the same control, clicked once more");
  assert.doesNotMatch(text(), /Inserisci il PIN/);
});

test("TLS login: a page script's click is not held; the app option is no unlock control", () => {
  const { document, helper, port, unlocks } = setup(IDP, "cie-idp", {}, IDP_HOST);
  port.receive({ type: "status", status: ready });
  const synthetic = userClick(/** @type {Element} */ (document.getElementById("pc")), false);
  helper.held(/** @type {any} */ (synthetic));
  const app = userClick(/** @type {Element} */ (document.getElementById("app")));
  helper.held(/** @type {any} */ (app));
  assert.equal(synthetic.prevented || app.prevented, false);
  assert.equal(unlocks.length, 0);
});

test("TLS login: INPS CNS 'Procedi' (a form button, clicked on its inner text) is held and then submitted by the same button", async () => {
  const { document, helper, unlocks } = setup(CNS, "myinps", {}, INPS_HOST);
  const button = /** @type {Element} */ (document.getElementById("procedi"));
  assert.equal(button.getAttribute("data-eidlink-login"), "cns");
  const seen = /** @type {string[]} */ ([]);
  button.addEventListener("click", (e) => seen.push(/** @type {any} */ (e).defaultPrevented ? "prevented" : "click"));
  const e = userClick(/** @type {Element} */ (button.querySelector("span")));
  helper.held(/** @type {any} */ (e));
  assert.ok(e.prevented);
  await until(() => seen.length);
  assert.deepEqual(seen, ["click"]);
  assert.deepEqual(unlocks, ["cns"], "the card of the control clicked");
});

test("TLS login: cancel, a wrong-PIN block or several cards keep the click and says why and how to retry; no host lets it go on", async () => {
  for (const [error, want, clicked] of /** @type {const} */ ([
    [{ code: "ERR_WEBEID_USER_CANCELLED" }, /Hai annullato il PIN.*fai di nuovo clic su «Prosegui con computer»/, false],
    [{ code: "ERR_WEBEID_USER_TIMEOUT" }, /non è arrivato in tempo.*di nuovo clic/, false],
    [{ code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_PIN_BLOCKED" }, /PIN è bloccato/i, false],
    [{ code: "ERR_WEBEID_NATIVE_INVALID_ARGUMENT", eidlinkCode: "ERR_EIDLINK_CARD_AMBIGUOUS" }, /non è partito: Sono inserite più carte.*Togli dai lettori le carte che non servono.*eidlink unlock --card.*di nuovo clic su «Prosegui con computer»/, false],
    [{ code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_UNKNOWN_COMMAND" }, null, true],
    [{ code: "ERR_WEBEID_NATIVE_UNAVAILABLE" }, null, true],
  ])) {
    const { document, helper, port, clicks, unlocks, text, badge } = setup(IDP, "cie-idp", {}, IDP_HOST, async () => ({ action: "eidlink:unlock-failure", error }));
    port.receive({ type: "status", status: ready });
    helper.held(/** @type {any} */ (userClick(/** @type {Element} */ (document.getElementById("pc")))));
    assert.equal(badge().getAttribute("data-eidlink-unlock"), "unlocking");
    await until(() => unlocks.length && !helper.holding);
    assert.deepEqual(clicks, clicked ? ["pc"] : [], JSON.stringify(error));
    if (want) assert.match(text(), want, JSON.stringify(error));
    assert.equal(badge().getAttribute("data-eidlink-unlock"), want ? (error.eidlinkCode ?? error.code) : null, "the outcome, for tests and diagnostics");
  }
});

test("a TLS login that failed is explained on the badge until one works", () => {
  const { port, text } = setup(IDP, "cie-idp");
  port.receive({ type: "status", status: ready });
  port.receive({ type: "tls-failure", failure: { reason: "refused", code: "ERR_WEBEID_USER_CANCELLED", at: 1 } });
  assert.match(text(), /Accesso con la carta annullato.*Per riprovare/);
  port.receive({ type: "tls-failure", failure: { reason: "tls13", label: "CIE di MARIO ROSSI", at: 2 } });
  assert.match(text(), /TLS 1\.3.*CIE di MARIO ROSSI.*TLS 1\.2/);
  port.receive({ type: "tls-failure", failure: null });
  assert.doesNotMatch(text(), /annullato|TLS 1\.3/);
});

test("a TLS-login site without the service: the badge says the browser will not see the card", () => {
  const noService = { version: "0.1.0", mode: "no-service", service: { running: false, reason: "dial unix: no such file" }, tokens: [], readers: [] };
  const idp = setup(IDP, "cie-idp", {}, IDP_HOST);
  idp.port.receive({ type: "status", status: noService });
  assert.match(idp.text(), /servizio di eidlink non è in esecuzione.*non vede la carta/);
  idp.port.receive({ type: "status", status: ready });
  assert.doesNotMatch(idp.text(), /non è in esecuzione/);
});

test("unlock asks over its own port with the page's language and returns the one answer; a closed port means no extension", async () => {
  const port = new FakePort();
  const p = unlock(() => port, "en-GB", "cns");
  assert.deepEqual(port.sent, [{ action: "eidlink:unlock", card: "cns", options: { lang: "en-GB" } }]);
  port.receive({ action: "eidlink:unlock-success", unlocked: { expiresIn: 60, signatures: 4, cardKind: "cie" } });
  assert.equal((await p).action, "eidlink:unlock-success");
  assert.equal(port.connected, false);
  const gone = new FakePort();
  const q = unlock(() => gone, "it", "cie");
  gone.drop();
  assert.equal((await q).error?.code, "ERR_WEBEID_NATIVE_UNAVAILABLE");
});

test("on the demo site's loopback replicas (page API logins) the login controls are not held", () => {
  for (const [body, id, sel] of /** @type {const} */ ([[IDP, "cie-idp", "pc"], [CNS, "myinps", "procedi"]])) {
    const { document, helper, port, unlocks } = setup(body, id); // http://127.0.0.1:8080/
    port.receive({ type: "status", status: ready });
    const e = userClick(/** @type {Element} */ (document.getElementById(sel)));
    helper.held(/** @type {any} */ (e));
    assert.equal(e.prevented, false, id);
    assert.equal(unlocks.length, 0, id);
  }
});
