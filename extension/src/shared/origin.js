// The origin sent to the host comes from what the browser says about the
// sender (runtime.MessageSender), never from page data.

import { CodedError, ErrorCode } from "./errors.js";

const MAX_ORIGIN = 255;

/**
 * isLoopback reports whether hostname (as URL.hostname writes it) is
 * localhost or a loopback address, as the host's ValidateOrigin does.
 * @param {string} hostname
 */
export function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/**
 * senderOrigin computes the origin of the frame that sent a message:
 * sender.origin when the browser gives it (Chrome; it is right for
 * about:blank and sandboxed frames), else the origin of sender.url.
 * Returns "" when there is no usable http(s) origin.
 * @param {{url?: string, origin?: string}} sender
 */
export function senderOrigin(sender) {
  try {
    const u = new URL(sender.origin ?? sender.url ?? "");
    return u.protocol === "https:" || u.protocol === "http:" ? u.origin : "";
  } catch {
    return ""; // opaque ("null") or missing
  }
}

/**
 * checkOrigin throws the page error for an origin the page API must not
 * serve: not https, http off loopback or without developer mode, too long,
 * or refused by an enterprise allow-list.
 * @param {string} origin from senderOrigin
 * @param {{devMode: boolean, allowedOrigins: string[]}} settings
 */
export function checkOrigin(origin, settings) {
  if (!origin || origin.length > MAX_ORIGIN) throw new CodedError(ErrorCode.CONTEXT_INSECURE, "the page has no usable origin");
  const u = new URL(origin);
  if (u.protocol === "http:" && !(settings.devMode && isLoopback(u.hostname))) {
    throw new CodedError(ErrorCode.CONTEXT_INSECURE, "http is allowed only on loopback in developer mode");
  }
  if (settings.allowedOrigins.length && !settings.allowedOrigins.some((p) => originMatches(p, origin))) {
    throw new CodedError("ERR_EIDLINK_ORIGIN_NOT_ALLOWED", "the administrator does not allow this site");
  }
}

/**
 * originMatches matches an origin against "https://host[:port]" or
 * "https://*.domain" (the domain itself and its subdomains).
 * @param {string} pattern
 * @param {string} origin
 */
export function originMatches(pattern, origin) {
  const p = pattern.toLowerCase().replace(/\/+$/, "");
  if (p === origin) return true;
  const m = /^(https?:\/\/)\*\.(.+)$/.exec(p);
  return !!m && origin.startsWith(m[1]) && (origin === m[1] + m[2] || origin.endsWith("." + m[2]));
}

/**
 * hostMatches matches a hostname against "host" or "*.domain".
 * @param {string} pattern
 * @param {string} hostname
 */
export function hostMatches(pattern, hostname) {
  if (pattern.startsWith("*.")) return hostname === pattern.slice(2) || hostname.endsWith(pattern.slice(1));
  return hostname === pattern;
}
