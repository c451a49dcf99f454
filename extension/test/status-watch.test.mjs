import assert from "node:assert/strict";
import { test } from "node:test";
import { NativeAppService } from "../src/background/native.js";
import { StatusWatch } from "../src/background/status-watch.js";
import { FakeClock, FakePort, until } from "./fakes.mjs";

test("one host port for all badge pages; events push a fresh status; closed when the last page goes", async () => {
  const clock = new FakeClock();
  /** @type {FakePort[]} */
  const hosts = [];
  let n = 0;
  const watch = new StatusWatch(
    (onEvent) =>
      new NativeAppService({
        connect: () => {
          const port = new FakePort();
          hosts.push(port);
          port.onPost = () => queueMicrotask(() => port.receive({ version: "0.1.0", mode: "service", readers: [], tokens: [], n: ++n }));
          queueMicrotask(() => port.receive({ version: "0.1.0" }));
          return port;
        },
        requiredMajor: 0,
        timers: clock,
        onEvent,
      }),
  );
  const a = new FakePort();
  const b = new FakePort();
  watch.add(a);
  await until(() => a.sent.length === 1);
  assert.equal(a.sent[0].status.n, 1);
  watch.add(b);
  assert.deepEqual(b.sent, [a.sent[0]], "a new page gets the current status at once");
  await until(() => a.sent.length === 2 && b.sent.length === 2);
  assert.equal(b.sent[1].status.n, 2, "and a fresh one");
  hosts[0].receive({ event: "card-removed", data: { name: "r" } });
  await until(() => a.sent.length === 3 && b.sent.length === 3);
  assert.equal(a.sent[2].event, "card-removed");
  assert.equal(a.sent[2].status.n, 3);
  assert.equal(hosts.length, 1, "one host process for both pages");
  a.receive({ type: "refresh" });
  await until(() => b.sent.length === 4);
  a.drop();
  assert.equal(hosts[0].connected, true);
  b.drop();
  assert.equal(hosts[0].connected, false, "host port closed with the last page");
  assert.equal(clock.active, 0);
});

test("host missing: pages get status null with the code; a refresh tries again", async () => {
  let tries = 0;
  const watch = new StatusWatch(
    () =>
      new NativeAppService({
        connect: () => {
          tries++;
          const port = new FakePort();
          queueMicrotask(() => port.drop("Specified native messaging host not found."));
          return port;
        },
        requiredMajor: 0,
        timers: new FakeClock(),
      }),
  );
  const page = new FakePort();
  watch.add(page);
  await until(() => page.sent.length === 1);
  assert.deepEqual(page.sent[0], { type: "status", status: null, error: "ERR_WEBEID_NATIVE_UNAVAILABLE" });
  page.receive({ type: "refresh" });
  await until(() => page.sent.length === 2);
  assert.equal(tries, 2);
});
