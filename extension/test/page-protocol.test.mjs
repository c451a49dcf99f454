// The page <-> content script protocol: relyingparty/eidlink.js and the content
// script bridge over a fake window, the background replaced by a script.

import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient, EidlinkError } from "../../relyingparty/eidlink.js";
import { startBridge } from "../src/content/bridge.js";
import { FakeClock, FakePort, tick, track, until } from "./fakes.mjs";

/** A window: postMessage delivers asynchronously to "message" listeners with source = the window. */
function fakeWindow(href = "https://www.inps.it/login") {
  const target = new EventTarget();
  const u = new URL(href);
  /** @type {any[]} */
  const posted = [];
  const win = /** @type {any} */ ({
    location: { protocol: u.protocol, hostname: u.hostname, origin: u.origin, href },
    isSecureContext: u.protocol === "https:" || u.hostname === "localhost",
    navigator: { language: "it-IT" },
    addEventListener: target.addEventListener.bind(target),
    removeEventListener: target.removeEventListener.bind(target),
    postMessage(/** @type {any} */ msg, /** @type {string} */ to) {
      assert.equal(to, "*");
      posted.push(structuredClone(msg));
      win.deliver(msg, win);
    },
    deliver(/** @type {any} */ msg, /** @type {any} */ source) {
      const data = structuredClone(msg);
      setImmediate(() => target.dispatchEvent(Object.assign(new Event("message"), { data, source })));
    },
    posted,
  });
  return win;
}

/**
 * A bridge whose background answers with reply(request) (null: no answer).
 * @param {any} win
 * @param {(req: any) => any} reply
 */
function bridge(win, reply, clock = new FakeClock()) {
  /** @type {FakePort[]} */
  const ports = [];
  const stop = startBridge(
    win,
    () => {
      const p = new FakePort();
      p.onPost = (req) => {
        const r = reply(req);
        if (r) setImmediate(() => p.receive(r));
      };
      ports.push(p);
      return p;
    },
    clock,
  );
  return { ports, stop, clock };
}

const TOKEN = { unverifiedCertificate: "MIIB", algorithm: "ES384", signature: "c2ln", format: "web-eid:1.0", appVersion: "https://eidlink.it/eidlink-host/0.1.0" };

test("authenticate through library and bridge: ack, success, only known fields reach the background", async () => {
  const win = fakeWindow();
  const { ports } = bridge(win, (req) => ({ action: req.action + "-success", ...TOKEN }));
  const client = createClient(win);
  const token = await client.authenticate("A".repeat(44), { lang: "it", userInteractionTimeout: 60_000 });
  assert.deepEqual(token, TOKEN);
  const actions = win.posted.map((/** @type {any} */ m) => m.action);
  assert.deepEqual(actions, ["web-eid:authenticate", "web-eid:authenticate-ack", "web-eid:authenticate-success"]);
  assert.equal(win.posted[0].libraryVersion, "0.1.0");
  assert.deepEqual(ports[0].sent, [{ action: "web-eid:authenticate", libraryVersion: "0.1.0", challengeNonce: "A".repeat(44), options: { userInteractionTimeout: 60_000, lang: "it" } }]);
  assert.equal(ports[0].connected, false, "port closed after the answer");
  assert.equal(ports[0].listeners, 0);
});

test("failure carries code, message and the eidlink extras as an EidlinkError", async () => {
  const win = fakeWindow();
  bridge(win, (req) => ({ action: req.action + "-failure", error: { code: "ERR_WEBEID_NATIVE_FATAL", eidlinkCode: "ERR_EIDLINK_NO_CARD", message: "Nessuna carta nel lettore." } }));
  const err = await createClient(win).authenticate("A".repeat(44)).catch((e) => e);
  assert.ok(err instanceof EidlinkError);
  assert.equal(err.code, "ERR_WEBEID_NATIVE_FATAL");
  assert.equal(err.eidlinkCode, "ERR_EIDLINK_NO_CARD");
  assert.equal(err.message, "Nessuna carta nel lettore.");
});

test("a page that speaks only the Web eID messages (no library) is served", async () => {
  const win = fakeWindow();
  bridge(win, (req) => ({ action: req.action + "-success", library: req.libraryVersion, extension: "0.1.0", nativeApp: "0.1.0" }));
  /** @type {any[]} */
  const got = [];
  win.addEventListener("message", (/** @type {any} */ e) => got.push(e.data));
  win.postMessage({ action: "web-eid:status", libraryVersion: "2.1.0" }, "*");
  await until(() => got.length === 3);
  assert.deepEqual(got.slice(1), [{ action: "web-eid:status-ack" }, { action: "web-eid:status-success", library: "2.1.0", extension: "0.1.0", nativeApp: "0.1.0" }]);
});

test("the bridge ignores other windows' messages and non-actions", async () => {
  const win = fakeWindow();
  const { ports } = bridge(win, () => null);
  win.deliver({ action: "web-eid:authenticate", challengeNonce: "x" }, { other: true });
  win.deliver({ action: "web-eid:authenticate-success" }, win);
  win.deliver({ action: "web-eid:evil" }, win);
  win.deliver("web-eid:status", win);
  win.deliver(null, win);
  await tick();
  await tick();
  assert.equal(ports.length, 0);
});

test("the library ignores answers from other windows, then times out", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const win = fakeWindow();
  bridge(win, () => null);
  const out = track(createClient(win).status());
  await until(() => win.posted.length === 2); // request + ack
  win.deliver({ action: "web-eid:status-success", nativeApp: "forged" }, { other: true });
  await tick();
  await tick();
  assert.equal(out.done, false);
  t.mock.timers.tick(6000);
  await until(() => out.done);
  assert.equal(out.err.code, "ERR_WEBEID_ACTION_TIMEOUT");
});

test("bridge timeout: ACTION_TIMEOUT, port closed, listeners gone", async () => {
  const win = fakeWindow();
  const { ports, clock } = bridge(win, () => null);
  win.postMessage({ action: "web-eid:authenticate", challengeNonce: "x", options: { userInteractionTimeout: 1000 } }, "*");
  await until(() => ports.length === 1);
  clock.advance(31_000);
  await until(() => win.posted.length === 3);
  assert.equal(win.posted[2].action, "web-eid:authenticate-failure");
  assert.equal(win.posted[2].error.code, "ERR_WEBEID_ACTION_TIMEOUT");
  assert.equal(ports[0].connected, false);
  assert.equal(ports[0].listeners, 0);
  assert.equal(clock.active, 0);
});

test("background gone mid-action: a failure, not silence", async () => {
  const win = fakeWindow();
  const { ports, clock } = bridge(win, () => null);
  win.postMessage({ action: "web-eid:status" }, "*");
  await until(() => ports.length === 1);
  ports[0].drop();
  await until(() => win.posted.length === 3);
  assert.equal(win.posted[2].error.code, "ERR_WEBEID_UNKNOWN_ERROR");
  assert.equal(clock.active, 0);
});

test("library: no extension means EXTENSION_UNAVAILABLE after the ack timeout", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const out = track(createClient(fakeWindow()).status());
  t.mock.timers.tick(999);
  await tick();
  assert.equal(out.done, false);
  t.mock.timers.tick(1);
  await until(() => out.done);
  assert.equal(out.err.code, "ERR_WEBEID_EXTENSION_UNAVAILABLE");
  assert.equal(out.err.library, "0.1.0", "a status error says the library's version, as Web eID's does");
});

test("library: pending action, missing parameters, insecure page", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const win = fakeWindow();
  bridge(win, () => null);
  const client = createClient(win);
  const first = client.status();
  await assert.rejects(client.status(), { code: "ERR_WEBEID_ACTION_PENDING" });
  await assert.rejects(client.authenticate(""), { code: "ERR_WEBEID_MISSING_PARAMETER" });
  await assert.rejects(client.sign("MIIB", "", "SHA-256"), { code: "ERR_WEBEID_MISSING_PARAMETER" });
  await assert.rejects(createClient(fakeWindow("http://example.com/")).status(), { code: "ERR_WEBEID_CONTEXT_INSECURE" });
  first.catch(() => {});
  t.mock.timers.tick(10_000);
});
