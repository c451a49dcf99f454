import assert from "node:assert/strict";
import { test } from "node:test";
import { HANDSHAKE_TIMEOUT, NativeAppService, NativeState } from "../src/background/native.js";
import { FakeClock, FakePort, tick, track } from "./fakes.mjs";

/** @param {{onEvent?: (ev: any) => void, lastError?: () => string|undefined}} [o] */
function setup(o = {}) {
  const clock = new FakeClock();
  const port = new FakePort();
  const svc = new NativeAppService({ connect: () => port, requiredMajor: 0, timers: clock, ...o });
  return { clock, port, svc };
}


test("connect: version accepted, states move UNINITIALIZED -> CONNECTING -> CONNECTED -> DISCONNECTED", async () => {
  const { port, svc, clock } = setup();
  assert.equal(svc.state, NativeState.UNINITIALIZED);
  const p = svc.connect();
  assert.equal(svc.state, NativeState.CONNECTING);
  port.receive({ version: "0.3.1-dev+abc" });
  assert.equal(await p, "0.3.1-dev+abc");
  assert.equal(svc.state, NativeState.CONNECTED);
  assert.equal(clock.active, 0, "handshake timer cleared");
  svc.close();
  assert.equal(svc.state, NativeState.DISCONNECTED);
  assert.equal(port.connected, false);
  assert.equal(port.listeners, 0, "listeners removed");
});

test("connect: wrong major is VERSION_MISMATCH and says who must update", async () => {
  const { port, svc } = setup();
  const p = svc.connect();
  port.receive({ version: "1.0.0" });
  await assert.rejects(p, (e) => e.code === "ERR_WEBEID_VERSION_MISMATCH" && e.requiresUpdate.extension === true && e.requiresUpdate.nativeApp === false);
  assert.equal(svc.state, NativeState.DISCONNECTED);
  assert.equal(port.listeners, 0);
});

test("connect: a missing or malformed version is VERSION_INVALID", async () => {
  for (const hello of [{ version: "1.0" }, { version: 3 }, { hello: "x" }, "0.1.0", null]) {
    const { port, svc } = setup();
    const p = svc.connect();
    port.receive(hello);
    await assert.rejects(p, { code: "ERR_WEBEID_VERSION_INVALID" }, JSON.stringify(hello));
    assert.equal(port.connected, false);
  }
});

test("connect: no version in time is NATIVE_UNAVAILABLE and cleans up", async () => {
  const { port, svc, clock } = setup();
  const out = track(svc.connect());
  clock.advance(HANDSHAKE_TIMEOUT - 1);
  await tick();
  assert.equal(out.done, false, "still waiting just before the timeout");
  clock.advance(1);
  await tick();
  assert.equal(out.err.code, "ERR_WEBEID_NATIVE_UNAVAILABLE");
  assert.equal(clock.active, 0);
  assert.equal(port.listeners, 0);
  assert.equal(port.connected, false);
});

test("connect: host missing (port drops) is NATIVE_UNAVAILABLE with the browser's reason", async () => {
  for (const [how, reason] of [
    ["firefox port.error", "No such native application it.eidlink.host"],
    ["chrome lastError", "Specified native messaging host not found."],
  ]) {
    const lastError = how.startsWith("chrome") ? () => reason : undefined;
    const { port, svc, clock } = setup({ lastError });
    const p = svc.connect();
    port.drop(how.startsWith("firefox") ? reason : "");
    await assert.rejects(p, (e) => e.code === "ERR_WEBEID_NATIVE_UNAVAILABLE" && e.message === reason);
    assert.equal(clock.active, 0);
    assert.equal(port.listeners, 0);
  }
});

test("send: returns the next non-event message; events go to onEvent", async () => {
  /** @type {any[]} */
  const events = [];
  const { port, svc } = setup({ onEvent: (e) => events.push(e) });
  const c = svc.connect();
  port.receive({ version: "0.1.0" });
  await c;
  const p = svc.send({ command: "status" }, 1000);
  assert.deepEqual(port.sent.at(-1), { command: "status" });
  port.receive({ event: "card-inserted", data: { name: "r" } });
  port.receive({ version: "0.1.0", readers: [] });
  assert.deepEqual(await p, { version: "0.1.0", readers: [] });
  assert.deepEqual(events, [{ event: "card-inserted", data: { name: "r" } }]);
});

test("send: timeout is ACTION_TIMEOUT, closes the port and removes listeners", async () => {
  const { port, svc, clock } = setup();
  const c = svc.connect();
  port.receive({ version: "0.1.0" });
  await c;
  const out = track(svc.send({ command: "authenticate" }, 500));
  clock.advance(500);
  await tick();
  assert.equal(out.err.code, "ERR_WEBEID_ACTION_TIMEOUT");
  assert.equal(clock.active, 0);
  assert.equal(port.listeners, 0);
  assert.equal(svc.state, NativeState.DISCONNECTED);
});

test("send: abort signal rejects with its reason and removes the abort listener", async () => {
  const { port, svc, clock } = setup();
  const c = svc.connect();
  port.receive({ version: "0.1.0" });
  await c;
  const ac = new AbortController();
  const out = track(svc.send({ command: "pin", arguments: { pin: "" } }, 10_000, ac.signal));
  const reason = Object.assign(new Error("cancelled"), { code: "ERR_WEBEID_USER_CANCELLED" });
  ac.abort(reason);
  await tick();
  assert.equal(out.err, reason);
  assert.equal(clock.active, 0);
  assert.equal(port.connected, false);
});

test("send: host exit mid-command is NATIVE_UNAVAILABLE", async () => {
  const { port, svc, clock } = setup();
  const c = svc.connect();
  port.receive({ version: "0.1.0" });
  await c;
  const out = track(svc.send({ command: "authenticate" }, 10_000));
  port.drop("Native application has exited.");
  await tick();
  assert.equal(out.err.code, "ERR_WEBEID_NATIVE_UNAVAILABLE");
  assert.equal(out.err.message, "Native application has exited.");
  assert.equal(clock.active, 0);
  await assert.rejects(svc.send({ command: "status" }, 10), { code: "ERR_WEBEID_NATIVE_UNAVAILABLE" });
});

test("connect is single-use", async () => {
  const { port, svc } = setup();
  const c = svc.connect();
  port.receive({ version: "0.1.0" });
  await c;
  await assert.rejects(svc.connect(), /single-use/);
});
