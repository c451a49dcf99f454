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

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * canonicalOrigin is the host's webinput.CanonicalOrigin (the same rule,
 * tested against the same vectors, internal/webinput/testdata/origins.json):
 * origin as browsers write it, scheme and host lower case, no default
 * port; "" for anything else (other schemes, user info, path, query,
 * fragment, bad ports, non-ASCII hosts, non-canonical IP addresses).
 * @param {string} origin
 */
export function canonicalOrigin(origin) {
  const m = /^([A-Za-z]+):\/\/(.*)$/s.exec(origin);
  const scheme = m?.[1].toLowerCase();
  if (!m || (scheme !== "https" && scheme !== "http")) return "";
  const rest = m[2];
  if (/[/?#@\\%]/.test(rest)) return "";
  let host = rest;
  let port = "";
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) return "";
    port = rest.slice(end + 1);
    if (port && port[0] !== ":") return "";
    host = ipv6(rest.slice(1, end));
  } else {
    const i = rest.lastIndexOf(":");
    if (i >= 0) [host, port] = [rest.slice(0, i), rest.slice(i)];
    host = dnsOrIPv4(host);
  }
  if (!host) return "";
  if (port) {
    if (!/^:[1-9]\d{0,4}$/.test(port) || Number(port.slice(1)) > 65535) return "";
    if ((scheme === "https" && port === ":443") || (scheme === "http" && port === ":80")) port = "";
  }
  return `${scheme}://${host}${port}`;
}

/**
 * ipv6 writes an IPv6 address in its shortest form in brackets (URL's
 * serialiser, which is RFC 5952's), "" if it is not one or is an IPv4-mapped one.
 * @param {string} a
 */
function ipv6(a) {
  try {
    const h = new URL(`http://[${a}]/`).hostname;
    return /^\[::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}\]$/.test(h) ? "" : h;
  } catch {
    return "";
  }
}

/**
 * dnsOrIPv4 lower-cases an ASCII DNS name or checks a dotted-quad IPv4
 * address (a host whose last label is numeric is one, as in URLs).
 * @param {string} host
 */
function dnsOrIPv4(host) {
  if (!host || host.length > 253 || !/^[A-Za-z0-9._-]+$/.test(host)) return "";
  const h = host.toLowerCase();
  const labels = h.split(".");
  if (labels.some((l) => !l || l.length > 63)) return "";
  const last = labels[labels.length - 1];
  if ((/^\d+$/.test(last) || last.startsWith("0x")) && !IPV4.test(h)) return "";
  return h;
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
    return u.protocol === "https:" || u.protocol === "http:" ? canonicalOrigin(u.origin) : "";
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

/**
 * tlsLoginMatches are the URL patterns of the hosts of the site profiles
 * with TLS logins ("unlock" controls): the manifest's host_permissions,
 * whose page loads the background follows (background/tls-watch.js).
 * @param {{profiles: {hosts: string[], unlock?: object}[]}} profiles site-profiles.json
 */
export function tlsLoginMatches(profiles) {
  return [...new Set(profiles.profiles.filter((p) => p.unlock).flatMap((p) => p.hosts))].sort().map((h) => `https://${h}/*`);
}
