// TlsWatch follows the page loads of the TLS-login hosts (the site
// profiles with "unlock" controls: the CIE identity provider, INPS) with
// webRequest, for two things:
//
//  - A port to the host while such a page loads and for a while after
//    (KEEP_FOR): the service asks the PIN of a signature made when nothing
//    is unlocked through the connected hosts (tls-pin-request), so the
//    holder who opens the identity provider's login address directly
//    still gets eidlink's PIN window. The port opens as the load starts,
//    which races the TLS handshake: the service waits a little for a host.
//    One host process per browser while a TLS-login site is in use, none
//    otherwise; in Chrome the open port also keeps the service worker.
//  - A load that fails with a TLS client-authentication error: the host's
//    status says why (shared/tls-failure.js), and the tab shows eidlink's
//    explanation page instead of the browser's bare error code.

import { browserError, classifyTlsError, diagnose } from "../shared/tls-failure.js";
import { NativeState } from "./native.js";
import { realTimers } from "../shared/timers.js";

/** How long the port stays after the last page load of a TLS-login host. */
export const KEEP_FOR = 5 * 60_000;

/**
 * @typedef {import("../shared/tls-failure.js").TlsFailure} TlsFailure
 * @typedef {{tabId: number, url: string, type?: string, error?: string, timeStamp?: number}} RequestDetails
 * @typedef {object} TlsWatchDeps
 * @property {() => import("./native.js").NativeAppService} newNative a port whose events reach TlsPin
 * @property {() => Promise<import("../shared/status.js").HostStatus|null>} status a fresh status, null without a host
 * @property {(tabId: number) => void} show shows the explanation page in the tab
 * @property {(failure: TlsFailure|null) => void} onFailure
 * @property {() => number} [now]
 * @property {import("../shared/timers.js").Timers} [timers]
 */

export class TlsWatch {
  /** @param {TlsWatchDeps} deps */
  constructor(deps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.timers = deps.timers ?? realTimers;
    /** @type {import("./native.js").NativeAppService|null} */
    this.native = null;
    /** @type {any} */
    this.idle = null;
    /** @type {Map<number, {url: string, at: number}>} the load under way in each tab */
    this.loading = new Map();
    /** @type {Map<number, string>} the last page each tab loaded from a TLS-login host */
    this.loaded = new Map();
    /** @type {TlsFailure|null} the last TLS login that failed, until one works */
    this.failure = null;
  }

  /**
   * started takes webRequest.onBeforeRequest of a main frame on a
   * TLS-login host: the port opens (or stays).
   * @param {RequestDetails} d
   */
  started(d) {
    this.loading.set(d.tabId, { url: d.url, at: this.now() });
    this.keep();
  }

  /** keep opens the port if needed and holds it KEEP_FOR from now. */
  keep() {
    if (this.idle !== null) this.timers.clear(this.idle);
    this.idle = this.timers.set(() => this.close(), KEEP_FOR);
    if (this.native && this.native.state !== NativeState.DISCONNECTED) return;
    const native = this.deps.newNative();
    this.native = native;
    native.connect().catch(() => {
      if (this.native === native) this.native = null;
    });
  }

  /** close lets the port go. */
  close() {
    if (this.idle !== null) this.timers.clear(this.idle);
    this.idle = null;
    this.native?.close();
    this.native = null;
  }

  /**
   * completed takes webRequest.onCompleted of such a main frame: the page
   * to go back to after a failure.
   * @param {RequestDetails} d
   */
  completed(d) {
    this.loading.delete(d.tabId);
    this.loaded.set(d.tabId, d.url);
  }

  /**
   * failed takes webRequest.onErrorOccurred of such a main frame. A TLS
   * client-authentication error is explained from the host's status, and
   * the tab shows it; any other error is none of eidlink's business.
   * @param {RequestDetails} d
   * @returns {Promise<TlsFailure|null>}
   */
  async failed(d) {
    const failedAt = this.now();
    const since = this.loading.get(d.tabId)?.at ?? failedAt;
    this.loading.delete(d.tabId);
    const kind = classifyTlsError(d.error);
    if (!kind) return null;
    const status = await this.deps.status().catch(() => null);
    const why = diagnose(kind, status, since, failedAt);
    if (!why) return null;
    const host = hostOf(d.url);
    const before = this.loaded.get(d.tabId);
    const back = before && before !== d.url && hostOf(before, "hostname") === hostOf(d.url, "hostname") ? before : `https://${host}/`;
    /** @type {TlsFailure} */
    const failure = { ...why, error: browserError(d.error ?? ""), host, back, at: this.now() };
    this.report(failure);
    this.deps.show(d.tabId);
    return failure;
  }

  /**
   * report keeps a failure (or, null, a login that worked) and passes it on.
   * @param {TlsFailure|null} failure
   */
  report(failure) {
    this.failure = failure;
    this.deps.onFailure(failure);
  }

  /** @param {number} tabId */
  forget(tabId) {
    this.loading.delete(tabId);
    this.loaded.delete(tabId);
  }
}

/**
 * @param {string} url
 * @param {"host"|"hostname"} [part]
 */
function hostOf(url, part = "host") {
  try {
    return new URL(url)[part];
  } catch {
    return "";
  }
}
