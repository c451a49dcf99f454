// Site profile matching: which profile applies to a page, and which of its
// elements are the login tabs, login buttons, the "continue on this
// computer" choice and the SPID providers. Pure functions over a Document
// (real or linkedom); nothing here clicks or throws on odd markup.

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
 * @property {Element|null} anchor the badge goes right after it
 */

const CANDIDATES = "a,button,[role=tab],[role=button],[role=link],[role=menuitem],[role=option],input[type=button],input[type=submit],li,label,summary,span,strong,b,p,h1,h2,h3,h4";
const INTERACTIVE = "a,button,[role=tab],[role=button],[role=link],[role=menuitem],[role=option],input,label,summary,li";
const MAX_LABEL = 80;

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
 * label is what a person reads on el: its text, else its accessible name.
 * @param {Element} el
 */
export function label(el) {
  const text = norm(el.textContent ?? "");
  if (text) return text;
  const img = el.querySelector("img[alt]");
  return norm(el.getAttribute("aria-label") || el.getAttribute("title") || el.getAttribute("value") || img?.getAttribute("alt") || "");
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
 * matches (its interactive ancestor when it has one).
 * @param {Element[]} elements candidates with their labels precomputed
 * @param {string[]} labels same order as elements
 * @param {Record<string, string[]>} table key -> patterns
 */
function find(elements, labels, table) {
  /** @type {Map<string, Element>} */
  const out = new Map();
  for (const [key, patterns] of Object.entries(table)) {
    const m = matcher(patterns);
    const hits = elements.filter((_, i) => m(labels[i]));
    const inner = hits.find((el) => !hits.some((o) => o !== el && el.contains(o)));
    if (inner) out.set(key, inner.closest(INTERACTIVE) ?? inner);
  }
  return out;
}

/**
 * recognize matches one profile against the page. Returns null when the
 * page is not one the profile knows (e.g. not the login page).
 * @param {Document} doc
 * @param {Profile} profile
 * @param {ProfileData} data
 * @returns {Recognition|null}
 */
export function recognize(doc, profile, data) {
  const all = [...doc.querySelectorAll(profile.selector ? `${CANDIDATES},${profile.selector}` : CANDIDATES)];
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
  const tabs = find(elements, labels, profile.tabs ?? {});
  const logins = find(elements, labels, profile.logins ?? {});
  const continues = find(elements, labels, profile.continue ?? {});
  const providers = find(elements, labels, Object.fromEntries(data.spidProviders.map((p) => [p.id, p.text])));
  const spid = providers.size >= 3 ? providers : new Map();
  if (tabs.size < (profile.minTabs ?? 2)) tabs.clear();
  if (!tabs.size && logins.size < (profile.minLogins ?? 1)) logins.clear();
  if (!tabs.size && !logins.size && !continues.size) return null;
  const retired = (profile.retired ?? []).filter((k) => tabs.has(k) || logins.has(k));
  const anchor = tabs.size ? commonAncestor([...tabs.values()]) : (logins.values().next().value ?? continues.values().next().value ?? null);
  return { profile, tabs, logins, continues, spid, retired, anchor };
}

/**
 * commonAncestor is the deepest element containing all of els.
 * @param {Element[]} els
 */
export function commonAncestor(els) {
  let a = els[0]?.parentElement ?? null;
  while (a && !els.every((e) => a?.contains(e))) a = a.parentElement;
  return a;
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
  return s(el) || s(el.parentElement);
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
