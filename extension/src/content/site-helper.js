// SiteHelper runs the site helper on one page: recognise it with the site
// profiles, mark what it found, show the badge with the host's status,
// preselect the tab for the inserted card, remember the SPID provider.
// It clicks on its own only a login *tab* (never a login or consent
// button), and only before the user has done anything on the page.

import { summarize, summaryText } from "../shared/status.js";
import { isForbidden, isSelected, navigatesAway, recognize } from "./profiles.js";
import { createBadge } from "./badge.js";

/** @typedef {import("./profiles.js").ProfileData} ProfileData */
/** @typedef {import("./profiles.js").Recognition} Recognition */
/** @typedef {import("../background/native.js").Port} Port */

/**
 * @typedef {object} HelperDeps
 * @property {Document} doc
 * @property {{href: string}} loc
 * @property {ProfileData} data
 * @property {import("./profiles.js").Profile[]} profiles candidates for this page
 * @property {import("../shared/settings.js").Settings} settings
 * @property {(key: string, ...subs: (string|number)[]) => string} t
 * @property {() => Port} connect   runtime.connect({name: "helper"})
 * @property {(msg: object) => Promise<unknown>} send runtime.sendMessage
 */

export class SiteHelper {
  /** @param {HelperDeps} deps */
  constructor(deps) {
    this.d = deps;
    /** @type {Recognition|null} */
    this.rec = null;
    /** @type {ReturnType<typeof createBadge>|null} */
    this.badge = null;
    /** @type {Port|null} */
    this.port = null;
    /** @type {import("../shared/status.js").HostStatus|null} */
    this.status = null;
    this.error = "";
    this.preselected = false;
    this.spidFocused = false;
    this.userActed = false;
    /** @type {WeakSet<Element>} */
    this.watched = new WeakSet();
  }

  /** start scans now and notes the user's first own action. */
  start() {
    const acted = (/** @type {Event} */ e) => {
      if (e.isTrusted) this.userActed = true;
    };
    this.d.doc.addEventListener("pointerdown", acted, true);
    this.d.doc.addEventListener("keydown", acted, true);
    this.scan();
  }

  /** scan (re)recognises the page; safe on any markup. */
  scan() {
    try {
      const rec = this.d.profiles.map((p) => recognize(this.d.doc, p, this.d.data)).find((r) => r) ?? null;
      if (!rec) return;
      this.rec = rec;
      this.mark(rec);
      this.place(rec);
      if (!this.port) this.subscribe();
      this.update();
    } catch (e) {
      console.debug("eidlink helper:", e);
    }
  }

  /** @param {Recognition} rec */
  mark(rec) {
    const set = (/** @type {Map<string, Element>} */ m, /** @type {string} */ attr) => m.forEach((el, k) => el.setAttribute(attr, k));
    set(rec.tabs, "data-eidlink-tab");
    set(rec.logins, "data-eidlink-login");
    set(rec.continues, "data-eidlink-continue");
    set(rec.spid, "data-eidlink-spid");
    for (const k of rec.retired) [rec.tabs.get(k), rec.logins.get(k)].forEach((el) => el?.setAttribute("data-eidlink-retired", "true"));
    for (const [id, el] of rec.spid) {
      if (this.watched.has(el)) continue;
      this.watched.add(el);
      el.addEventListener("click", () => {
        if (!this.d.settings.spidMemory || this.d.settings.locked.includes("spidMemory")) return;
        this.d.settings.spidProvider = id;
        this.d.send({ type: "spid-remember", provider: id }).catch(() => {});
      });
    }
  }

  /** @param {Recognition} rec */
  place(rec) {
    const doc = this.d.doc;
    this.badge ??= createBadge(doc, {
      open: this.d.settings.devMode,
      profile: rec.profile.id,
      t: this.d.t,
      onAction: () => this.continueOnComputer(),
      onRefresh: () => (this.port ? this.port.postMessage({ type: "refresh" }) : this.subscribe()),
    });
    const host = this.badge.host;
    const a = rec.anchor;
    if (a && a !== doc.body && a !== doc.documentElement && a.parentElement) {
      if (a.nextElementSibling !== host) a.after(host);
      host.removeAttribute("data-floating");
    } else if (!host.isConnected) {
      host.setAttribute("data-floating", "");
      doc.body?.append(host);
    }
  }

  subscribe() {
    try {
      const port = this.d.connect();
      this.port = port;
      port.onMessage.addListener((/** @type {any} */ m) => {
        if (m?.type !== "status") return;
        this.status = m.status ?? null;
        this.error = m.status ? "" : (m.error ?? "ERR_WEBEID_NATIVE_UNAVAILABLE");
        this.update();
      });
      port.onDisconnect.addListener(() => (this.port = null));
    } catch (e) {
      this.error = "ERR_WEBEID_UNKNOWN_ERROR";
    }
  }

  update() {
    const rec = this.rec;
    if (!rec || !this.badge) return;
    const s = summarize(this.status);
    this.badge.render(this.view(rec, s));
    this.preselect(rec, s);
    this.spid(rec);
  }

  /**
   * @param {Recognition} rec
   * @param {import("../shared/status.js").Summary} s
   * @returns {import("./badge.js").View}
   */
  view(rec, s) {
    const t = this.d.t;
    const notes = rec.retired.includes("pin") ? [t("retiredPinInps")] : [];
    const preferred = this.d.data.spidProviders.find((p) => p.id === this.d.settings.spidProvider);
    if (preferred && this.d.settings.spidMemory && rec.spid.has(preferred.id)) notes.push(t("spidPreferred", preferred.name));
    if (!this.status && !this.error) return { state: "loading", tone: "warn", card: "", title: t("badgeLoading"), lines: [], notes, offer: "" };
    if (/VERSION/.test(this.error)) return { state: "no-host", tone: "bad", card: "", title: t("state_version"), lines: [t("fix_version")], notes, offer: "" };
    const { title, fix } = summaryText(s, t);
    const lines = [];
    if (s.state === "ready" && s.codiceFiscale) lines.push(t("codiceFiscale", s.codiceFiscale));
    if (fix) lines.push(fix);
    if (s.state === "ready" && s.triesLeft === 1) lines.push(t("lastTryWarning"));
    if (s.state === "no-host") lines.push(t("doctorHint"));
    const tone = s.state === "ready" ? "ok" : ["pin-blocked", "no-host", "pcsc-down"].includes(s.state) ? "bad" : "warn";
    const offer = s.state === "ready" && rec.continues.has(s.cardKind) ? t("offerContinue") : "";
    return { state: s.state, tone, card: s.cardKind, title, lines, notes, offer };
  }

  /**
   * preselect opens the tab of the inserted card, once, unless the user
   * already acted. A tab that is a link to another page, or whose label
   * reads like a login or consent button, is only focused.
   * @param {Recognition} rec
   * @param {import("../shared/status.js").Summary} s
   */
  preselect(rec, s) {
    if (this.preselected || this.userActed || s.state !== "ready") return;
    const tab = rec.tabs.get(s.cardKind);
    const target = tab ?? rec.logins.get(s.cardKind);
    if (!target) return;
    this.preselected = true;
    target.setAttribute("data-eidlink-preselected", "true");
    if (tab && isSelected(tab)) return;
    const clickable = tab && rec.profile.tabSelect === "click" && !isForbidden(tab, this.d.data, true) && !navigatesAway(tab, this.d.loc);
    if (clickable) /** @type {HTMLElement} */ (tab).click();
    else /** @type {HTMLElement} */ (target).focus();
  }

  /**
   * spid marks and focuses (never clicks) the remembered SPID provider.
   * @param {Recognition} rec
   */
  spid(rec) {
    if (!this.d.settings.spidMemory) return;
    const el = rec.spid.get(this.d.settings.spidProvider);
    if (!el) return;
    el.setAttribute("data-eidlink-spid-preferred", "true");
    if (!this.spidFocused) {
      this.spidFocused = true;
      /** @type {HTMLElement} */ (el).focus();
    }
  }

  /** continueOnComputer clicks the CIE IdP's computer option, on the user's click in the badge. */
  continueOnComputer() {
    const s = summarize(this.status);
    const el = this.rec?.continues.get(s.cardKind);
    if (s.state === "ready" && el?.isConnected && !isForbidden(el, this.d.data, false)) /** @type {HTMLElement} */ (el).click();
  }
}
