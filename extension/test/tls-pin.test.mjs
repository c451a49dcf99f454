// The PIN of a TLS login at signing time: tls-pin-request events from any
// of our host ports open one PIN window per request, the answer goes back
// with "tls-pin", a wrong PIN asks again in the same window, and
// tls-pin-result closes it and keeps a failure for the badge and popup.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NativeAppService } from "../src/background/native.js";
import { PinDialog } from "../src/background/pin-dialog.js";
import { TlsPin } from "../src/background/tls-pin.js";
import { FakeClock, FakePort, until } from "./fakes.mjs";

const request = (/** @type {object} */ extra = {}) => ({ origin: "", purpose: "tls", cardKind: "cie", holder: "MARIO ROSSI", triesLeft: 3, lastTry: false, minLength: 8, maxLength: 8, pinPart: "full", pinpad: false, ...extra });

function setup() {
  const clock = new FakeClock();
  /** @type {FakePort[]} */
  const hosts = [];
  /** @type {{page: FakePort, opened: number, closed: number, lang: string}[]} */
  const windows = [];
  /** @type {any[]} */
  const failures = [];
  const tls = new TlsPin({
    newPinDialog: (lang) => {
      const w = { page: new FakePort(), opened: 0, closed: 0, lang };
      windows.push(w);
      const d = new PinDialog(
        {
          open: async () => (w.opened++, queueMicrotask(() => d.connected(w.page)), 7),
          close: () => w.closed++,
          getURL: (p) => "chrome-extension://abc/" + p,
          timers: clock,
          now: () => clock.now,
        },
        lang,
      );
      return d;
    },
    newNative: () =>
      new NativeAppService({
        connect: () => {
          const port = new FakePort();
          hosts.push(port);
          port.onPost = (msg) => queueMicrotask(() => port.receive(msg.command === "tls-pin" ? {} : { error: { code: "ERR_EIDLINK_UNKNOWN_COMMAND" } }));
          queueMicrotask(() => port.receive({ version: "0.1.0" }));
          return port;
        },
        requiredMajor: 0,
        timers: clock,
      }),
    lang: async () => "en",
    onFailure: (f) => failures.push(f),
    now: () => clock.now,
  });
  return { clock, hosts, windows, failures, tls };
}

test("one window for a request however many ports carry it; the PIN goes back with tls-pin on a port of its own and is not kept", async () => {
  const { hosts, windows, tls, failures } = setup();
  const ev = { event: "tls-pin-request", data: { id: 7, pinRequest: request() } };
  tls.event(ev);
  tls.event(ev); // the same event from the status watch's port and a page action's
  await until(() => windows[0]?.page.sent.length);
  assert.equal(windows.length, 1);
  assert.equal(windows[0].lang, "en");
  assert.equal(windows[0].page.sent[0].request.purpose, "tls");
  assert.equal(windows[0].page.sent[0].request.origin, "", "the window says 'a site'");
  windows[0].page.receive({ type: "pin", pin: "11111111" });
  await until(() => hosts[0]?.sent.length);
  assert.deepEqual(hosts[0].sent, [{ command: "tls-pin", arguments: { id: 7, pin: "11111111" } }]);
  await until(() => !hosts[0].connected);
  // wrong PIN: a new request with the same id, in the same window
  tls.event({ event: "tls-pin-request", data: { id: 7, pinRequest: request({ triesLeft: 2, error: { code: "ERR_EIDLINK_PIN_INCORRECT" } }) } });
  await until(() => windows[0].page.sent.length === 2);
  assert.equal(windows.length, 1);
  assert.equal(windows[0].page.sent[1].request.error.code, "ERR_EIDLINK_PIN_INCORRECT");
  windows[0].page.receive({ type: "pin", pin: "12345678" });
  await until(() => hosts[1]?.sent.length);
  assert.deepEqual(hosts[1].sent[0].arguments, { id: 7, pin: "12345678" });
  tls.event({ event: "tls-pin-result", data: { id: 7, ok: true } });
  await until(() => windows[0].closed);
  assert.deepEqual(failures, [null]);
  assert.equal(tls.open.size, 0);
  assert.ok(!JSON.stringify(tls).includes("12345678"), "the PIN is not kept");
});

test("cancel in the window answers cancel; the failed result is kept for the badge and popup", async () => {
  const { clock, hosts, windows, tls, failures } = setup();
  tls.event({ event: "tls-pin-request", data: { id: 9, pinRequest: request() } });
  await until(() => windows[0]?.page.sent.length);
  windows[0].page.receive({ type: "cancel" });
  await until(() => hosts[0]?.sent.length);
  assert.deepEqual(hosts[0].sent[0], { command: "tls-pin", arguments: { id: 9, cancel: true } });
  tls.event({ event: "tls-pin-result", data: { id: 9, ok: false, error: { code: "ERR_WEBEID_USER_CANCELLED", message: "cancelled" } } });
  assert.deepEqual(failures, [{ code: "ERR_WEBEID_USER_CANCELLED", at: clock.now }]);
  assert.deepEqual(tls.failure, failures[0]);
});

test("the result before the holder answered (timeout, answered in another browser) closes the window and sends nothing", async () => {
  const { hosts, windows, tls } = setup();
  tls.event({ event: "tls-pin-request", data: { id: 3, pinRequest: request() } });
  await until(() => windows[0]?.page.sent.length);
  tls.event({ event: "tls-pin-result", data: { id: 3, ok: false, error: { code: "ERR_WEBEID_USER_TIMEOUT" } } });
  await until(() => windows[0].closed);
  await until(() => windows[0].page.sent.some((m) => m.type === "done"));
  assert.equal(hosts.length, 0);
  assert.equal(tls.failure?.code, "ERR_WEBEID_USER_TIMEOUT");
});

test("other events and malformed ones are ignored", () => {
  const { windows, tls } = setup();
  for (const ev of [{ event: "card-inserted", data: { id: 1 } }, { event: "tls-pin-request", data: { id: "7", pinRequest: request() } }, { event: "tls-pin-request", data: { id: 7 } }, { event: "tls-pin-request" }, /** @type {any} */ (null)]) {
    tls.event(/** @type {any} */ (ev));
  }
  assert.equal(windows.length, 0);
  assert.equal(tls.open.size, 0);
});
