// StatusWatch keeps the host's status for the pages that show the site
// helper's badge: one native port while at least one such page is open,
// a fresh "status" after every host event (card inserted/removed, reader
// added/removed, PC/SC lost/back), pushed to every page. No polling.

import { CodedError, ErrorCode } from "../shared/errors.js";
import { NativeState } from "./native.js";

/** @typedef {import("./native.js").Port} Port */
/** @typedef {{type: "status", status: import("../shared/status.js").HostStatus|null, error?: string, event?: string}} StatusMessage */

const STATUS_TIMEOUT = 15_000;

export class StatusWatch {
  /**
   * @param {(onEvent: (ev: {event: string}) => void) => import("./native.js").NativeAppService} newNative
   */
  constructor(newNative) {
    this.newNative = newNative;
    /** @type {Set<Port>} */
    this.ports = new Set();
    /** @type {import("./native.js").NativeAppService|null} */
    this.native = null;
    /** @type {StatusMessage|null} */
    this.last = null;
    /** @type {Promise<void>|null} */
    this.running = null;
    this.again = false;
    this.event = "";
  }

  /**
   * add subscribes a helper page's port; it gets the last status at once, a
   * fresh one (the host may have no event for what changed since, e.g. a
   * token) and every change after. Its messages: {type: "refresh"}.
   * @param {Port} port
   */
  add(port) {
    this.ports.add(port);
    port.onMessage.addListener((/** @type {any} */ m) => m?.type === "refresh" && this.refresh());
    port.onDisconnect.addListener(() => {
      this.ports.delete(port);
      if (!this.ports.size) this.stop();
    });
    if (this.last) port.postMessage(this.last);
    this.refresh();
  }

  /** refresh asks the host for its status; calls during a run are merged. */
  refresh() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        this.publish(await this.query());
      } while (this.again && this.ports.size);
      this.running = null;
    })();
    return this.running;
  }

  /** @returns {Promise<StatusMessage>} */
  async query() {
    try {
      if (this.native?.state !== NativeState.CONNECTED) {
        const native = this.newNative((ev) => {
          this.event = ev.event;
          this.refresh();
        });
        this.native = native;
        await native.connect();
      }
      const reply = await /** @type {import("./native.js").NativeAppService} */ (this.native).send({ command: "status" }, STATUS_TIMEOUT);
      if (reply?.error) throw CodedError.fromNative(reply.error);
      return { type: "status", status: reply, event: this.event || undefined };
    } catch (e) {
      this.native?.close();
      this.native = null;
      return { type: "status", status: null, error: e instanceof CodedError ? e.code : ErrorCode.UNKNOWN_ERROR };
    }
  }

  /** @param {StatusMessage} msg */
  publish(msg) {
    this.last = msg;
    this.event = "";
    this.tell(msg);
  }

  /**
   * tell posts msg to every watching page.
   * @param {object} msg
   */
  tell(msg) {
    for (const p of this.ports) {
      try {
        p.postMessage(msg);
      } catch {
        this.ports.delete(p); // its page is gone
      }
    }
  }

  /** stop closes the host port when no page watches. */
  stop() {
    this.native?.close();
    this.native = null;
    this.last = null;
  }
}
