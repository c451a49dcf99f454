// The PIN window seen from the background: an extension page (pin.html) in
// a popup window, opened on the first pinRequest of an action, reused for
// the next ones (wrong PIN) and closed when the action ends. The PIN comes
// back over a runtime port from that page only; it is handed to the caller
// and not kept.

import { CodedError, ErrorCode } from "../shared/errors.js";
import { realTimers } from "../shared/timers.js";

/**
 * What the dialog needs from the browser.
 * @typedef {object} DialogDeps
 * @property {(url: string) => Promise<number|undefined>} open  opens the window, returns its id
 * @property {(id: number) => void} close
 * @property {(path: string) => string} getURL
 * @property {import("../shared/timers.js").Timers} [timers]
 * @property {() => number} [now]
 */

/**
 * The page side of the port (pin/pin.js):
 *   background -> page: {type: "request", request, deadline, lang} | {type: "card", request, deadline, lang}
 *                       | {type: "timeout"} | {type: "done"}
 *   page -> background: {type: "pin", pin} | {type: "cancel"}
 * @typedef {import("./native.js").Port} Port
 */

export class PinDialog {
  /**
   * @param {DialogDeps} deps
   * @param {string} lang
   */
  constructor(deps, lang) {
    this.deps = deps;
    this.lang = lang;
    this.timers = deps.timers ?? realTimers;
    this.now = deps.now ?? Date.now;
    this.id = crypto.randomUUID();
    this.url = deps.getURL("pin/pin.html") + "?s=" + this.id;
    this.abort = new AbortController();
    this.signal = this.abort.signal;
    /** @type {Port|null} */
    this.port = null;
    /** @type {Promise<number|undefined>|null} */
    this.window = null;
    this.closed = false; // by the holder
    /** @type {((port: Port) => void)|null} */
    this.onAttach = null;
    /** @type {((answer: {pin: string}|{cancel: true}) => void)|null} */
    this.answer = null;
    /** stops the running ask's timer */
    this.stopTimer = () => {};
    this.onMessage = this.onMessage.bind(this);
    this.onDisconnect = this.onDisconnect.bind(this);
  }

  /**
   * ask shows request and waits for the holder's answer (see PinAsker).
   * @param {object & {pinpad?: boolean}} request a pinRequest from the host
   * @param {number} timeout ms
   * @returns {Promise<{pin: string}|{cancel: true}>}
   */
  async ask(request, timeout) {
    if (this.closed) return { cancel: true };
    const deadline = this.now() + timeout;
    return this.within(timeout, async (settled) => {
      const port = this.port ?? (await this.attach());
      if (settled()) return { cancel: true };
      port.postMessage({ type: "request", request, deadline, lang: this.lang });
      if (request.pinpad) return { pin: "" };
      return new Promise((resolve) => (this.answer = resolve));
    });
  }

  /**
   * showCard shows a cardRequest (see PinAsker): "present the card" until
   * the next ask, or until the holder cancels, when it resolves. The host
   * keeps the time: it ends the wait itself.
   * @param {object} request a cardRequest from the host
   * @param {number} timeout ms, for the countdown
   * @returns {Promise<void>}
   */
  async showCard(request, timeout) {
    if (this.closed) return;
    const deadline = this.now() + timeout;
    const port = this.port ?? (await this.attach());
    port.postMessage({ type: "card", request, deadline, lang: this.lang });
    return new Promise((resolve) => {
      this.answer = (a) => "cancel" in a && resolve();
    });
  }

  /**
   * within runs f, rejecting with USER_TIMEOUT after timeout ms (and telling
   * the page). f gets settled() to stop early.
   * @template T
   * @param {number} timeout
   * @param {(settled: () => boolean) => Promise<T>} f
   * @returns {Promise<T>}
   */
  within(timeout, f) {
    let over = false;
    return new Promise((resolve, reject) => {
      const timer = this.timers.set(() => {
        over = true;
        this.answer = null;
        this.onAttach = null;
        this.port?.postMessage({ type: "timeout" });
        reject(new CodedError(ErrorCode.USER_TIMEOUT, "no PIN was entered in time"));
      }, timeout);
      this.stopTimer = () => this.timers.clear(timer);
      f(() => over).then(
        (v) => (this.timers.clear(timer), resolve(v)),
        (e) => (this.timers.clear(timer), reject(e)),
      );
    });
  }

  /** attach opens the window and waits for its page to connect. */
  attach() {
    /** @type {Promise<Port>} */
    const attached = new Promise((resolve) => (this.onAttach = resolve));
    this.window ??= this.deps.open(this.url).catch(() => undefined);
    return attached;
  }

  /**
   * connected is called by the background's onConnect for a "pin" port
   * whose page URL is this dialog's.
   * @param {Port} port
   */
  connected(port) {
    if (this.port || !this.onAttach) return port.disconnect();
    this.port = port;
    port.onMessage.addListener(this.onMessage);
    port.onDisconnect.addListener(this.onDisconnect);
    this.onAttach(port);
    this.onAttach = null;
  }

  /** @param {any} msg */
  onMessage(msg) {
    if (msg?.type === "pin" && typeof msg.pin === "string" && this.answer) {
      const answer = this.answer;
      this.answer = null;
      answer({ pin: msg.pin });
    } else if (msg?.type === "cancel") {
      this.cancel();
    }
  }

  onDisconnect() {
    this.port = null;
    this.closed = true;
    this.cancel();
  }

  /** cancel answers a pending ask with cancel, or aborts the host's work. */
  cancel() {
    const answer = this.answer;
    this.answer = null;
    if (answer) answer({ cancel: true });
    else this.abort.abort(new CodedError(ErrorCode.USER_CANCELLED, "the user cancelled"));
  }

  /** close ends the dialog and its window. Idempotent. */
  close() {
    this.stopTimer();
    const port = this.port;
    this.port = null;
    this.answer = null;
    this.onAttach = null;
    if (port) {
      port.onMessage.removeListener(this.onMessage);
      port.onDisconnect.removeListener(this.onDisconnect);
      port.postMessage({ type: "done" });
    }
    this.window?.then((id) => id !== undefined && this.deps.close(id));
    this.window = null;
  }
}
