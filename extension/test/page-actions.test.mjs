// The background's page API end to end with a scripted host and a scripted
// PIN window: origin from the sender, one action per tab, the PIN
// conversation, timeouts, cancellation, error mapping.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NativeAppService } from "../src/background/native.js";
import { CodedError, ErrorCode } from "../src/shared/errors.js";
import { createPageActions, helperHandlers } from "../src/background/page-actions.js";
import { PinDialog } from "../src/background/pin-dialog.js";
import { SettingsStore, defaults } from "../src/shared/settings.js";
import { FakeClock, FakePort, fakeStorage, tick, track, until } from "./fakes.mjs";

const NONCE = "A".repeat(43) + "=";
const TOKEN = { unverifiedCertificate: "MIIB", algorithm: "RS256", signature: "c2ln", format: "web-eid:1.0", appVersion: "https://eidlink.it/eidlink-host/0.1.0" };
const PIN = "12345678";
const pinRequest = (/** @type {object} */ extra = {}) => ({
  pinRequest: { origin: "https://www.inps.it", purpose: "authenticate", cardKind: "cie", holder: "MARIO ROSSI", codiceFiscale: "RSSMRA80A01H501U", triesLeft: 3, lastTry: false, minLength: 8, maxLength: 8, pinPart: "full", pinpad: false, ...extra },
});

/**
 * A scripted host: answers each command with script(msg), which returns
 * the messages to send back (or null for none).
 * @param {(msg: any, host: {hosts: FakePort[]}) => any[]|null} script
 * @param {{settings?: object, version?: string|null, features?: string[], store?: SettingsStore, handlers?: typeof helperHandlers}} [o]
 */
function setup(script, o = {}) {
  const clock = new FakeClock();
  /** @type {FakePort[]} */
  const hosts = [];
  /** @type {{dialog: PinDialog, page: FakePort, opened: string[], closed: number[]}[]} */
  const windows = [];
  const handle = createPageActions({
    settings: async () => (o.store ? o.store.now() : { ...defaults, ...o.settings }),
    policy: async () => (o.store ? o.store.policy() : { ...defaults, ...o.settings }),
    newNative: () =>
      new NativeAppService({
        connect: () => {
          const port = new FakePort();
          hosts.push(port);
          port.onPost = (msg) => queueMicrotask(() => (script(msg, { hosts }) ?? []).forEach((m) => port.receive(m)));
          if (o.version !== null) queueMicrotask(() => port.receive({ version: o.version ?? "0.1.0", features: o.features }));
          else queueMicrotask(() => port.drop("Specified native messaging host not found."));
          return port;
        },
        requiredMajor: 0,
        timers: clock,
      }),
    newPinDialog: (lang) => {
      const w = { dialog: /** @type {any} */ (null), page: new FakePort(), opened: /** @type {string[]} */ ([]), closed: /** @type {number[]} */ ([]) };
      w.dialog = new PinDialog(
        {
          open: async (url) => {
            w.opened.push(url);
            queueMicrotask(() => w.dialog.connected(w.page));
            return 42;
          },
          close: (id) => w.closed.push(id),
          getURL: (p) => "chrome-extension://abc/" + p,
          timers: clock,
          now: () => clock.now,
        },
        lang,
      );
      windows.push(w);
      return w.dialog;
    },
    extensionVersion: "0.1.0",
    uiLanguage: "it-IT",
    now: () => clock.now,
    handlers: o.handlers,
  });
  return { clock, hosts, windows, handle };
}

const inps = { url: "https://www.inps.it/login?x=1", origin: "https://www.inps.it", tab: { id: 1 } };
const signal = () => new AbortController().signal;
/** @param {any[]} sent */
const commands = (sent) => sent.map((m) => m.command);

/** A host that wants the PIN, refuses wrong ones twice, and signs with the right one. */
const authHost = (/** @type {any} */ msg) => {
  if (msg.command === "authenticate") return [pinRequest()];
  if (msg.command === "pin") return msg.arguments.pin === PIN ? [TOKEN] : [pinRequest({ triesLeft: 2, error: { code: "ERR_EIDLINK_PIN_INCORRECT", message: "wrong PIN", triesLeft: 2 } })];
  if (msg.command === "cancel") return [{ error: { code: "ERR_WEBEID_USER_CANCELLED", message: "the user cancelled" } }];
  return [{ error: { code: "ERR_EIDLINK_UNKNOWN_COMMAND", message: "?" } }];
};

test("authenticate: origin from the sender, PIN window, token back, PIN only to the host", async () => {
  const { hosts, windows, handle, clock } = setup(authHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE, origin: "https://evil.example", options: { lang: "it" } }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  const [w] = windows;
  assert.deepEqual(w.opened, [w.dialog.url]);
  assert.match(w.dialog.url, /^chrome-extension:\/\/abc\/pin\/pin\.html\?s=[0-9a-f-]{36}$/);
  const shown = w.page.sent[0];
  assert.equal(shown.type, "request");
  assert.equal(shown.request.holder, "MARIO ROSSI");
  assert.equal(shown.lang, "it");
  w.page.receive({ type: "pin", pin: PIN });
  await until(() => out.done);
  assert.deepEqual(out.ok, { action: "web-eid:authenticate-success", ...TOKEN });
  const sent = hosts[0].sent;
  assert.deepEqual(sent[0], { command: "authenticate", arguments: { challengeNonce: NONCE, origin: "https://www.inps.it", lang: "it" } });
  assert.deepEqual(sent[1], { command: "pin", arguments: { pin: PIN } });
  assert.ok(!JSON.stringify(out.ok).includes(PIN), "the PIN is not in the page's answer");
  assert.ok(!JSON.stringify(w.page.sent).includes(PIN), "the PIN is not echoed to the PIN page");
  assert.equal(hosts[0].connected, false, "host port closed after the action");
  assert.deepEqual(w.closed, [42], "PIN window closed");
  assert.equal(w.page.listeners, 0, "PIN page port listeners removed");
  assert.equal(clock.active, 0, "no timer left");
});

test("wrong PIN: the next request, with its error and tries left, goes to the same window", async () => {
  const { hosts, windows, handle } = setup(authHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => windows[0]?.page.sent.length === 1);
  windows[0].page.receive({ type: "pin", pin: "00000000" });
  await until(() => windows[0].page.sent.length === 2);
  const again = windows[0].page.sent[1].request;
  assert.equal(again.error.code, "ERR_EIDLINK_PIN_INCORRECT");
  assert.equal(again.triesLeft, 2);
  windows[0].page.receive({ type: "pin", pin: PIN });
  await until(() => out.done);
  assert.equal(out.ok.action, "web-eid:authenticate-success");
  assert.equal(windows.length, 1);
  assert.equal(windows[0].opened.length, 1, "one window for the whole conversation");
  assert.deepEqual(commands(hosts[0].sent), ["authenticate", "pin", "pin"]);
});

test("cancel in the PIN window: host gets cancel, page gets USER_CANCELLED in Italian", async () => {
  const { hosts, windows, handle } = setup(authHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  windows[0].page.receive({ type: "cancel" });
  await until(() => out.done);
  assert.deepEqual(out.ok, { action: "web-eid:authenticate-failure", error: { code: "ERR_WEBEID_USER_CANCELLED", message: "Operazione annullata." } });
  assert.deepEqual(commands(hosts[0].sent), ["authenticate", "cancel"]);
});

test("closing the PIN window cancels", async () => {
  const { hosts, windows, handle } = setup(authHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  windows[0].page.drop();
  await until(() => out.done);
  assert.equal(out.ok.error.code, "ERR_WEBEID_USER_CANCELLED");
  assert.deepEqual(commands(hosts[0].sent), ["authenticate", "cancel"]);
});

test("no PIN in time: USER_TIMEOUT, host closed, window closed, no timer left", async () => {
  const { hosts, windows, handle, clock } = setup(authHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE, options: { userInteractionTimeout: 30_000, lang: "en" } }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  clock.advance(29_999);
  await tick();
  assert.equal(out.done, false);
  clock.advance(1);
  await until(() => out.done);
  assert.equal(out.ok.error.code, "ERR_WEBEID_USER_TIMEOUT");
  assert.equal(out.ok.error.message, "The PIN was not entered in time.");
  assert.deepEqual(windows[0].page.sent.at(-1), { type: "done" });
  assert.deepEqual(windows[0].closed, [42]);
  assert.equal(hosts[0].connected, false);
  assert.equal(clock.active, 0);
});

test("the host ending the PIN wait (its timeout, a crash) ends the action at once", async () => {
  for (const [end, code] of /** @type {const} */ ([
    ["timeout", "ERR_WEBEID_USER_TIMEOUT"],
    ["crash", "ERR_WEBEID_NATIVE_UNAVAILABLE"],
  ])) {
    const { hosts, windows, handle, clock } = setup(authHost);
    const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
    await until(() => windows[0]?.page.sent.length);
    if (end === "timeout") hosts[0].receive({ error: { code: "ERR_WEBEID_USER_TIMEOUT", message: "no PIN was entered in time" } });
    else hosts[0].drop("Native host has exited.");
    await until(() => out.done);
    assert.equal(out.ok.error.code, code, end);
    assert.deepEqual(windows[0].page.sent.at(-1), { type: "done" });
    assert.deepEqual(windows[0].closed, [42]);
    assert.equal(clock.active, 0, "no timer left");
  }
});

test("pinpad: the try starts at once with an empty PIN; cancel on the window aborts", async () => {
  const pinpadHost = (/** @type {any} */ msg) => (msg.command === "authenticate" ? [pinRequest({ pinpad: true })] : null);
  const { hosts, windows, handle } = setup(pinpadHost);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => hosts[0]?.sent.length === 2);
  assert.deepEqual(hosts[0].sent[1], { command: "pin", arguments: { pin: "" } });
  assert.equal(windows[0].page.sent[0].request.pinpad, true);
  windows[0].page.receive({ type: "cancel" });
  await until(() => out.done);
  assert.equal(out.ok.error.code, "ERR_WEBEID_USER_CANCELLED");
  assert.equal(hosts[0].connected, false);
});

test("one pending action per tab", async () => {
  const { windows, handle } = setup(authHost);
  const first = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  const second = await handle({ action: "web-eid:status" }, inps, signal());
  assert.equal(second.action, "web-eid:status-failure");
  assert.equal(second.error.code, "ERR_WEBEID_ACTION_PENDING");
  const otherTab = await handle({ action: "web-eid:status" }, { ...inps, tab: { id: 2 } }, signal());
  assert.equal(otherTab.action, "web-eid:status-success");
  windows[0].page.receive({ type: "pin", pin: PIN });
  await until(() => first.done);
  const after = await handle({ action: "web-eid:status" }, inps, signal());
  assert.equal(after.action, "web-eid:status-success", "the tab is free again");
});

test("the page going away aborts the action and closes the window", async () => {
  const { hosts, windows, handle } = setup(authHost);
  const ac = new AbortController();
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, ac.signal));
  await until(() => windows[0]?.page.sent.length);
  ac.abort(new Error("gone"));
  await until(() => out.done);
  assert.equal(hosts[0].connected, false);
  assert.deepEqual(windows[0].closed, [42]);
});

test("insecure contexts and the enterprise allow-list are refused before starting the host", async () => {
  const cases = [
    [{ url: "http://example.com/", tab: { id: 1 } }, {}, "ERR_WEBEID_CONTEXT_INSECURE", undefined],
    [{ url: "http://localhost:8080/", tab: { id: 1 } }, {}, "ERR_WEBEID_CONTEXT_INSECURE", undefined],
    [{ url: "about:blank", origin: "null", tab: { id: 1 } }, {}, "ERR_WEBEID_CONTEXT_INSECURE", undefined],
    [{ url: "file:///tmp/x.html", tab: { id: 1 } }, { devMode: true }, "ERR_WEBEID_CONTEXT_INSECURE", undefined],
    [inps, { allowedOrigins: ["https://*.gov.it"] }, "ERR_WEBEID_CONTEXT_INSECURE", "ERR_EIDLINK_ORIGIN_NOT_ALLOWED"],
  ];
  for (const [sender, settings, code, eidlinkCode] of cases) {
    const { hosts, handle } = setup(authHost, { settings });
    const r = await handle({ action: "web-eid:status" }, /** @type {any} */ (sender), signal());
    assert.equal(r.error?.code, code, JSON.stringify(sender));
    assert.equal(r.error?.eidlinkCode, eidlinkCode);
    assert.equal(hosts.length, 0, "host not started");
  }
  const dev = setup(authHost, { settings: { devMode: true, allowedOrigins: ["https://*.inps.it", "http://localhost:8080"] } });
  const ok = await dev.handle({ action: "web-eid:status" }, { url: "http://localhost:8080/x", tab: { id: 1 } }, signal());
  assert.equal(ok.action, "web-eid:status-success");
  const sub = await dev.handle({ action: "web-eid:status" }, { url: "https://serviziweb2.inps.it/", tab: { id: 3 } }, signal());
  assert.equal(sub.action, "web-eid:status-success");
});

test("the policy read hanging (Chromium's first storage.managed read): status answers without it", async () => {
  const st = fakeStorage();
  const { handle, hosts } = setup(authHost, { store: new SettingsStore(st.api) });
  const r = await handle({ action: "web-eid:status", libraryVersion: "2.1.0" }, inps, signal());
  assert.deepEqual(r, { action: "web-eid:status-success", library: "2.1.0", extension: "0.1.0", nativeApp: "0.1.0" });
  assert.equal(st.policyReads, 1, "the policy read is still unanswered: status did not wait for it");
  assert.equal(hosts.length, 1);
});

test("the card actions wait for the policy, while the host starts, and a late policy that forbids the origin wins", async () => {
  for (const [policy, want] of /** @type {const} */ ([
    [{ allowedOrigins: ["https://*.gov.it"] }, "ERR_EIDLINK_ORIGIN_NOT_ALLOWED"],
    [{ allowedOrigins: ["https://*.inps.it"] }, "pin window"],
  ])) {
    const st = fakeStorage();
    const { handle, hosts, windows } = setup(authHost, { store: new SettingsStore(st.api) });
    const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
    await until(() => hosts[0]?.listeners); // the host is starting meanwhile
    await tick();
    assert.equal(out.done, false, "waits for the policy");
    assert.deepEqual(hosts[0].sent, [], "nothing asked of the card before the policy is known");
    assert.equal(windows.length, 0, "no PIN window before the policy is known");
    st.resolvePolicy(policy);
    if (want === "pin window") {
      await until(() => windows[0]?.page.sent.length);
      windows[0].page.receive({ type: "pin", pin: PIN });
      await until(() => out.done);
      assert.equal(out.ok?.action, "web-eid:authenticate-success");
    } else {
      await until(() => out.done);
      assert.equal(out.ok?.error?.eidlinkCode, want);
      assert.deepEqual(hosts[0].sent, [], "the card was never asked");
      assert.equal(hosts[0].connected, false, "host closed");
      assert.equal(windows.length, 0);
    }
  }
});

test("a page going away while the policy read hangs ends the card action", async () => {
  const st = fakeStorage();
  const { handle, hosts } = setup(authHost, { store: new SettingsStore(st.api) });
  const gone = new AbortController();
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, gone.signal));
  await until(() => hosts[0]?.listeners);
  gone.abort(new CodedError(ErrorCode.USER_CANCELLED, "the page went away"));
  await until(() => out.done);
  assert.equal(out.ok?.error?.code, "ERR_WEBEID_USER_CANCELLED");
  assert.equal(hosts[0].connected, false, "host closed");
});

test("status: versions of library, extension and host", async () => {
  const { handle, hosts } = setup(authHost, { version: "0.4.2" });
  const r = await handle({ action: "web-eid:status", libraryVersion: "2.1.0" }, inps, signal());
  assert.deepEqual(r, { action: "web-eid:status-success", library: "2.1.0", extension: "0.1.0", nativeApp: "0.4.2" });
  assert.equal(hosts[0].connected, false);
});

test("status: a version mismatch carries what Web eID's library expects, in the user's language", async () => {
  const { handle } = setup(authHost, { version: "1.0.0" });
  const it = await handle({ action: "web-eid:status", libraryVersion: "2.1.0" }, inps, signal());
  assert.deepEqual(it, {
    action: "web-eid:status-failure",
    error: {
      code: "ERR_WEBEID_VERSION_MISMATCH",
      message: "Il programma eidlink e l'estensione hanno versioni non compatibili. Aggiorna entrambi all'ultima versione.",
      requiresUpdate: { extension: true, nativeApp: false },
      library: "2.1.0",
      extension: "0.1.0",
      nativeApp: "1.0.0",
    },
  });
  const en = await handle({ action: "web-eid:status", libraryVersion: "2.1.0", options: { lang: "en" } }, inps, signal());
  assert.match(en.error.message, /incompatible versions/);
  assert.deepEqual(en.error.requiresUpdate, { extension: true, nativeApp: false });
});

test("host errors become Web eID codes, keeping the eidlink code and tries", async () => {
  const cases = [
    [{ code: "ERR_EIDLINK_NO_CARD", message: "no card" }, "ERR_WEBEID_NATIVE_FATAL", "ERR_EIDLINK_NO_CARD", /Nessuna carta nel lettore/],
    [{ code: "ERR_EIDLINK_PIN_BLOCKED", message: "blocked" }, "ERR_WEBEID_NATIVE_FATAL", "ERR_EIDLINK_PIN_BLOCKED", /PUK/],
    [{ code: "ERR_WEBEID_NATIVE_INVALID_ARGUMENT", message: "bad nonce" }, "ERR_WEBEID_NATIVE_INVALID_ARGUMENT", undefined, /non è valida/],
    [{ code: "ERR_EIDLINK_BUSY", message: "busy", retryable: true }, "ERR_WEBEID_ACTION_PENDING", "ERR_EIDLINK_BUSY", /in attesa del PIN in un'altra finestra/],
    [{ code: "ERR_SOMETHING_NEW", message: "?" }, "ERR_WEBEID_UNKNOWN_ERROR", "ERR_SOMETHING_NEW", /imprevisto/],
  ];
  for (const [error, code, eidlinkCode, text] of cases) {
    const { handle } = setup(() => [{ error }]);
    const r = await handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal());
    assert.equal(r.action, "web-eid:authenticate-failure");
    assert.equal(r.error.code, code);
    assert.equal(r.error.eidlinkCode, eidlinkCode);
    assert.match(r.error.message, text);
    assert.equal(r.error.retryable, error.retryable);
  }
});

test("host not installed: NATIVE_UNAVAILABLE", async () => {
  const { handle } = setup(authHost, { version: null });
  const r = await handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal());
  assert.equal(r.error.code, "ERR_WEBEID_NATIVE_UNAVAILABLE");
  assert.match(r.error.message, /non è installato/);
});

test("missing parameters are refused before the host sees them", async () => {
  const { handle, hosts } = setup(authHost);
  for (const msg of [
    { action: "web-eid:authenticate" },
    { action: "web-eid:authenticate", challengeNonce: 42 },
    { action: "web-eid:sign", certificate: "MIIB", hashFunction: "SHA-256" },
  ]) {
    const r = await handle(msg, inps, signal());
    assert.equal(r.error.code, "ERR_WEBEID_MISSING_PARAMETER", JSON.stringify(msg));
  }
  assert.ok(hosts.every((h) => h.sent.length === 0));
});

test("sign and get-signing-certificate pass only their own fields", async () => {
  const alg = { cryptoAlgorithm: "RSA", hashFunction: "SHA-256", paddingScheme: "PKCS1.5" };
  const host = (/** @type {any} */ msg) =>
    msg.command === "get-signing-certificate" ? [{ certificate: "MIIC", supportedSignatureAlgorithms: [alg], extra: "x" }] : msg.command === "sign" ? [pinRequest({ purpose: "sign" })] : msg.command === "pin" ? [{ signature: "c2ln", signatureAlgorithm: alg }] : null;
  const { handle, hosts, windows } = setup(host);
  const cert = await handle({ action: "web-eid:get-signing-certificate" }, inps, signal());
  assert.deepEqual(cert, { action: "web-eid:get-signing-certificate-success", certificate: "MIIC", supportedSignatureAlgorithms: [alg] });
  const out = track(handle({ action: "web-eid:sign", certificate: "MIIC", hash: "aGFzaA==", hashFunction: "SHA-256" }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  assert.equal(windows[0].page.sent[0].request.purpose, "sign");
  windows[0].page.receive({ type: "pin", pin: PIN });
  await until(() => out.done);
  assert.deepEqual(out.ok, { action: "web-eid:sign-success", signature: "c2ln", signatureAlgorithm: alg });
  assert.deepEqual(hosts[1].sent[0], { command: "sign", arguments: { certificate: "MIIC", hash: "aGFzaA==", hashFunction: "SHA-256", origin: "https://www.inps.it", lang: "it" } });
});

const cardRequest = (/** @type {string} */ reason) => ({ cardRequest: { reason, origin: "https://www.inps.it", purpose: "authenticate" } });

/** A host that waits for the card (the test lays it) before the PIN. */
const cardHost = (/** @type {any} */ msg) => (msg.command === "authenticate" ? [cardRequest("no-reader")] : authHost(msg));

test("no card yet: the window asks for it, follows the host and goes on to the PIN when the card arrives", async () => {
  const { clock, hosts, windows, handle } = setup(cardHost, { features: ["cardRequest"] });
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE, options: { lang: "it" } }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  const [w] = windows;
  const wait = hosts[0].sent[0].arguments.waitForCard;
  assert.ok(wait > 0 && wait < 120_000, `waitForCard ${wait} is within the action's time`);
  assert.deepEqual({ ...w.page.sent[0], deadline: 0 }, { type: "card", request: cardRequest("no-reader").cardRequest, deadline: 0, lang: "it" });
  hosts[0].receive({ event: "reader-added" });
  hosts[0].receive(cardRequest("no-card")); // a reader, still no card
  await until(() => w.page.sent.length === 2);
  assert.equal(w.page.sent[1].request.reason, "no-card");
  hosts[0].receive(pinRequest()); // the card is there
  await until(() => w.page.sent.length === 3);
  assert.equal(w.page.sent[2].type, "request");
  w.page.receive({ type: "pin", pin: PIN });
  await until(() => out.done);
  assert.equal(out.ok.action, "web-eid:authenticate-success");
  assert.deepEqual(commands(hosts[0].sent), ["authenticate", "pin"]);
  assert.equal(windows[0].opened.length, 1, "one window from the card to the PIN");
  assert.equal(clock.active, 0, "no timer left");
});

test("cancel while the host waits for the card: the host gets cancel, the page USER_CANCELLED", async () => {
  const { hosts, windows, handle } = setup(cardHost, { features: ["cardRequest"] });
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  windows[0].page.receive({ type: "cancel" });
  await until(() => out.done);
  assert.equal(out.ok.error.code, "ERR_WEBEID_USER_CANCELLED");
  assert.deepEqual(commands(hosts[0].sent), ["authenticate", "cancel"]);
});

test("a host without the cardRequest feature is never asked to wait", async () => {
  const { hosts, handle } = setup(() => [{ error: { code: "ERR_EIDLINK_NO_CARD", message: "no card" } }]);
  const out = track(handle({ action: "web-eid:authenticate", challengeNonce: NONCE }, inps, signal()));
  await until(() => out.done);
  assert.equal(out.ok.error.eidlinkCode, "ERR_EIDLINK_NO_CARD");
  assert.equal("waitForCard" in hosts[0].sent[0].arguments, false);
});

test("eidlink:unlock (the site helper's port): origin from the sender tab, the PIN in eidlink's window, the card kept unlocked", async () => {
  const unlocked = { expiresIn: 60, signatures: 4, origin: "https://www.inps.it", cardKind: "cns", holder: "MARIO ROSSI", tokenLabel: "CNS" };
  const { hosts, windows, handle } = setup(
    (msg) => {
      if (msg.command === "unlock") return [pinRequest({ purpose: "tls", cardKind: "cns" })];
      if (msg.command === "pin") return msg.arguments.pin === PIN ? [{ unlocked }] : null;
      return [{ error: { code: "ERR_EIDLINK_UNKNOWN_COMMAND", message: "?" } }];
    },
    { handlers: helperHandlers, features: ["cardRequest"] },
  );
  const out = track(handle({ action: "eidlink:unlock", origin: "https://evil.example", card: "cns" }, inps, signal()));
  await until(() => windows[0]?.page.sent.length);
  assert.equal(windows[0].page.sent[0].request.purpose, "tls");
  windows[0].page.receive({ type: "pin", pin: PIN });
  await until(() => out.done);
  assert.deepEqual(out.ok, { action: "eidlink:unlock-success", unlocked: { expiresIn: 60, signatures: 4, cardKind: "cns" } });
  const sent = hosts[0].sent;
  assert.deepEqual(commands(sent), ["unlock", "pin"]);
  assert.equal(sent[0].arguments.origin, "https://www.inps.it", "the sender's origin, not the message's");
  assert.ok(sent[0].arguments.waitForCard > 0, "waits for the card");
  assert.equal(sent[0].arguments.card, "cns", "the card of the control the user clicked");
  assert.deepEqual(windows[0].closed, [42], "the PIN window closes");
});

test("eidlink:unlock passes on only a card kind it knows", async () => {
  const { hosts, handle } = setup(() => [{ error: { code: "ERR_WEBEID_USER_CANCELLED", message: "cancel" } }], { handlers: helperHandlers });
  for (const card of ["cie", "CNS di MARIO ROSSI", 7, undefined]) {
    const out = track(handle({ action: "eidlink:unlock", card }, inps, signal()));
    await until(() => out.done);
  }
  assert.deepEqual(
    hosts.flatMap((h) => h.sent.map((m) => m.arguments.card)),
    ["cie", undefined, undefined, undefined],
  );
});

test("eidlink:unlock is not a page action, and no page action is one of the helper's", async () => {
  const page = setup(() => null);
  const out = await page.handle({ action: "eidlink:unlock" }, inps, signal());
  assert.equal(out.action, "eidlink:unlock-failure");
  assert.equal(page.hosts.length, 0, "the host is not even started");
  const helper = setup(() => null, { handlers: helperHandlers });
  for (const action of ["web-eid:authenticate", "constructor", "__proto__"]) {
    const r = await helper.handle({ action, challengeNonce: NONCE }, inps, signal());
    assert.equal(r.action, action + "-failure", action);
  }
  assert.equal(helper.hosts.length, 0);
});
