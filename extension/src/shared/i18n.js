// Translations. The catalogs are the extension's _locales files, bundled
// in, so that the language option can override the browser's language
// (chrome.i18n cannot) and content scripts need no extension fetch.

import it from "../../_locales/it/messages.json" with { type: "json" };
import en from "../../_locales/en/messages.json" with { type: "json" };

/** @type {Record<string, Record<string, {message: string}>>} */
export const catalogs = { it, en };

let lang = "it";

/**
 * resolveLanguage picks "it" or "en": an explicit choice wins; "auto"
 * follows the browser like chrome.i18n with default_locale "it" does.
 * @param {string} choice "auto", "it" or "en"
 * @param {string} [uiLanguage] e.g. navigator.language
 */
export function resolveLanguage(choice, uiLanguage = "") {
  if (choice === "it" || choice === "en") return choice;
  return /^en\b/i.test(uiLanguage) ? "en" : "it";
}

/** @param {string} l "it" or "en" */
export function setLanguage(l) {
  lang = catalogs[l] ? l : "it";
}

export function language() {
  return lang;
}

/**
 * t returns the text for key with $1..$9 replaced by subs.
 * @param {string} key
 * @param {...(string|number)} subs
 */
export function t(key, ...subs) {
  return translate(lang, key, ...subs);
}

/**
 * translate is t for an explicit language (the background serves several
 * pages at once).
 * @param {string} l
 * @param {string} key
 * @param {...(string|number)} subs
 */
export function translate(l, key, ...subs) {
  const m = catalogs[l]?.[key]?.message ?? catalogs.it[key]?.message;
  if (m === undefined) return key;
  return m.replace(/\$(\d|\$)/g, (_, n) => (n === "$" ? "$" : String(subs[Number(n) - 1] ?? "")));
}

/**
 * localize sets the text of every element of doc that has data-i18n="KEY",
 * and the document's lang.
 * @param {Document} doc
 */
export function localize(doc) {
  for (const el of doc.querySelectorAll("[data-i18n]")) el.textContent = t(el.getAttribute("data-i18n") ?? "");
  doc.documentElement.setAttribute("lang", lang);
}
