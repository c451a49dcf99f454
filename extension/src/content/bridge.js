// The page API bridge: Web eID's window.postMessage protocol on one side,
// one runtime port per action to the background on the other. It answers
// "-ack" at once and then the background's "-success" or "-failure". It
// never decides anything about the origin (the background takes it from
// the browser) and never sees a PIN.

import { realTimers } from "../shared/timers.js";

export const ACTIONS = new Set(["web-eid:status", "web-eid:authenticate", "web-eid:get-signing-certificate", "web-eid:sign"]);

/** Added to the user interaction timeout: host start-up and card work. */
const MARGIN = 30_000;
const MAX_WAIT = 600_000 + MARGIN;

/** @typedef {import("../background/native.js").Port} Port */

/**
 * The fields a page may send; everything else is dropped here.
 * @param {Record<string, unknown>} d
 */
export function requestFields(d) {
  /** @type {Record<string, unknown>} */
  const out = { action: d.action };
  for (const k of ["libraryVersion", "challengeNonce", "certificate", "hash", "hashFunction"]) {
    if (typeof d[k] === "string") out[k] = d[k];
  }
  const o = /** @type {Record<string, unknown>} */ (d.options);
  if (o && typeof o === "object") {
    out.options = {
      userInteractionTimeout: typeof o.userInteractionTimeout === "number" ? o.userInteractionTimeout : undefined,
      lang: typeof o.lang === "string" ? o.lang.slice(0, 16) : undefined,
    };
  }
  return out;
}

const texts = {
  it: { timeout: "L'operazione non si è conclusa in tempo.", stopped: "L'estensione eidlink si è interrotta. Ricarica la pagina e riprova." },
  en: { timeout: "The operation did not finish in time.", stopped: "The eidlink extension stopped. Reload the page and try again." },
};

/**
 * startBridge listens on win for Web eID requests posted by the page
 * itself (event.source === win) and relays them. Returns a stop function.
 * @param {Window} win
 * @param {() => Port} connect runtime.connect({name: "webeid"})
 * @param {import("../shared/timers.js").Timers} [timers]
 */
export function startBridge(win, connect, timers = realTimers) {
  const lang = /^en\b/i.test(win.navigator?.language ?? "") ? "en" : "it";
  /** @param {object} msg */
  const post = (msg) => win.postMessage(msg, "*");

  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    if (event.source !== win) return;
    const data = event.data;
    if (!data || typeof data !== "object" || !ACTIONS.has(data.action)) return;
    const action = /** @type {string} */ (data.action);
    post({ action: action + "-ack" });
    const request = requestFields(data);
    const fail = (/** @type {string} */ code, /** @type {string} */ message) => post({ action: action + "-failure", error: { code, message } });

    let port;
    try {
      port = connect();
    } catch {
      return fail("ERR_WEBEID_UNKNOWN_ERROR", texts[lang].stopped);
    }
    const p = port;
    const uit = data.options?.userInteractionTimeout;
    const wait = Math.min(MAX_WAIT, (typeof uit === "number" && uit > 0 ? uit : 120_000) + MARGIN);
    const finish = () => {
      timers.clear(timer);
      p.onMessage.removeListener(onReply);
      p.onDisconnect.removeListener(onGone);
    };
    const timer = timers.set(() => {
      finish();
      p.disconnect();
      fail("ERR_WEBEID_ACTION_TIMEOUT", texts[lang].timeout);
    }, wait);
    /** @param {any} reply */
    const onReply = (reply) => {
      finish();
      p.disconnect();
      if (reply?.action === action + "-success" || reply?.action === action + "-failure") post(reply);
      else fail("ERR_WEBEID_UNKNOWN_ERROR", texts[lang].stopped);
    };
    const onGone = () => {
      finish();
      fail("ERR_WEBEID_UNKNOWN_ERROR", texts[lang].stopped);
    };
    p.onMessage.addListener(onReply);
    p.onDisconnect.addListener(onGone);
    p.postMessage(request);
  };

  win.addEventListener("message", onMessage);
  return () => win.removeEventListener("message", onMessage);
}
