// The context every page action runs in, and the command loop with the
// PIN conversation: pinRequest -> PIN window -> pin|cancel -> ... -> answer,
// and the wait for the card: cardRequest -> the PIN window says "present
// the card" -> the host goes on by itself when the card arrives (or cancel).

import { CodedError, ErrorCode } from "../shared/errors.js";

/**
 * The PIN window as the conversation sees it (background/pin-dialog.js).
 * @typedef {object} PinAsker
 * @property {(request: object, timeout: number) => Promise<{pin: string}|{cancel: true}>} ask
 *   shows a pinRequest and waits for the holder; rejects with USER_TIMEOUT.
 *   On a pinpad it resolves at once with {pin: ""} (the reader takes the PIN).
 * @property {AbortSignal} signal aborted when the holder cancels or closes the
 *   window while the host is working (pinpad entry, PIN being checked)
 * @property {(request: object, timeout: number) => Promise<void>} showCard
 *   shows a cardRequest; resolves when the holder cancels
 */

/** The commands that need the card, which the host may wait for. */
const CARD_COMMANDS = new Set(["authenticate", "get-signing-certificate", "sign", "unlock"]);

/** The host's own limit on waitForCard (internal/protocol MaxCardWait). */
const MAX_CARD_WAIT = 600_000;

/**
 * How much earlier than the action's deadline the host gives up waiting for
 * the card, so that its USER_TIMEOUT, not our ACTION_TIMEOUT, ends the wait.
 */
const CARD_WAIT_MARGIN = 1000;

/**
 * @typedef {object} ActionContext
 * @property {import("./native.js").NativeAppService} native connected
 * @property {string} origin   from the sender, checked
 * @property {string} lang     "it" or "en", for the host and the PIN window
 * @property {number} deadline ms since epoch: the user interaction timeout
 * @property {() => number} now
 * @property {() => PinAsker} pin  opens the PIN window on first use
 * @property {AbortSignal} signal  aborted when the page goes away
 * @property {string} extensionVersion
 */

/**
 * remaining is the time left before the deadline, or throws code.
 * @param {ActionContext} ctx
 * @param {string} code
 */
function remaining(ctx, code) {
  const ms = ctx.deadline - ctx.now();
  if (ms <= 0) throw new CodedError(code, "the user interaction timeout passed");
  return ms;
}

/**
 * runCommand sends one command and carries the PIN conversation until the
 * final answer, which it returns; an {error} answer is thrown. The PIN goes
 * from the PIN window to the host and nowhere else.
 * @param {ActionContext} ctx
 * @param {string} command
 * @param {object} args
 */
export async function runCommand(ctx, command, args) {
  if (CARD_COMMANDS.has(command) && ctx.native.features?.includes("cardRequest")) {
    const wait = Math.min(remaining(ctx, ErrorCode.USER_TIMEOUT) - CARD_WAIT_MARGIN, MAX_CARD_WAIT);
    args = { ...args, waitForCard: Math.max(1, Math.floor(wait)) };
  }
  let reply = await ctx.native.send({ command, arguments: args }, remaining(ctx, ErrorCode.ACTION_TIMEOUT), ctx.signal);
  while (reply && typeof reply === "object" && (reply.pinRequest || reply.cardRequest)) {
    const dialog = ctx.pin();
    if (reply.cardRequest) {
      reply = await waitCard(ctx, dialog, reply.cardRequest);
      continue;
    }
    const answer = await abortable(dialog.ask(reply.pinRequest, remaining(ctx, ErrorCode.USER_TIMEOUT)), AbortSignal.any([ctx.signal, ctx.native.signal]));
    const next = "pin" in answer ? { command: "pin", arguments: { pin: answer.pin } } : { command: "cancel" };
    reply = await ctx.native.send(next, remaining(ctx, ErrorCode.ACTION_TIMEOUT), AbortSignal.any([ctx.signal, dialog.signal]));
  }
  if (!reply || typeof reply !== "object") throw new CodedError(ErrorCode.NATIVE_FATAL, "eidlink-host sent an unexpected message");
  if (reply.error) throw CodedError.fromNative(reply.error);
  return reply;
}

/**
 * waitCard shows a cardRequest while the host waits for the card. The host
 * answers by itself: a new cardRequest, the pinRequest once the card is
 * there, or an error (its timeout). The holder's Cancel is passed on as
 * "cancel", and the host's answer to it is returned.
 * @param {ActionContext} ctx
 * @param {PinAsker} dialog
 * @param {object} request
 */
async function waitCard(ctx, dialog, request) {
  const reply = ctx.native.receive(remaining(ctx, ErrorCode.ACTION_TIMEOUT), ctx.signal);
  const cancelled = Symbol("cancelled");
  const first = await Promise.race([reply, dialog.showCard(request, remaining(ctx, ErrorCode.USER_TIMEOUT)).then(() => cancelled)]);
  if (first !== cancelled) return first;
  ctx.native.post({ command: "cancel" });
  return reply;
}

/**
 * abortable settles like p, or rejects with the signal's reason first.
 * @template T
 * @param {Promise<T>} p
 * @param {AbortSignal} signal
 * @returns {Promise<T>}
 */
export function abortable(p, signal) {
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * requireString returns msg[name] or throws MISSING_PARAMETER.
 * @param {Record<string, unknown>} msg
 * @param {string} name
 */
export function requireString(msg, name) {
  const v = msg[name];
  if (typeof v !== "string" || !v) throw new CodedError(ErrorCode.MISSING_PARAMETER, `${name} is missing`);
  return v;
}

/**
 * pick copies the named fields of an answer, so nothing else reaches the page.
 * @param {Record<string, unknown>} o
 * @param {string[]} names
 */
export function pick(o, names) {
  return Object.fromEntries(names.map((n) => [n, o[n]]));
}
