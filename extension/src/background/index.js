// Background (Chrome service worker, Firefox background script): routes
// ports and messages from the extension's own scripts and pages.
//
//   port "webeid"  content/page-api.js, one page action per port
//   port "pin"     pin/pin.html, the PIN window of one action
//   port "helper"  content/helper.js, host status and events for the badge
//   port "unlock"  content/helper.js, one unlock before a TLS login (a held click)
//   message {type: "settings" [, policy: true]|"host-status"|"spid-remember"|"tls-failure"}
//
// Every port to the host also carries the service's tls-pin-request and
// tls-pin-result events (a TLS login's PIN at signing time): TlsPin.
// TlsWatch keeps such a port while a TLS-login site loads, and explains a
// TLS login that failed (webRequest on those hosts only).

import profileData from "../profiles/site-profiles.json" with { type: "json" };
import { HOST_NAME, api } from "../shared/api.js";
import { CodedError, ErrorCode, toPageError } from "../shared/errors.js";
import { t } from "../shared/i18n.js";
import { tlsLoginMatches } from "../shared/origin.js";
import { installModules, moduleCandidates } from "../shared/pkcs11.js";
import { parseVersion } from "../shared/semver.js";
import { SettingsStore } from "../shared/settings.js";
import { NativeAppService } from "./native.js";
import { createPageActions, helperHandlers, pageLanguage } from "./page-actions.js";
import { PinDialog } from "./pin-dialog.js";
import { StatusWatch } from "./status-watch.js";
import { TlsPin } from "./tls-pin.js";
import { TlsWatch } from "./tls-watch.js";

const version = api.runtime.getManifest().version;
const requiredMajor = /** @type {number[]} */ (parseVersion(version))[0];

/** @param {(ev: {event: string}) => void} [onEvent] */
const newNative = (onEvent) =>
  new NativeAppService({
    connect: () => api.runtime.connectNative(HOST_NAME),
    requiredMajor,
    lastError: () => api.runtime.lastError?.message,
    onEvent: (ev) => {
      tlsPin.event(ev);
      onEvent?.(ev);
    },
  });

// Settings are read once and again on every change; nothing waits for
// the policy unless the policy may forbid it (see shared/settings.js).
const settings = new SettingsStore(api);
api.storage.onChanged.addListener((_, area) => settings.changed(area));

/** @type {Map<string, PinDialog>} */
const dialogs = new Map();

const dialogDeps = {
  /** @param {string} url */
  open: async (url) => (await api.windows.create({ url, type: "popup", width: 480, height: 720, focused: true }))?.id,
  /** @param {number} id */
  close: (id) => void api.windows.remove(id).catch(() => {}),
  /** @param {string} path */
  getURL: (path) => api.runtime.getURL(path),
};

/** @param {string} lang */
const newPinDialog = (lang) => {
  const d = new PinDialog(dialogDeps, lang);
  dialogs.set(d.id, d);
  const close = d.close.bind(d);
  d.close = () => (dialogs.delete(d.id), close());
  return d;
};

const actionDeps = {
  settings: () => settings.now(),
  policy: () => settings.policy(),
  newNative: () => newNative(),
  newPinDialog,
  extensionVersion: version,
  uiLanguage: api.i18n.getUILanguage(),
  now: Date.now,
};
const handle = createPageActions(actionDeps);
const handleUnlock = createPageActions({ ...actionDeps, handlers: helperHandlers });

const watch = new StatusWatch(newNative);

const tlsPin = new TlsPin({
  newPinDialog,
  newNative: () => newNative(),
  lang: async () => pageLanguage((await settings.now()).language, undefined, api.i18n.getUILanguage()),
  onFailure: (failure) => tlsWatch.report(failure && { reason: "refused", code: failure.code, at: failure.at }),
});

const tlsWatch = new TlsWatch({
  newNative: () => newNative(),
  status: async () => (await hostStatus()).status ?? null,
  show: (tabId) => void api.tabs.update(tabId, { url: api.runtime.getURL("tls/failed.html") }).catch((e) => console.warn("eidlink: tls failure page:", e)),
  onFailure: (failure) => watch.tell({ type: "tls-failure", failure }),
});
{
  const filter = { urls: tlsLoginMatches(profileData), types: /** @type {chrome.webRequest.ResourceType[]} */ (["main_frame"]) };
  api.webRequest?.onBeforeRequest.addListener((d) => void tlsWatch.started(d), filter);
  api.webRequest?.onCompleted.addListener((d) => tlsWatch.completed(d), filter);
  api.webRequest?.onErrorOccurred.addListener((d) => void tlsWatch.failed(d), filter);
  api.tabs.onRemoved.addListener((tabId) => tlsWatch.forget(tabId));
}

/**
 * serve answers the one action a port of a tab carries, with handler.
 * @param {chrome.runtime.Port} port
 * @param {chrome.runtime.MessageSender} sender
 * @param {ReturnType<typeof createPageActions>} handler
 */
function serve(port, sender, handler) {
  const gone = new AbortController();
  port.onDisconnect.addListener(() => gone.abort(new CodedError(ErrorCode.USER_CANCELLED, "the page went away")));
  port.onMessage.addListener(async (/** @type {any} */ msg) => {
    if (!msg || typeof msg !== "object") return;
    const reply = await handler(msg, sender, gone.signal);
    if (!gone.signal.aborted) {
      port.postMessage(reply);
      port.disconnect();
    }
  });
}

api.runtime.onConnect.addListener((port) => {
  const sender = port.sender;
  if (sender?.id !== api.runtime.id) return port.disconnect();
  if (port.name === "webeid" && sender.tab) {
    serve(port, sender, handle);
  } else if (port.name === "unlock" && sender.tab) {
    serve(port, sender, handleUnlock);
  } else if (port.name === "pin" && sender.url?.startsWith(dialogDeps.getURL("pin/pin.html") + "?s=")) {
    const dialog = dialogs.get(new URL(sender.url).searchParams.get("s") ?? "");
    if (dialog) dialog.connected(port);
    else port.disconnect();
  } else if (port.name === "helper" && sender.tab) {
    watch.add(port);
    if (tlsWatch.failure) port.postMessage({ type: "tls-failure", failure: tlsWatch.failure });
  } else {
    port.disconnect();
  }
});

api.runtime.onMessage.addListener((/** @type {any} */ msg, sender, sendResponse) => {
  if (sender.id !== api.runtime.id) return false;
  const reply = (/** @type {Promise<unknown>} */ p) => void p.then(sendResponse, (e) => sendResponse({ error: String(e) }));
  switch (msg?.type) {
    case "settings":
      // {policy: true}: once the policy is read (the site helper, before it acts on the page)
      reply(msg.policy === true ? settings.policy() : settings.now());
      return true;
    case "host-status":
      reply(hostStatus());
      return true;
    case "spid-remember":
      reply(rememberSpid(msg.provider));
      return true;
    case "tls-failure":
      // the popup, the explanation page: the last TLS login that failed, until one works
      sendResponse({ failure: tlsWatch.failure });
      return false;
  }
  return false;
});

/** hostStatus runs "status" once, for the popup. */
async function hostStatus() {
  const native = newNative();
  try {
    await native.connect();
    const status = await native.send({ command: "status" }, 15_000);
    if (status?.error) throw CodedError.fromNative(status.error);
    return { status };
  } catch (e) {
    return { error: toPageError(e, t) };
  } finally {
    native.close();
  }
}

// Firefox under the installPkcs11Modules policy: load the card software
// at every start, once the "pkcs11" permission is held (browser.pkcs11
// exists only then).
void settings.policy().then(async (s) => {
  const pkcs11 = /** @type {any} */ (globalThis).browser?.pkcs11;
  if (!s.pkcs11Auto || !pkcs11) return;
  const r = await hostStatus();
  const { failed } = await installModules(pkcs11, moduleCandidates(r.status));
  for (const f of failed) console.warn(`eidlink: Firefox did not load ${f.name}: ${f.error}`);
});

/**
 * rememberSpid stores the SPID provider the user chose, if they opted in.
 * @param {unknown} provider
 */
async function rememberSpid(provider) {
  const s = await settings.policy();
  if (!s.spidMemory || s.locked.includes("spidMemory") || typeof provider !== "string" || !/^[a-z0-9-]{1,40}$/.test(provider)) return { saved: false };
  await api.storage.local.set({ spidProvider: provider });
  return { saved: true };
}
