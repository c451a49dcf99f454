// SiteHelper runs the site helper on one page: recognise it with the site
// profiles, mark what it found, show the badge with the host's status,
// preselect the tab for the inserted card, remember the SPID provider.
// It clicks on its own only a login *tab* (never a login or consent
// button), once per login view, and only before the user has done
// anything on that view. Pages change under it (late rendering, open
// shadow roots, client-side navigation): it watches the document and every
// open shadow root, and scans again when idle, at most one scan at a time.
//
// TLS logins (the CIE identity provider's "Prosegui con computer", INPS's
// CNS "Procedi": the profile's "unlock" controls): the user's own click on
// one is held, eidlink asks the PIN in its window and unlocks the card for
// that site, and then the same control is clicked again, so that the
// site's handlers and the browser's navigation both see it. The browser
// then signs the TLS handshake through eidlink's PKCS#11 module, with no
// dialog of its own. A host too old for "unlock" lets the click go on.

import { summarize, summaryText } from "../shared/status.js";
import { isForbidden, isSelected, navigatesAway, recognize, shadowRoots } from "./profiles.js";
import { createBadge } from "./badge.js";
import { errorText } from "../shared/errors.js";
import { explainTls } from "../shared/tls-failure.js";
import { hostMatches } from "../shared/origin.js";

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
 * @property {(run: () => void) => void} [schedule] runs a scan later (default: after 150 ms, when idle)
 * @property {(card: string) => Promise<UnlockReply>} unlock asks the background to unlock the card of that kind ("cie", "cns") for this tab's site
 */

/**
 * The background's answer to "unlock" (background/actions/unlock.js).
 * @typedef {{action: string, error?: {code: string, message?: string, eidlinkCode?: string}}} UnlockReply
 */

/** Errors after which the click goes on as if the helper were not there: no host, or one without "unlock". */
const LET_GO = new Set(["ERR_WEBEID_NATIVE_UNAVAILABLE", "ERR_EIDLINK_UNKNOWN_COMMAND", "ERR_WEBEID_VERSION_INVALID", "ERR_WEBEID_VERSION_MISMATCH"]);

/** What the helper watches: structure, and the attributes that show or hide a view. */
const WATCH = { subtree: true, childList: true, attributes: true, attributeFilter: ["class", "style", "hidden", "aria-hidden", "aria-expanded", "aria-selected"] };
const MARKS = ["data-eidlink-tab", "data-eidlink-login", "data-eidlink-continue", "data-eidlink-spid", "data-eidlink-retired", "data-eidlink-preselected", "data-eidlink-spid-preferred"];
const MARKED = MARKS.map((m) => `[${m}]`).join(",");

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
    /** @type {string|null} the address of the view whose tab was preselected */
    this.preselectedAt = null;
    this.spidFocused = false;
    /** the user clicked or typed on the login view shown */
    this.userActed = false;
    /** @type {string|null} the address where the user acted while no login view was recognised */
    this.actedAt = null;
    /** the policy is known: until then the helper clicks and focuses nothing (see shared/settings.js) */
    this.policyKnown = !deps.settings.pending;
    this.stopped = false;
    /** @type {WeakSet<Element>} */
    this.watched = new WeakSet();
    /** @type {MutationObserver|null} */
    this.observer = null;
    /** @type {WeakSet<Node>} */
    this.observed = new WeakSet();
    this.scheduled = false;
    /** @type {Element|null} the held control while its unlock runs */
    this.holding = null;
    /** @type {Element|null} the control being clicked again after the unlock: that click goes through */
    this.releasing = null;
    /** the last unlock's outcome for the badge: "" | "unlocking" | an error code */
    this.unlockState = "";
    /** the held control's text, for "click ... again" */
    this.heldText = "";
    /** @type {import("../shared/tls-failure.js").TlsFailure|null} the last TLS login that failed, until one works */
    this.tlsFailure = null;
    /** @param {Event} e */
    this.onClick = (e) => this.held(/** @type {MouseEvent} */ (e));
    /** @param {Event} e */
    this.acted = (e) => {
      if (!e.isTrusted) return;
      if (this.rec) this.userActed = true;
      else this.actedAt = this.d.loc.href;
    };
  }

  /** start scans now, watches the page and notes the user's own actions. */
  start() {
    this.d.doc.addEventListener("pointerdown", this.acted, true);
    this.d.doc.addEventListener("keydown", this.acted, true);
    (this.d.doc.defaultView ?? this.d.doc).addEventListener("click", this.onClick, true);
    this.observe(this.d.doc);
    this.scan();
  }

  /**
   * observe watches root (the document, an open shadow root) for changes.
   * @param {Node} root
   */
  observe(root) {
    const MO = this.d.doc.defaultView?.MutationObserver;
    if (this.observed.has(root) || typeof MO !== "function") return;
    this.observer ??= new MO((records) => void (records.length && this.later()));
    this.observed.add(root);
    this.observer.observe(root, WATCH);
  }

  /** later schedules one scan; changes meanwhile are covered by it. */
  later() {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      if (!this.stopped) this.scan();
    };
    if (this.d.schedule) return this.d.schedule(run);
    const view = /** @type {any} */ (this.d.doc.defaultView);
    setTimeout(() => (typeof view?.requestIdleCallback === "function" ? view.requestIdleCallback(run, { timeout: 500 }) : run()), 150);
  }

  /** scan (re)recognises the page; safe on any markup. */
  scan() {
    try {
      const roots = shadowRoots(this.d.doc);
      for (const r of roots) this.observe(r);
      let rec = null;
      for (const p of this.d.profiles) if ((rec = recognize(this.d.doc, p, this.d.data, roots))) break;
      if (!rec) return this.lost();
      if (!this.rec) {
        // A login view appears: what the user did before counts only if
        // it was on this same address (not a click that navigated here).
        this.userActed = this.actedAt === this.d.loc.href;
        this.actedAt = null;
      }
      this.rec = rec;
      this.mark(rec);
      this.place(rec);
      if (!this.port) this.subscribe();
      this.observer?.takeRecords(); // the helper's own changes: this scan saw the page as it is
      this.update();
    } catch (e) {
      console.debug("eidlink helper:", e);
    }
  }

  /** lost: the login view is gone (client-side navigation); so is the badge. */
  lost() {
    if (!this.rec) return;
    this.actedAt = this.userActed ? this.d.loc.href : null;
    this.rec = null;
    this.userActed = false;
    this.badge?.host.remove();
  }

  /**
   * applyPolicy takes the settings once the policy is read: the helper
   * stops if the administrator turned it off, else it may act.
   * @param {import("../shared/settings.js").Settings} settings
   */
  applyPolicy(settings) {
    if (this.stopped) return;
    if (!settings.helper) return this.stop();
    this.d.settings = settings;
    this.policyKnown = true;
    this.update();
  }

  /** stop leaves the page as the helper found it. */
  stop() {
    this.stopped = true;
    this.observer?.disconnect();
    this.d.doc.removeEventListener("pointerdown", this.acted, true);
    this.d.doc.removeEventListener("keydown", this.acted, true);
    (this.d.doc.defaultView ?? this.d.doc).removeEventListener("click", this.onClick, true);
    this.badge?.host.remove();
    this.port?.disconnect();
    this.port = null;
    for (const root of [this.d.doc, ...shadowRoots(this.d.doc)]) {
      for (const el of root.querySelectorAll(MARKED)) MARKS.forEach((m) => el.removeAttribute(m));
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
        if (this.stopped || !this.d.settings.spidMemory || this.d.settings.locked.includes("spidMemory")) return;
        this.d.settings.spidProvider = id;
        this.d.send({ type: "spid-remember", provider: id }).catch(() => {});
      });
    }
  }

  /** @param {Recognition} rec */
  place(rec) {
    const doc = this.d.doc;
    this.badge ??= createBadge(doc, {
      // open for tests in developer mode, which a policy may forbid
      open: this.d.settings.devMode && this.policyKnown,
      profile: rec.profile.id,
      t: this.d.t,
      onAction: () => this.continueOnComputer(),
      onRefresh: () => (this.port ? this.port.postMessage({ type: "refresh" }) : this.subscribe()),
    });
    const host = this.badge.host;
    const a = rec.anchor;
    if (a && a !== doc.body && a !== doc.documentElement && a.parentNode) {
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
        if (m?.type === "tls-failure") {
          this.tlsFailure = m.failure && typeof m.failure.reason === "string" ? m.failure : null;
          return this.update();
        }
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
    this.badge.render({ ...this.view(rec, s), unlock: this.unlockState });
    this.observer?.takeRecords(); // the badge's own changes; a preselected tab's are the page's
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
    if (this.unlockState) notes.push(this.unlockText());
    if (this.tlsFailure) notes.push(explainTls(this.tlsFailure, t));
    // TLS logins go through eidlink's module, which shows no card without the service.
    if (rec.profile.unlock && this.status?.mode === "no-service") notes.push(t("tlsNoService"));
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
    const here = this.d.loc.href;
    if (this.preselectedAt === here || this.userActed || !this.policyKnown || s.state !== "ready") return;
    const tab = rec.tabs.get(s.cardKind);
    const target = tab ?? rec.logins.get(s.cardKind);
    if (!target) return;
    this.preselectedAt = here;
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
    if (!this.policyKnown || !this.d.settings.spidMemory) return;
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
    if (s.state !== "ready" || !el?.isConnected || isForbidden(el, this.d.data, false)) return;
    if (this.unlockControl(el)) this.hold(el);
    else /** @type {HTMLElement} */ (el).click();
  }

  /**
   * unlockControl is the profile's "unlock" control that contains node, if any.
   * @param {unknown} node
   * @returns {Element|null}
   */
  unlockControl(node) {
    if (!node || typeof node !== "object" || !("nodeType" in node)) return null;
    return this.unlockControls().find(([c]) => c === node || c.contains(/** @type {Node} */ (node)))?.[0] ?? null;
  }

  /**
   * unlockControls are the profile's "unlock" controls on the page, each
   * with the kind of card it logs in with: the card the unlock is for.
   * @returns {[Element, string][]}
   */
  unlockControls() {
    const rec = this.rec;
    const u = rec?.profile.unlock;
    if (!rec || !u || !this.onRealHost(rec)) return [];
    /** @type {[Element, string][]} */
    const out = [];
    for (const k of u.continue ?? []) {
      const c = rec.continues.get(k);
      if (c) out.push([c, k]);
    }
    for (const k of u.login ?? []) {
      const c = rec.logins.get(k);
      if (c) out.push([c, k]);
    }
    return out;
  }

  /**
   * onRealHost tells whether the page is on one of the profile's own https
   * hosts: the demo site's loopback replicas log in with the page API, not
   * with a TLS client certificate.
   * @param {Recognition} rec
   */
  onRealHost(rec) {
    try {
      const u = new URL(this.d.loc.href);
      return u.protocol === "https:" && rec.profile.hosts.some((h) => hostMatches(h, u.hostname));
    } catch {
      return false;
    }
  }

  /**
   * held is the capture-phase click listener: the user's own click on an
   * unlock control is held (the site sees nothing) while the card is
   * unlocked; the click again on that control afterwards goes through.
   * Clicks by page scripts are left alone: only the user starts a login.
   * @param {MouseEvent} e
   */
  held(e) {
    if (this.stopped) return;
    const el = this.unlockControl(e.composedPath?.()[0] ?? e.target);
    if (!el) return;
    if (this.releasing === el) return;
    if (!e.isTrusted && !this.holding) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    this.hold(el);
  }

  /**
   * hold unlocks the card of el's kind for this site (the PIN in
   * eidlink's window) and then clicks el again. On an error the badge says what happened and
   * how to retry; without a host that knows "unlock" the click goes on.
   * One unlock at a time: clicks meanwhile are dropped.
   * @param {Element} el
   */
  async hold(el) {
    if (this.holding) return;
    this.holding = el;
    this.heldText = (el.textContent ?? "").trim().replace(/\s+/g, " ").slice(0, 60);
    this.unlockState = "unlocking";
    this.update();
    let code = "";
    try {
      const reply = await this.d.unlock(this.unlockControls().find(([c]) => c === el)?.[1] ?? "");
      code = reply?.error ? reply.error.eidlinkCode || reply.error.code || "ERR_WEBEID_UNKNOWN_ERROR" : "";
    } catch {
      code = "ERR_WEBEID_NATIVE_UNAVAILABLE";
    }
    this.holding = null;
    this.unlockState = code && !LET_GO.has(code) ? code : "";
    this.update();
    if (this.unlockState || this.stopped || !el.isConnected) return;
    this.releasing = el;
    try {
      /** @type {HTMLElement} */ (el).click();
    } finally {
      this.releasing = null;
    }
  }

  /**
   * unlockText is the badge's note for the unlock: running, or what went
   * wrong and how to retry (click the site's control again).
   */
  unlockText() {
    const t = this.d.t;
    if (this.unlockState === "unlocking") return t("unlockRunning");
    const code = this.unlockState;
    const what =
      code === "ERR_WEBEID_USER_CANCELLED"
        ? t("unlockCancelled")
        : code === "ERR_WEBEID_USER_TIMEOUT" || code === "ERR_WEBEID_ACTION_TIMEOUT"
          ? t("unlockTimeout")
          : t("unlockFailed", errorText(code, t));
    return code === "ERR_EIDLINK_PIN_BLOCKED" ? what : `${what} ${t("unlockRetry", this.heldText)}`;
  }
}

/**
 * unlock asks the background, over a port of its own, to unlock the card
 * of kind card for the sender tab's site (the background takes the origin
 * from the browser), and returns its one answer. The background bounds the wait
 * (the PIN window's timeout); a port closed without an answer means the
 * extension went away, and the click goes on without it.
 * @param {() => Port} connect runtime.connect({name: "unlock"})
 * @param {string} lang the page's language (navigator.language)
 * @param {string} card the kind of the control clicked: "cie", "cns"
 * @returns {Promise<UnlockReply>}
 */
export function unlock(connect, lang, card) {
  return new Promise((resolve) => {
    const port = connect();
    port.onMessage.addListener((/** @type {any} */ m) => {
      resolve(m && typeof m === "object" ? m : { action: "unlock-failure", error: { code: "ERR_WEBEID_UNKNOWN_ERROR" } });
      port.disconnect();
    });
    port.onDisconnect.addListener(() => resolve({ action: "unlock-failure", error: { code: "ERR_WEBEID_NATIVE_UNAVAILABLE" } }));
    // the page's language for the PIN window, as a page action's options.lang
    port.postMessage({ action: "eidlink:unlock", card, options: { lang } });
  });
}
