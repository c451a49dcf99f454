// Site profile matching: which profile applies to a page, and which of its
// elements are the login tabs, login buttons, the "continue on this
// computer" choice and the SPID providers. Pure functions over a Document
// (real or linkedom), looking into open shadow roots at any depth; nothing
// here clicks or throws on odd markup.

import { hostMatches, isLoopback } from "../shared/origin.js";

/**
 * @typedef {object} Profile
 * @property {string} id
 * @property {string} name
 * @property {string[]} hosts
 * @property {"click"|"focus"} [tabSelect]
 * @property {number} [minTabs]   tabs needed to recognise the page (2)
 * @property {number} [minLogins] login buttons needed without tabs (1)
 * @property {Record<string, string[]>} [tabs]    kind -> tab labels
 * @property {Record<string, string[]>} [logins]  kind -> login button labels
 * @property {Record<string, string[]>} [continue] card kind -> "continue on this computer" labels
 * @property {string[]} [retired]  kinds that no longer work (PIN INPS)
 * @property {{login?: string[], continue?: string[]}} [unlock] the controls (by card kind) that
 *   start a TLS client-certificate login: the helper holds their click until the card is unlocked
 * @property {string} [selector]   extra candidate elements
 *
 * @typedef {{id: string, name: string, text: string[]}} SpidProvider
 * @typedef {object} ProfileData
 * @property {string[]} demoOrigins
 * @property {string} demoMarker
 * @property {{consent: string[], login: string[]}} never
 * @property {SpidProvider[]} spidProviders
 * @property {Profile[]} profiles
 *
 * @typedef {object} Recognition
 * @property {Profile} profile
 * @property {Map<string, Element>} tabs
 * @property {Map<string, Element>} logins
 * @property {Map<string, Element>} continues card kind -> element
 * @property {Map<string, Element>} spid provider id -> element
 * @property {string[]} retired kinds found on the page that no longer work
 * @property {Element|null} anchor the badge goes right after it, where it breaks no layout
 */

const CANDIDATES = "a,button,[role=tab],[role=button],[role=link],[role=menuitem],[role=option],[role=radio],input[type=button],input[type=submit],li,td,th,label,summary,[onclick],[tabindex],span,strong,b,small,p,h1,h2,h3,h4";
/** What a person clicks: a text's element resolves to the nearest of these. */
const INTERACTIVE = "a,button,[role=tab],[role=button],[role=link],[role=menuitem],[role=option],[role=radio],input,label,summary,li,td,th,[onclick],[tabindex]:not([tabindex^='-'])";
const MAX_LABEL = 80;
/** No text of these is read: icons, scripts. */
const SILENT = new Set(["svg", "SVG", "SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT"]);
/** Inline formatting: no word break at its edges ("Carta d'<b>Identità</b>"). */
const ICON_CLASS = /(^|[\s_-])(material-)?icons?([\s_-]|$)/i;
const INLINE = new Set(["B", "I", "EM", "STRONG", "U", "MARK", "ABBR", "SUP", "SUB", "S"]);
/** A tab's own numbering: "1 PIN", "2. SPID", "3) CIE", "04 - CNS". */
const NUMBERING = /^\d{1,2}\s*[.):\-\u2013]?\s*/;

/** @param {string} s */
export function norm(s) {
  return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[\u2019`]/g, "'").replace(/\s+/g, " ").trim().toLowerCase();
}

/**
 * matcher compiles label patterns: plain strings match the whole
 * normalized label, "/re/" is a case-insensitive regular expression.
 * Invalid expressions match nothing.
 * @param {string[]} patterns
 * @returns {(label: string) => boolean}
 */
export function matcher(patterns) {
  const tests = patterns.map((p) => {
    if (p.length > 2 && p.startsWith("/") && p.endsWith("/")) {
      try {
        const re = new RegExp(p.slice(1, -1), "i");
        return (/** @type {string} */ l) => re.test(l);
      } catch {
        return () => false;
      }
    }
    const want = norm(p);
    return (/** @type {string} */ l) => l === want;
  });
  return (label) => tests.some((f) => f(label));
}

/**
 * label is what a person reads on el: its text (not the text of icons:
 * svg, aria-hidden, icon fonts), else its accessible name.
 * @param {Element} el
 */
export function label(el) {
  const text = norm(readText(el, { s: "" }).s);
  if (text) return text;
  const img = el.querySelector("img[alt]");
  return norm(el.getAttribute("aria-label") || el.getAttribute("title") || el.getAttribute("value") || img?.getAttribute("alt") || "");
}

/**
 * readText appends el's readable text to out.s, with a space where one
 * element ends and another begins, and stops once it is too long for a
 * label (a big element costs no more than a small one).
 * @param {Element} el
 * @param {{s: string}} out
 */
function readText(el, out) {
  for (const n of el.childNodes) {
    if (out.s.length > 2 * MAX_LABEL) break;
    if (n.nodeType === 3) out.s += n.nodeValue ?? "";
    else if (n.nodeType === 1) {
      const e = /** @type {Element} */ (n);
      if (SILENT.has(e.tagName) || e.getAttribute("aria-hidden") === "true" || ICON_CLASS.test(e.getAttribute("class") ?? "")) continue;
      const gap = INLINE.has(e.tagName) ? "" : " ";
      out.s += gap;
      readText(e, out);
      out.s += gap;
    }
  }
  return out;
}

/**
 * tabLabel is a label without the tab's numbering ("1 PIN" is "pin").
 * @param {string} l a label
 */
export const tabLabel = (l) => l.replace(NUMBERING, "");

/**
 * parentOf is el's parent, crossing out of a shadow root to its host.
 * @param {Element} el
 * @returns {Element|null}
 */
export function parentOf(el) {
  if (el.parentElement) return el.parentElement;
  const p = /** @type {any} */ (el.parentNode);
  return p && p.nodeType === 11 && p.host ? p.host : null;
}

/**
 * contains tells whether a is b or one of b's ancestors, across shadow roots.
 * @param {Element} a
 * @param {Element} b
 */
export function contains(a, b) {
  for (let e = /** @type {Element|null} */ (b); e; e = parentOf(e)) if (e === a) return true;
  return false;
}

/**
 * shadowRoots lists the open shadow roots under root, at any depth.
 * @param {Document|ShadowRoot} root
 * @param {ShadowRoot[]} [out]
 */
export function shadowRoots(root, out = []) {
  for (const el of root.querySelectorAll("*")) {
    const sr = /** @type {ShadowRoot|null} */ (el.shadowRoot);
    if (sr && sr.mode !== "closed" && el.id !== "eidlink-status") {
      out.push(sr);
      shadowRoots(sr, out);
    }
  }
  return out;
}

/** @param {Element} el */
export function isVisible(el) {
  if (el.closest("[hidden],[aria-hidden=true],[style*='display: none'],[style*='display:none']")) return false;
  const check = /** @type {any} */ (el).checkVisibility;
  return typeof check === "function" ? check.call(el) !== false : true;
}

/**
 * profilesFor lists the profiles that may apply to a page. On the demo
 * site's loopback origins a profile applies only when the page names it
 * (<meta name="eidlink-demo-profile" content="ID">) or developer mode is on.
 * @param {ProfileData} data
 * @param {{hostname: string, protocol: string}} loc
 * @param {Document} doc
 * @param {boolean} devMode
 */
export function profilesFor(data, loc, doc, devMode) {
  const real = data.profiles.filter((p) => loc.protocol === "https:" && p.hosts.some((h) => hostMatches(h, loc.hostname)));
  if (real.length || !isLoopback(loc.hostname)) return real;
  const marker = doc.querySelector(`meta[name="${data.demoMarker}"]`)?.getAttribute("content")?.trim();
  if (marker) return data.profiles.filter((p) => p.id === marker);
  return devMode ? data.profiles : [];
}

/**
 * find returns, per key, the innermost visible element whose label
 * matches (its interactive ancestor when it has one). With tabs, labels
 * lose their numbering and only something a person clicks is a tab.
 * @param {Element[]} elements candidates with their labels precomputed
 * @param {string[]} labels same order as elements
 * @param {Record<string, string[]>} table key -> patterns
 * @param {boolean} [tabs]
 */
function find(elements, labels, table, tabs = false) {
  /** @type {Map<string, Element>} */
  const out = new Map();
  const ls = tabs ? labels.map(tabLabel) : labels;
  for (const [key, patterns] of Object.entries(table)) {
    const m = matcher(patterns);
    const hits = elements.filter((_, i) => m(ls[i]));
    for (const inner of hits.filter((el) => !hits.some((o) => o !== el && contains(el, o)))) {
      const el = inner.closest(INTERACTIVE);
      if (el || !tabs) {
        out.set(key, el ?? inner);
        break;
      }
    }
  }
  return out;
}

/**
 * recognize matches one profile against the page. Returns null when the
 * page is not one the profile knows (e.g. not the login page).
 * @param {Document} doc
 * @param {Profile} profile
 * @param {ProfileData} data
 * @param {ShadowRoot[]} [roots] the page's open shadow roots, if known
 * @returns {Recognition|null}
 */
export function recognize(doc, profile, data, roots = shadowRoots(doc)) {
  const sel = profile.selector ? `${CANDIDATES},${profile.selector}` : CANDIDATES;
  const all = [doc, ...roots].flatMap((r) => [...r.querySelectorAll(sel)]);
  const elements = [];
  const labels = [];
  for (const el of all) {
    if (el.closest("#eidlink-status")) continue;
    const l = label(el);
    if (l && l.length <= MAX_LABEL && isVisible(el)) {
      elements.push(el);
      labels.push(l);
    }
  }
  const tabs = find(elements, labels, profile.tabs ?? {}, true);
  const logins = find(elements, labels, profile.logins ?? {});
  const continues = find(elements, labels, profile.continue ?? {});
  const providers = find(elements, labels, Object.fromEntries(data.spidProviders.map((p) => [p.id, p.text])));
  const spid = providers.size >= 3 ? providers : new Map();
  if (tabs.size < (profile.minTabs ?? 2)) tabs.clear();
  if (!tabs.size && logins.size < (profile.minLogins ?? 1)) logins.clear();
  if (!tabs.size && !logins.size && !continues.size) return null;
  const retired = (profile.retired ?? []).filter((k) => tabs.has(k) || logins.has(k));
  const first = tabs.size ? commonAncestor([...tabs.values()]) : (logins.values().next().value ?? continues.values().next().value ?? null);
  return { profile, tabs, logins, continues, spid, retired, anchor: first && layoutSafe(first) };
}

/**
 * commonAncestor is the deepest element containing all of els, across
 * shadow roots.
 * @param {Element[]} els
 */
export function commonAncestor(els) {
  let a = els[0] ? parentOf(els[0]) : null;
  while (a && !els.every((e) => contains(/** @type {Element} */ (a), e))) a = parentOf(a);
  return a;
}

/** Elements a box after which would land inside a table, a list or a select. */
const PARTS = new Set(["TR", "TD", "TH", "TBODY", "THEAD", "TFOOT", "CAPTION", "COLGROUP", "COL", "LI", "DT", "DD", "OPTION", "OPTGROUP"]);
const ROWS = new Set(["TABLE", "TBODY", "THEAD", "TFOOT", "TR", "UL", "OL", "DL", "MENU", "SELECT", "DATALIST", "P", "A", "BUTTON", "LABEL", "SPAN"]);

/**
 * layoutSafe climbs from el to the element after which a block box breaks
 * no layout: out of tables (after the whole table), lists, flex rows,
 * grids and inline content.
 * @param {Element} el
 */
export function layoutSafe(el) {
  let a = el;
  for (let p = parentOf(a); p && p.tagName !== "BODY" && p.tagName !== "HTML"; p = parentOf(a)) {
    if (!PARTS.has(a.tagName) && !ROWS.has(p.tagName) && !inRow(p)) break;
    a = p;
  }
  return a;
}

/**
 * inRow tells whether p lays its children out side by side (flex row,
 * grid, inline, table parts), by its computed style where there is one.
 * @param {Element} p
 */
function inRow(p) {
  const view = p.ownerDocument?.defaultView;
  const style = typeof view?.getComputedStyle === "function" ? view.getComputedStyle(p) : /** @type {any} */ (p).style;
  const display = String(style?.display ?? "");
  if (/^(inline-)?flex$/.test(display)) return !String(style?.flexDirection ?? "").startsWith("column");
  return /grid|^inline$|^contents$|^(inline-)?table$|^table-(row|row-group|header-group|footer-group|column|column-group)$/.test(display);
}

/**
 * isForbidden tells whether el must never be clicked by the extension on
 * its own: consent buttons always, login/proceed buttons when automatic.
 * @param {Element} el
 * @param {ProfileData} data
 * @param {boolean} automatic
 */
export function isForbidden(el, data, automatic) {
  const l = label(el);
  if (matcher(data.never.consent)(l)) return true;
  return automatic && matcher(data.never.login)(l);
}

/**
 * isSelected guesses whether a tab is the current one.
 * @param {Element} el
 */
export function isSelected(el) {
  const s = (/** @type {Element|null} */ e) =>
    !!e && (e.getAttribute("aria-selected") === "true" || e.getAttribute("aria-current") === "true" || e.getAttribute("aria-current") === "page" || /\b(active|selected|current)\b/i.test(e.getAttribute("class") ?? ""));
  return s(el) || s(parentOf(el));
}

/**
 * navigatesAway tells whether clicking el loads another document (a link
 * to another URL), which preselection must not do.
 * @param {Element} el
 * @param {{href: string}} loc
 */
export function navigatesAway(el, loc) {
  const a = el.closest("a[href]");
  if (!a) return false;
  const href = a.getAttribute("href") ?? "";
  if (href.startsWith("#") || /^javascript:/i.test(href)) return false;
  try {
    const u = new URL(href, loc.href);
    const here = new URL(loc.href);
    return u.origin + u.pathname + u.search !== here.origin + here.pathname + here.search;
  } catch {
    return true;
  }
}
