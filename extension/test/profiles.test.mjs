// Site profile recognition on DOM fixtures (linkedom): MyINPS-like pages in
// several markups, the CIE IdP page, SPID provider lists, odd markup.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHTML } from "linkedom";
import data from "../src/profiles/site-profiles.json" with { type: "json" };
import { commonAncestor, contains, isForbidden, label, layoutSafe, matcher, navigatesAway, profilesFor, recognize, shadowRoots, tabLabel } from "../src/content/profiles.js";

const doc = (/** @type {string} */ body, head = "") => parseHTML(`<!doctype html><html><head>${head}</head><body>${body}</body></html>`).document;
const myinps = /** @type {any} */ (data.profiles.find((p) => p.id === "myinps"));
const cieIdp = /** @type {any} */ (data.profiles.find((p) => p.id === "cie-idp"));
const D = /** @type {any} */ (data);

// A login page with Bootstrap-style link tabs and the retired PIN tab.
const BOOTSTRAP = `
<header><a href="/">INPS</a><nav><a href="/prestazioni">Prestazioni e servizi</a></nav></header>
<h2>Entra in MyINPS</h2>
<ul class="nav nav-tabs" id="login-tabs">
  <li class="active"><a href="#tab-spid" data-toggle="tab">SPID</a></li>
  <li><a href="#tab-cie" data-toggle="tab"> CIE </a></li>
  <li><a href="#tab-cns" data-toggle="tab">CNS</a></li>
  <li><a href="#tab-pin" data-toggle="tab">PIN</a></li>
</ul>
<div class="tab-content">
  <div id="tab-spid" class="tab-pane active"><a class="btn" href="/spid">Entra con SPID</a></div>
  <div id="tab-cie" class="tab-pane" style="display: none"><button>Entra con CIE</button></div>
  <div id="tab-cns" class="tab-pane" hidden><button>Procedi</button></div>
  <div id="tab-pin" class="tab-pane" hidden><input type="submit" value="Entra con PIN"></div>
</div>
<footer><p>PIN</p><a href="/privacy">Privacy</a></footer>`;

// The demo site's replica: ARIA tabs made of buttons.
const ARIA = `
<h1>Entra in MyINPS</h1>
<div class="tabs" role="tablist">
  <button role="tab" id="tab-spid" aria-selected="true">SPID</button>
  <button role="tab" id="tab-cie" aria-selected="false"><span>CIE</span></button>
  <button role="tab" id="tab-cns" aria-selected="false">CNS</button>
</div>
<section role="tabpanel"><button id="spid-login">Entra con SPID</button>
  <ul id="idp-list">
    <li><button>Aruba ID</button></li><li><button>InfoCert ID</button></li><li><button>Intesa ID</button></li>
    <li><button><img src="poste.svg" alt="Poste ID"></button></li><li><a href="/sielte" aria-label="Accedi con Sielte ID"></a></li>
    <li><button>TIM id</button></li><li><button>SpidItalia</button></li>
  </ul>
</section>`;

test("MyINPS with link tabs: tabs, visible login button, retired PIN, badge anchor", () => {
  const d = doc(BOOTSTRAP);
  const r = recognize(d, myinps, D);
  assert.ok(r);
  assert.deepEqual([...r.tabs.keys()].sort(), ["cie", "cns", "pin", "spid"]);
  assert.equal(r.tabs.get("cie")?.getAttribute("href"), "#tab-cie");
  assert.deepEqual([...r.logins.keys()], ["spid"], "hidden panels' buttons are not taken");
  assert.deepEqual(r.retired, ["pin"]);
  assert.equal(r.anchor?.id, "login-tabs");
  assert.equal(r.spid.size, 0);
});

test("MyINPS replica with ARIA tabs: tab text inside a span resolves to the button; SPID providers by text, alt and aria-label", () => {
  const d = doc(ARIA);
  const r = recognize(d, myinps, D);
  assert.ok(r);
  assert.equal(r.tabs.get("cie")?.id, "tab-cie");
  assert.equal(r.anchor?.getAttribute("role"), "tablist");
  assert.deepEqual([...r.spid.keys()].sort(), ["aruba", "infocert", "intesa", "poste", "sielte", "spiditalia", "tim"]);
  assert.equal(r.spid.get("poste")?.tagName, "BUTTON");
  assert.equal(r.spid.get("sielte")?.tagName, "A");
  assert.deepEqual(r.retired, []);
});

test("buttons only, no tabs: recognised by two login buttons", () => {
  const r = recognize(doc(`<button>Entra con SPID</button><button>Entra con CIE</button><a href="/cns">Entra con CNS</a>`), myinps, D);
  assert.ok(r);
  assert.equal(r.tabs.size, 0);
  assert.deepEqual([...r.logins.keys()].sort(), ["cie", "cns", "spid"]);
  assert.equal(r.anchor?.textContent, "Entra con SPID");
});

test("not a login page: nothing recognised", () => {
  assert.equal(recognize(doc(`<h1>Prestazioni</h1><p>CIE</p><button>Procedi</button>`), myinps, D), null);
  assert.equal(recognize(doc(`<p>SPID</p><p>CIE</p>`), cieIdp, D), null);
  assert.equal(recognize(doc(""), myinps, D), null);
});

test("CIE IdP: the computer option is found; the smartphone one is not", () => {
  const d = doc(`<h1>Scegli come proseguire</h1><a class="choice" href="/app">Prosegui con smartphone</a><a class="choice" href="/?via=pc">Prosegui con computer</a>`);
  const r = recognize(d, cieIdp, D);
  assert.ok(r);
  assert.equal(r.continues.get("cie")?.getAttribute("href"), "/?via=pc");
  for (const text of ["Prosegui da PC", "Prosegui con il computer", "PROSEGUI DA COMPUTER"]) {
    assert.ok(recognize(doc(`<button>${text}</button>`), cieIdp, D)?.continues.has("cie"), text);
  }
});

test("garbage and hostile markup never throws", () => {
  const junk = [
    `<div><<<>>><p>SPID<p>CIE</div><table><tr><td>CNS</td></table></p></div>`,
    `<svg><text>CIE</text><a>CNS</a></svg><math><mi>SPID</mi></math>`,
    `<button>${"x".repeat(5000)}</button><li>${"CIE ".repeat(1000)}</li>`,
    `<template><button>Entra con CIE</button></template><iframe srcdoc="<button>CIE</button>"></iframe>`,
    `<button aria-label="">   </button><img alt="SPID"><input type="submit"><label></label>`,
    `<div hidden><button role="tab">SPID</button><button role="tab">CIE</button></div>`,
  ];
  for (const html of junk) {
    for (const p of data.profiles) assert.doesNotThrow(() => recognize(doc(html), /** @type {any} */ (p), D), html.slice(0, 40));
  }
  const broken = { ...myinps, tabs: { cie: ["/[unclosed/", "CIE"] }, minTabs: 1 };
  assert.equal(recognize(doc(`<a>CIE</a>`), broken, D)?.tabs.size, 1, "an invalid pattern matches nothing and breaks nothing");
});

test("labels: case, accents, whitespace, curly apostrophes", () => {
  const d = doc(`<a id="a">  Carta d’Identità\n Elettronica </a><button id="b" title="Entra con CIE"></button>`);
  assert.equal(label(/** @type {Element} */ (d.getElementById("a"))), "carta d'identita elettronica");
  assert.ok(matcher(myinps.tabs.cie)(label(/** @type {Element} */ (d.getElementById("a")))));
  assert.equal(label(/** @type {Element} */ (d.getElementById("b"))), "entra con cie");
});

test("never click consent or login buttons on our own; consent never", () => {
  const d = doc(`<button id="c">Autorizza l'invio dei dati</button><button id="a">Acconsento</button><button id="e">Entra con CIE</button><button id="p">Procedi</button><button id="t">CIE</button><a id="k" href="/?via=pc">Prosegui con computer</a>`);
  const el = (/** @type {string} */ id) => /** @type {Element} */ (d.getElementById(id));
  for (const id of ["c", "a"]) {
    assert.ok(isForbidden(el(id), D, true), id);
    assert.ok(isForbidden(el(id), D, false), id);
  }
  for (const id of ["e", "p", "k"]) {
    assert.ok(isForbidden(el(id), D, true), id);
    assert.ok(!isForbidden(el(id), D, false), id);
  }
  assert.ok(!isForbidden(el("t"), D, true));
});

test("navigatesAway: in-page tabs stay, links to other pages do not", () => {
  const d = doc(`<a id="h" href="#tab-cie">CIE</a><a id="o" href="/PassiWeb/jsp/loginCIE.jsp">CIE</a><a id="s" href="?x=1#y">CIE</a><button id="b">CIE</button>`);
  const loc = { href: "https://serviziweb2.inps.it/PassiWeb/jsp/login.jsp?x=1" };
  const el = (/** @type {string} */ id) => /** @type {Element} */ (d.getElementById(id));
  assert.equal(navigatesAway(el("h"), loc), false);
  assert.equal(navigatesAway(el("s"), loc), false);
  assert.equal(navigatesAway(el("b"), loc), false);
  assert.equal(navigatesAway(el("o"), loc), true);
});

test("profilesFor: real hosts over https; loopback only with the page marker or developer mode", () => {
  const plain = doc("");
  const marked = doc("", `<meta name="eidlink-demo-profile" content="cie-idp">`);
  const ids = (/** @type {any[]} */ ps) => ps.map((p) => p.id);
  assert.deepEqual(ids(profilesFor(D, { hostname: "serviziweb2.inps.it", protocol: "https:" }, plain, false)), ["myinps"]);
  assert.deepEqual(ids(profilesFor(D, { hostname: "idserver.servizicie.interno.gov.it", protocol: "https:" }, plain, false)), ["cie-idp"]);
  assert.deepEqual(ids(profilesFor(D, { hostname: "www.inps.it", protocol: "http:" }, plain, true)), []);
  assert.deepEqual(ids(profilesFor(D, { hostname: "example.com", protocol: "https:" }, marked, true)), [], "the marker works only on loopback");
  assert.deepEqual(ids(profilesFor(D, { hostname: "127.0.0.1", protocol: "http:" }, plain, false)), []);
  assert.deepEqual(ids(profilesFor(D, { hostname: "127.0.0.1", protocol: "http:" }, marked, false)), ["cie-idp"]);
  assert.deepEqual(ids(profilesFor(D, { hostname: "localhost", protocol: "https:" }, plain, true)), ["myinps", "cie-idp"]);
});

// Tabs as table cells with numbered labels, icons and extra words; one
// login button visible at a time.
const TABLE = `
<h1>Entra in MyINPS</h1>
<table id="login-table"><tbody><tr>
  <td id="tab-pin" class="tab selected" onclick="show('pin')"><img src="pin.png" alt=""> <span class="num">1</span> PIN <small>Codice PIN INPS</small></td>
  <td id="tab-spid" class="tab" onclick="show('spid')"><svg viewBox="0 0 8 8"><title>Icona SPID</title><circle r="4"/></svg><span class="num">2</span>SPID</td>
  <td id="tab-cie" class="tab" onclick="show('cie')"><span class="material-icons">badge</span><span class="num">3</span> CIE <small>Carta d'Identità Elettronica</small></td>
  <td id="tab-cns" class="tab" onclick="show('cns')"><i class="fa fa-icon" aria-hidden="true">card</i>4. CNS</td>
</tr></tbody></table>
<div id="panels">
  <button id="login-pin">Entra con PIN</button>
  <button id="login-spid" style="display: none">Entra con SPID</button>
  <button id="login-cie" style="display: none">Entra con CIE</button>
  <button id="login-cns" style="display: none">Procedi</button>
</div>
<p>SPID, CIE e CNS sono i modi di accesso.</p>
<p><a href="/pin-dimenticato">PIN dimenticato?</a></p>`;

test("tabs as numbered table cells with icons and extra words; the badge goes after the whole table", () => {
  const r = recognize(doc(TABLE), myinps, D);
  assert.ok(r);
  assert.deepEqual(Object.fromEntries([...r.tabs].map(([k, el]) => [k, el.id])), { pin: "tab-pin", spid: "tab-spid", cie: "tab-cie", cns: "tab-cns" });
  assert.deepEqual(Object.fromEntries([...r.logins].map(([k, el]) => [k, el.id])), { pin: "login-pin" }, "the visible login button only");
  assert.deepEqual(r.retired, ["pin"]);
  assert.equal(r.anchor?.id, "login-table", "after the table, not inside it");
});

test("tab labels: numbering, icons (svg, aria-hidden, icon fonts) and word breaks between elements", () => {
  const d = doc(`<a id="a"><span>1</span>PIN</a><a id="b">2. SPID</a><a id="c">3) <svg><title>x</title></svg>CIE</a><a id="e">04 - CNS</a>
    <a id="f"><span class="material-icons">credit_card</span><span>CIE</span><span>Carta di Identità Elettronica</span></a><a id="g">Carta d'<b>Identità</b> Elettronica</a>`);
  const l = (/** @type {string} */ id) => tabLabel(label(/** @type {Element} */ (d.getElementById(id))));
  assert.deepEqual(["a", "b", "c", "e", "f", "g"].map(l), ["pin", "spid", "cie", "cns", "cie carta di identita elettronica", "carta d'identita elettronica"]);
  assert.ok(matcher(myinps.tabs.cie)(l("f")));
  assert.ok(matcher(myinps.tabs.cie)(l("g")));
  assert.ok(matcher(myinps.tabs.cns)(l("e")));
});

test("only something a person clicks is a tab: text in paragraphs and headings is not", () => {
  const r = recognize(doc(`<h2>SPID</h2><p>CIE</p><p>CNS</p><div><span>SPID</span><span>CIE</span></div>`), myinps, D);
  assert.equal(r, null);
});

test("role=tab buttons in a list: the badge goes after the list", () => {
  const r = recognize(
    doc(`<nav><ul id="tl" role="tablist"><li role="presentation"><button role="tab" aria-selected="true">Accesso con SPID</button></li>
      <li role="presentation"><button role="tab" id="cie">CIE 3.0 <img src="cie.svg" alt="logo CIE"></button></li>
      <li role="presentation"><button role="tab">CNS / TS-CNS</button></li></ul></nav><button>Entra con SPID</button>`),
    myinps,
    D,
  );
  assert.equal(r?.tabs.get("cie")?.id, "cie");
  assert.equal(r?.tabs.size, 3);
  assert.equal(r?.anchor?.id, "tl");
});

test("nested open shadow roots: tabs found inside, the badge anchor inside the same tree", () => {
  const d = doc(`<main><login-shell id="shell"></login-shell></main>`);
  const outer = /** @type {Element} */ (d.getElementById("shell")).attachShadow({ mode: "open" });
  outer.innerHTML = `<h2>Entra in MyINPS</h2><section id="box"><login-tabs id="inner"></login-tabs></section>`;
  const inner = /** @type {Element} */ (outer.querySelector("#inner")).attachShadow({ mode: "open" });
  inner.innerHTML = `<div id="tl" role="tablist"><button role="tab" id="t-spid">SPID</button><button role="tab" id="t-cie">CIE</button><button role="tab" id="t-cns">CNS</button></div><button id="go">Entra con SPID</button>`;
  assert.equal(shadowRoots(d).length, 2);
  const r = recognize(d, myinps, D);
  assert.ok(r);
  assert.equal(r.tabs.get("cie")?.id, "t-cie");
  assert.equal(r.logins.get("spid")?.id, "go");
  assert.equal(r.anchor?.id, "tl");
  assert.ok(contains(/** @type {Element} */ (d.querySelector("main")), /** @type {Element} */ (r.tabs.get("cie"))), "contains crosses shadow roots");
  assert.equal(commonAncestor([/** @type {Element} */ (r.tabs.get("cie")), /** @type {Element} */ (outer.querySelector("h2"))])?.id, "shell");
});

test("layoutSafe: out of flex rows, grids, lists, table parts and inline content; not out of a block or a column", () => {
  const d = doc(`<div id="page"><div id="row" style="display: flex"><span>Accedi</span><ul id="tabs" style="display: flex"><li>a</li></ul></div>
    <div id="col" style="display: flex; flex-direction: column"><div id="c1">x</div></div>
    <div id="grid" style="display: grid"><div id="g1">x</div></div>
    <table id="t"><tbody><tr id="tr"><td id="td"><div id="inside">x</div></td></tr></tbody></table>
    <p id="para"><a id="link">x</a></p></div>`);
  const at = (/** @type {string} */ id) => layoutSafe(/** @type {Element} */ (d.getElementById(id))).id;
  assert.equal(at("tabs"), "row");
  assert.equal(at("c1"), "c1");
  assert.equal(at("g1"), "grid");
  assert.equal(at("tr"), "t");
  assert.equal(at("td"), "t");
  assert.equal(at("inside"), "inside", "a block inside a cell stays in the cell");
  assert.equal(at("link"), "para");
});
