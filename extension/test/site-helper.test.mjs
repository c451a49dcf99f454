// The site helper on a DOM (linkedom) with a scripted background port.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHTML } from "linkedom";
import data from "../src/profiles/site-profiles.json" with { type: "json" };
import { SiteHelper } from "../src/content/site-helper.js";
import { translate } from "../src/shared/i18n.js";
import { defaults } from "../src/shared/settings.js";
import { FakePort } from "./fakes.mjs";

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
const ready = { version: "0.1.0", mode: "in-process", tokens: [token], readers: [{ name: "r", cardPresent: true, cardKind: "cie" }] };
const noCard = { version: "0.1.0", mode: "in-process", tokens: [], readers: [{ name: "r", cardPresent: false }] };

/**
 * @param {string} body
 * @param {string} profileId
 * @param {object} [settings]
 */
function setup(body, profileId, settings = {}) {
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
  const helper = new SiteHelper({
    doc: document,
    loc: { href: "http://127.0.0.1:8080/" },
    data: D,
    profiles: D.profiles.filter((/** @type {any} */ p) => p.id === profileId),
    settings: { ...defaults, devMode: true, locked: [], ...settings },
    t: (k, ...s) => translate("it", k, ...s),
    connect: () => port,
    send: async (m) => void sent.push(m),
  });
  helper.start();
  const badge = () => /** @type {HTMLElement} */ (document.getElementById("eidlink-status"));
  const text = () => [...(badge().shadowRoot?.childNodes ?? [])].map((n) => n.textContent).join(" ");
  return { document, helper, port, clicks, sent, badge, text };
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

test("CIE IdP: 'continue on this computer' offered only with a ready CIE, clicked only by the user", () => {
  const { port, clicks, badge, document } = setup(IDP, "cie-idp");
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
  assert.deepEqual(clicks, ["pc"]);
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
