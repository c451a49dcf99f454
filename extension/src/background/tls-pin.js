// The PIN at signing time of a TLS login: eidlink's PKCS#11 module asks
// the service for a signature while no card is unlocked (a holder who
// opened the identity provider directly), and the service asks every
// connected host with a "tls-pin-request" event. TlsPin opens the PIN
// window for it (once, however many of our ports carry the event), sends
// the answer with "tls-pin" on a port of its own, asks again on a wrong
// PIN, and closes the window on "tls-pin-result". A failure is kept for
// the badge and the popup: the browser shows only a bare error code.

import { CodedError, ErrorCode } from "../shared/errors.js";

/** A little over the service's own 2 minutes: its tls-pin-result ends the wait first. */
export const TLS_PIN_TIMEOUT = 125_000;
const SEND_TIMEOUT = 15_000;

/**
 * @typedef {import("./page-actions.js").PinDialogLike} PinDialogLike
 * @typedef {{code: string, at: number}} TlsFailure
 * @typedef {object} TlsPinDeps
 * @property {(lang: string) => PinDialogLike} newPinDialog
 * @property {() => import("./native.js").NativeAppService} newNative
 * @property {() => Promise<string>} lang the holder's language
 * @property {(failure: TlsFailure|null) => void} [onFailure] a login failed (or, null, one worked)
 * @property {() => number} [now]
 */

export class TlsPin {
  /** @param {TlsPinDeps} deps */
  constructor(deps) {
    this.deps = deps;
    /** @type {Map<number, {dialog: PinDialogLike|null, asking: boolean}>} */
    this.open = new Map();
    /** @type {TlsFailure|null} the last TLS login that failed, until one works */
    this.failure = null;
  }

  /**
   * event takes every host event; it acts on tls-pin-request and tls-pin-result.
   * @param {{event: string, data?: any}} ev
   */
  event(ev) {
    const id = ev?.data?.id;
    if (!Number.isSafeInteger(id)) return;
    if (ev.event === "tls-pin-request" && ev.data.pinRequest && typeof ev.data.pinRequest === "object") void this.ask(id, ev.data.pinRequest);
    else if (ev.event === "tls-pin-result") this.result(id, ev.data);
  }

  /**
   * ask shows the request (a first one, or again after a wrong PIN) and
   * sends the holder's answer. The same event from another of our ports
   * while the window waits is the same request: dropped.
   * @param {number} id
   * @param {object} request
   */
  async ask(id, request) {
    let entry = this.open.get(id);
    if (entry?.asking) return;
    if (!entry) {
      entry = { dialog: null, asking: true };
      this.open.set(id, entry);
      const dialog = this.deps.newPinDialog(await this.deps.lang());
      if (this.open.get(id) !== entry) return dialog.close(); // the result came first
      entry.dialog = dialog;
    }
    entry.asking = true;
    /** @type {{pin: string}|{cancel: true}} */
    let answer;
    try {
      answer = await /** @type {PinDialogLike} */ (entry.dialog).ask({ ...request, purpose: "tls" }, TLS_PIN_TIMEOUT);
    } catch {
      answer = { cancel: true };
    }
    if (this.open.get(id) !== entry) return; // the result came first
    entry.asking = false;
    await this.send({ command: "tls-pin", arguments: { id, ...answer } });
  }

  /**
   * send writes one command on a port of its own, as a host answers
   * tls-pin at once whatever else runs on a port.
   * @param {object} command
   */
  async send(command) {
    const native = this.deps.newNative();
    try {
      await native.connect();
      const reply = await native.send(command, SEND_TIMEOUT);
      if (reply?.error) throw CodedError.fromNative(reply.error);
    } catch (e) {
      // ERR_EIDLINK_UNEXPECTED_PIN: answered elsewhere or over; the result event says how it ended.
      if (!(e instanceof CodedError && e.code === "ERR_EIDLINK_UNEXPECTED_PIN")) console.warn("eidlink: tls-pin:", e);
    } finally {
      native.close();
    }
  }

  /**
   * result closes the window of id and keeps the outcome.
   * @param {number} id
   * @param {{ok?: boolean, error?: {code?: string}}} data
   */
  result(id, data) {
    const entry = this.open.get(id);
    this.open.delete(id);
    entry?.dialog?.close();
    this.failure = data.ok ? null : { code: typeof data.error?.code === "string" ? data.error.code : ErrorCode.UNKNOWN_ERROR, at: (this.deps.now ?? Date.now)() };
    this.deps.onFailure?.(this.failure);
  }
}
