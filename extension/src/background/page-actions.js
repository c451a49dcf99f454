// The page API in the background: one handler per Web eID action, one
// pending action per tab, the origin from the sender, errors translated.

import authenticate from "./actions/authenticate.js";
import getSigningCertificate from "./actions/get-signing-certificate.js";
import sign from "./actions/sign.js";
import status from "./actions/status.js";
import unlock from "./actions/unlock.js";
import { abortable } from "./conversation.js";
import { CodedError, ErrorCode, toPageError } from "../shared/errors.js";
import { resolveLanguage, translate } from "../shared/i18n.js";
import { checkOrigin, senderOrigin } from "../shared/origin.js";

/** @type {Record<string, (ctx: import("./conversation.js").ActionContext, msg: Record<string, unknown>) => Promise<object>>} */
export const handlers = {
  "web-eid:status": status,
  "web-eid:authenticate": authenticate,
  "web-eid:get-signing-certificate": getSigningCertificate,
  "web-eid:sign": sign,
};

/** The site helper's actions (port "unlock"), which a page cannot send. */
export const helperHandlers = {
  "eidlink:unlock": unlock,
};

/** Web eID's default, and the bounds eidlink accepts. */
export const DEFAULT_USER_TIMEOUT = 120_000;
const MIN_USER_TIMEOUT = 1_000;
const MAX_USER_TIMEOUT = 600_000;

/**
 * @typedef {object} PinDialogLike
 * @property {import("./conversation.js").PinAsker["ask"]} ask
 * @property {import("./conversation.js").PinAsker["showCard"]} showCard
 * @property {AbortSignal} signal
 * @property {() => void} close
 */

/**
 * @typedef {object} PageDeps
 * @property {() => Promise<import("../shared/settings.js").Settings>} settings at once, with the policy known so far
 * @property {() => Promise<import("../shared/settings.js").Settings>} policy once the policy is read
 * @property {() => import("./native.js").NativeAppService} newNative
 * @property {(lang: string) => PinDialogLike} newPinDialog
 * @property {string} extensionVersion
 * @property {string} uiLanguage
 * @property {() => number} now
 * @property {Record<string, (ctx: import("./conversation.js").ActionContext, msg: Record<string, unknown>) => Promise<object>>} [handlers]
 *   the actions answered (default: the page API's)
 */

/**
 * @typedef {{url?: string, origin?: string, tab?: {id?: number}}} Sender
 */

/**
 * createPageActions returns the function that answers one page request
 * with the message to post back to the page (action + "-success" or
 * "-failure"). signal aborts the action when the page goes away.
 * @param {PageDeps} deps
 */
export function createPageActions(deps) {
  /** @type {Set<number|string>} */
  const busy = new Set();

  /**
   * @param {Record<string, any>} msg the page's message, untrusted
   * @param {Sender} sender from the browser, trusted
   * @param {AbortSignal} signal
   */
  return async function handle(msg, sender, signal) {
    const action = String(msg.action);
    const handler = Object.hasOwn(deps.handlers ?? handlers, action) ? (deps.handlers ?? handlers)[action] : undefined;
    const settings = await deps.settings();
    const lang = pageLanguage(settings.language, msg.options?.lang, deps.uiLanguage);
    const tab = sender.tab?.id ?? "no-tab";
    const versions = { library: typeof msg.libraryVersion === "string" ? msg.libraryVersion : undefined, extension: deps.extensionVersion };
    const fail = (/** @type {unknown} */ e) => ({ action: action + "-failure", error: toPageError(e, (k, ...s) => translate(lang, k, ...s), versions) });
    if (!handler) return fail(new CodedError(ErrorCode.UNKNOWN_ERROR, `unknown action ${action}`));
    if (busy.has(tab)) return fail(new CodedError(ErrorCode.ACTION_PENDING, "another action is pending in this tab"));
    busy.add(tab);
    /** @type {PinDialogLike|null} */
    let dialog = null;
    let native = null;
    try {
      const origin = senderOrigin(sender);
      checkOrigin(origin, settings);
      const deadline = deps.now() + userTimeout(msg.options?.userInteractionTimeout);
      native = deps.newNative();
      if (settings.pending && action !== "web-eid:status") {
        // A policy may restrict the origins (allowedOrigins,
        // developerModeAllowed): the card actions wait for it, while the
        // host starts, and check again before the card or the PIN window.
        const [, policy] = await Promise.all([native.connect(), abortable(deps.policy(), signal)]);
        checkOrigin(origin, policy);
      } else {
        await native.connect();
      }
      const result = await handler(
        {
          native,
          origin,
          lang,
          deadline,
          now: deps.now,
          pin: () => (dialog ??= deps.newPinDialog(lang)),
          signal,
          extensionVersion: deps.extensionVersion,
        },
        msg,
      );
      return { action: action + "-success", ...result };
    } catch (e) {
      return fail(e);
    } finally {
      native?.close();
      /** @type {PinDialogLike|null} */ (dialog)?.close();
      busy.delete(tab);
    }
  };
}

/**
 * userTimeout bounds the page's userInteractionTimeout.
 * @param {unknown} v
 */
export function userTimeout(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return DEFAULT_USER_TIMEOUT;
  return Math.min(MAX_USER_TIMEOUT, Math.max(MIN_USER_TIMEOUT, v));
}

/**
 * pageLanguage: the user's choice, else the page's lang option, else the
 * browser's language.
 * @param {string} choice
 * @param {unknown} pageLang
 * @param {string} ui
 */
export function pageLanguage(choice, pageLang, ui) {
  if (choice === "it" || choice === "en") return choice;
  if (typeof pageLang === "string" && /^(it|en)\b/i.test(pageLang)) return pageLang.slice(0, 2).toLowerCase();
  return resolveLanguage("auto", ui);
}
