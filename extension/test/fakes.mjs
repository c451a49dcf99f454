// Test doubles for browser boundaries: a clock whose timers fire only when
// told, and a runtime.Port pair that counts its listeners.

export class FakeClock {
  now = 1_000_000;
  /** @type {Map<number, {at: number, f: () => void}>} */
  timers = new Map();
  seq = 0;
  set = (/** @type {() => void} */ f, /** @type {number} */ ms) => {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now + ms, f });
    return id;
  };
  clear = (/** @type {any} */ id) => void this.timers.delete(id);

  /** advance moves time on and fires the timers that are due, in order. */
  advance(/** @type {number} */ ms) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].f();
    }
    this.now = end;
  }

  get active() {
    return this.timers.size;
  }
}

class Event {
  /** @type {Set<(...a: any[]) => void>} */
  fs = new Set();
  addListener(/** @type {(...a: any[]) => void} */ f) {
    this.fs.add(f);
  }
  removeListener(/** @type {(...a: any[]) => void} */ f) {
    this.fs.delete(f);
  }
  emit(/** @type {any[]} */ ...a) {
    for (const f of [...this.fs]) f(...a);
  }
}

/** FakePort is one end of a port; `sent` holds what was posted on it. */
export class FakePort {
  onMessage = new Event();
  onDisconnect = new Event();
  /** @type {any[]} */
  sent = [];
  connected = true;
  /** @type {{message?: string}|null} */
  error = null;
  /** @type {((msg: any) => void)|null} called on each postMessage */
  onPost = null;

  postMessage(/** @type {any} */ msg) {
    if (!this.connected) throw new Error("Attempting to use a disconnected port object");
    this.sent.push(msg);
    this.onPost?.(msg);
  }
  disconnect() {
    this.connected = false;
  }
  /** receive delivers msg as if the other side posted it. */
  receive(/** @type {any} */ msg) {
    this.onMessage.emit(msg);
  }
  /** drop closes the port from the other side. */
  drop(/** @type {string} */ reason = "") {
    this.connected = false;
    if (reason) this.error = { message: reason };
    this.onDisconnect.emit(this);
  }
  get listeners() {
    return this.onMessage.fs.size + this.onDisconnect.fs.size;
  }
}

/** tick lets pending promise callbacks run. */
export const tick = () => new Promise((r) => setImmediate(r));

/** track records the outcome of p as it happens. */
export function track(/** @type {Promise<any>} */ p) {
  /** @type {{ok?: any, err?: any, done: boolean}} */
  const out = { done: false };
  p.then(
    (v) => Object.assign(out, { ok: v, done: true }),
    (e) => Object.assign(out, { err: e, done: true }),
  );
  return out;
}

/** until lets promise callbacks run until cond() holds (or fails after n rounds). */
export async function until(/** @type {() => unknown} */ cond, n = 50) {
  for (let i = 0; i < n; i++) {
    if (cond()) return;
    await tick();
  }
  throw new Error("condition not reached: " + cond.toString());
}

/**
 * fakeStorage is the storage API with user options in local and a policy
 * read that answers only when told: resolvePolicy(values) (never, if not
 * called), like Chromium's slow first storage.managed read.
 * @param {Record<string, unknown>} [local]
 */
export function fakeStorage(local = {}) {
  /** @type {((v: Record<string, unknown>) => void)[]} */
  const pending = [];
  const api = {
    storage: {
      local: { get: async (/** @type {string[]} */ keys) => Object.fromEntries(keys.filter((k) => k in local).map((k) => [k, local[k]])) },
      managed: { get: (/** @type {null} */ _) => new Promise((resolve) => pending.push(resolve)) },
    },
  };
  return {
    api,
    local,
    /** resolvePolicy answers every policy read asked for so far. @param {Record<string, unknown>} values */
    resolvePolicy(values) {
      for (const r of pending.splice(0)) r(values);
    },
    get policyReads() {
      return pending.length;
    },
  };
}
