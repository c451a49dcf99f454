// NativeAppService: one native messaging port to eidlink-host, used for one
// action (or one status watch) and then closed, as Web eID does.

import { CodedError, ErrorCode } from "../shared/errors.js";
import { parseVersion } from "../shared/semver.js";
import { realTimers } from "../shared/timers.js";

export const NativeState = Object.freeze({
  UNINITIALIZED: "UNINITIALIZED",
  CONNECTING: "CONNECTING",
  CONNECTED: "CONNECTED",
  DISCONNECTED: "DISCONNECTED",
});

/** How long the host may take to say its version (Web eID's value). */
export const HANDSHAKE_TIMEOUT = 5000;

/**
 * The part of runtime.Port the service uses; tests pass a fake.
 * @typedef {object} Port
 * @property {(msg: any) => void} postMessage
 * @property {() => void} disconnect
 * @property {{addListener(f: (msg: any) => void): void, removeListener(f: (msg: any) => void): void}} onMessage
 * @property {{addListener(f: (p: any) => void): void, removeListener(f: (p: any) => void): void}} onDisconnect
 * @property {{message?: string}|null} [error] Firefox's disconnect reason
 */

/**
 * @typedef {object} Deps
 * @property {() => Port} connect            runtime.connectNative(HOST_NAME)
 * @property {number} requiredMajor          the host's semver major must equal it
 * @property {() => string|undefined} [lastError] Chrome's runtime.lastError message
 * @property {(ev: {event: string, data?: unknown}) => void} [onEvent]
 * @property {import("../shared/timers.js").Timers} [timers]
 */

export class NativeAppService {
  /** @param {Deps} deps */
  constructor(deps) {
    this.deps = deps;
    this.timers = deps.timers ?? realTimers;
    /** @type {keyof typeof NativeState} */
    this.state = NativeState.UNINITIALIZED;
    this.version = "";
    /** @type {string[]} what the host can do beyond the base protocol (its version message's features) */
    this.features = [];
    /** @type {Port|null} */
    this.port = null;
    /** @type {{resolve: (m: any) => void, reject: (e: Error) => void}|null} */
    this.waiter = null;
    /**
     * Aborted when the host ends the exchange on its own while nothing
     * waits for it (during the PIN wait): it closed the port, or sent an
     * answer nobody asked for (its own PIN timeout). The reason is the error.
     */
    this.ended = new AbortController();
    this.signal = this.ended.signal;
    this.onMessage = this.onMessage.bind(this);
    this.onDisconnect = this.onDisconnect.bind(this);
  }

  /**
   * connect starts the host and checks its version message.
   * @returns {Promise<string>} the host version
   */
  async connect() {
    if (this.state !== NativeState.UNINITIALIZED) throw new Error("NativeAppService is single-use");
    this.state = NativeState.CONNECTING;
    try {
      this.port = this.deps.connect();
    } catch (e) {
      this.state = NativeState.DISCONNECTED;
      throw new CodedError(ErrorCode.NATIVE_UNAVAILABLE, String(e));
    }
    this.port.onMessage.addListener(this.onMessage);
    this.port.onDisconnect.addListener(this.onDisconnect);
    const hello = await this.wait(HANDSHAKE_TIMEOUT, () => new CodedError(ErrorCode.NATIVE_UNAVAILABLE, "eidlink-host did not send its version"));
    const v = parseVersion(hello?.version);
    if (!v) {
      this.close();
      throw new CodedError(ErrorCode.VERSION_INVALID, `eidlink-host sent an invalid version: ${JSON.stringify(hello?.version ?? hello)}`);
    }
    if (v[0] !== this.deps.requiredMajor) {
      this.close();
      throw new CodedError(ErrorCode.VERSION_MISMATCH, `eidlink-host ${hello.version} does not match the extension (major ${this.deps.requiredMajor})`, {
        requiresUpdate: { extension: v[0] > this.deps.requiredMajor, nativeApp: v[0] < this.deps.requiredMajor },
        nativeApp: hello.version,
      });
    }
    this.state = NativeState.CONNECTED;
    this.version = hello.version;
    this.features = Array.isArray(hello.features) ? hello.features.filter((/** @type {unknown} */ f) => typeof f === "string") : [];
    return this.version;
  }

  /**
   * send writes a command and returns the next message that is not an
   * event: the final answer or a pinRequest. An {error} answer is returned
   * as it is; the caller decides.
   * @param {object} message
   * @param {number} timeout ms
   * @param {AbortSignal} [signal] aborts the wait with its reason
   */
  async send(message, timeout, signal) {
    const reply = this.receive(timeout, signal);
    this.post(message);
    return reply;
  }

  /**
   * receive returns the host's next message that is not an event, as send
   * does, without writing anything (the host goes on by itself).
   * @param {number} timeout ms
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  receive(timeout, signal) {
    if (this.state !== NativeState.CONNECTED || !this.port) return Promise.reject(new CodedError(ErrorCode.NATIVE_UNAVAILABLE, "eidlink-host is not connected"));
    return this.wait(timeout, () => new CodedError(ErrorCode.ACTION_TIMEOUT, "eidlink-host did not answer in time"), signal);
  }

  /**
   * post writes a message that gets no answer of its own ("cancel" while
   * the host waits for the card: the command's answer follows).
   * @param {object} message
   */
  post(message) {
    try {
      this.port?.postMessage(message);
    } catch (e) {
      this.waiter?.reject(new CodedError(ErrorCode.NATIVE_UNAVAILABLE, String(e)));
      this.close();
    }
  }

  /** close ends the port; the host exits on end of input. Idempotent. */
  close() {
    if (this.state === NativeState.DISCONNECTED) return;
    this.state = NativeState.DISCONNECTED;
    const port = this.port;
    this.port = null;
    if (port) {
      port.onMessage.removeListener(this.onMessage);
      port.onDisconnect.removeListener(this.onDisconnect);
      port.disconnect();
    }
    this.waiter?.reject(new CodedError(ErrorCode.NATIVE_UNAVAILABLE, "the connection to eidlink-host was closed"));
  }

  /**
   * wait returns the next non-event message, rejecting after timeout ms or
   * when signal aborts. Its timer and abort listener go away either way.
   * @param {number} timeout
   * @param {() => Error} onTimeout
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  wait(timeout, onTimeout, signal) {
    if (this.waiter) return Promise.reject(new Error("NativeAppService: one message at a time"));
    return new Promise((resolve, reject) => {
      const done = () => {
        this.timers.clear(timer);
        signal?.removeEventListener("abort", abort);
        this.waiter = null;
      };
      const abort = () => {
        done();
        reject(signal?.reason instanceof Error ? signal.reason : new CodedError(ErrorCode.USER_CANCELLED));
        this.close();
      };
      const timer = this.timers.set(() => {
        done();
        reject(onTimeout());
        this.close();
      }, timeout);
      if (signal?.aborted) return abort();
      signal?.addEventListener("abort", abort);
      this.waiter = {
        resolve: (m) => (done(), resolve(m)),
        reject: (e) => (done(), reject(e)),
      };
    });
  }

  /** @param {any} msg */
  onMessage(msg) {
    if (msg && typeof msg === "object" && typeof msg.event === "string") {
      this.deps.onEvent?.(msg);
      return;
    }
    if (this.waiter) this.waiter.resolve(msg);
    else if (this.state === NativeState.CONNECTED) {
      this.ended.abort(msg?.error ? CodedError.fromNative(msg.error) : new CodedError(ErrorCode.NATIVE_FATAL, "eidlink-host sent an unexpected message"));
    }
  }

  /** @param {Port} port */
  onDisconnect(port) {
    const reason = port?.error?.message ?? this.deps.lastError?.() ?? "eidlink-host closed the connection";
    const waiter = this.waiter;
    this.waiter = null;
    this.close();
    const err = new CodedError(ErrorCode.NATIVE_UNAVAILABLE, reason);
    this.ended.abort(err);
    waiter?.reject(err);
  }
}
