// The context every page action runs in, and the command loop with the
// PIN conversation: pinRequest -> PIN window -> pin|cancel -> ... -> answer.

import { CodedError, ErrorCode } from "../shared/errors.js";

/**
 * The PIN window as the conversation sees it (background/pin-dialog.js).
 * @typedef {object} PinAsker
 * @property {(request: object, timeout: number) => Promise<{pin: string}|{cancel: true}>} ask
 *   shows a pinRequest and waits for the holder; rejects with USER_TIMEOUT.
 *   On a pinpad it resolves at once with {pin: ""} (the reader takes the PIN).
 * @property {AbortSignal} signal aborted when the holder cancels or closes the
 *   window while the host is working (pinpad entry, PIN being checked)
 */

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
  let reply = await ctx.native.send({ command, arguments: args }, remaining(ctx, ErrorCode.ACTION_TIMEOUT), ctx.signal);
  while (reply && typeof reply === "object" && reply.pinRequest) {
    const dialog = ctx.pin();
    const answer = await abortable(dialog.ask(reply.pinRequest, remaining(ctx, ErrorCode.USER_TIMEOUT)), AbortSignal.any([ctx.signal, ctx.native.signal]));
    const next = "pin" in answer ? { command: "pin", arguments: { pin: answer.pin } } : { command: "cancel" };
    reply = await ctx.native.send(next, remaining(ctx, ErrorCode.ACTION_TIMEOUT), AbortSignal.any([ctx.signal, dialog.signal]));
  }
  if (!reply || typeof reply !== "object") throw new CodedError(ErrorCode.NATIVE_FATAL, "eidlink-host sent an unexpected message");
  if (reply.error) throw CodedError.fromNative(reply.error);
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
