import assert from "node:assert/strict";
import { test } from "node:test";
import { SettingsStore, defaults, mergeSettings } from "../src/shared/settings.js";
import { fakeStorage, tick, until } from "./fakes.mjs";

test("defaults: helper on, developer mode and SPID memory off", () => {
  assert.deepEqual(mergeSettings({}, {}), { ...defaults, locked: [] });
});

test("user values of the right type apply; others are ignored", () => {
  const s = mergeSettings({ devMode: true, helper: false, spidMemory: "yes", language: "fr", spidProvider: "poste" }, {});
  assert.equal(s.devMode, true);
  assert.equal(s.helper, false);
  assert.equal(s.spidMemory, false);
  assert.equal(s.language, "auto");
  assert.equal(s.spidProvider, "poste");
});

test("managed policy wins and locks", () => {
  const s = mergeSettings(
    { helper: true, devMode: true, spidMemory: false, spidProvider: "aruba" },
    { helperEnabled: false, spidProviderPreset: "lepida", developerModeAllowed: false, allowedOrigins: ["https://*.inps.it", 3] },
  );
  assert.equal(s.helper, false);
  assert.equal(s.devMode, false);
  assert.equal(s.spidMemory, true);
  assert.equal(s.spidProvider, "lepida");
  assert.deepEqual(s.allowedOrigins, ["https://*.inps.it"]);
  assert.deepEqual(s.locked.sort(), ["devMode", "helper", "spidMemory"]);
});

test("policy installPkcs11Modules: true turns on loading the card software into Firefox", () => {
  assert.equal(mergeSettings({}, { installPkcs11Modules: true }).pkcs11Auto, true);
  assert.equal(mergeSettings({ pkcs11Auto: true }, { installPkcs11Modules: "yes" }).pkcs11Auto, false);
});

test("SettingsStore: answers at once while the policy read hangs, then applies the policy when it arrives", async () => {
  const st = fakeStorage({ devMode: true, language: "en" });
  const store = new SettingsStore(st.api);
  const now = await store.now();
  assert.equal(now.pending, true, "the policy is not known yet");
  assert.equal(now.devMode, true);
  assert.equal(now.language, "en");
  assert.equal(now.helper, true);
  let policy = /** @type {any} */ (null);
  void store.policy().then((s) => (policy = s));
  await tick();
  assert.equal(policy, null, "policy() waits for the policy");
  st.resolvePolicy({ helperEnabled: false, developerModeAllowed: false, allowedOrigins: ["https://*.inps.it"] });
  await until(() => policy);
  assert.equal(policy.helper, false);
  assert.equal(policy.devMode, false);
  assert.equal(policy.pending, undefined);
  const after = await store.now();
  assert.equal(after.pending, undefined, "known from now on");
  assert.equal(after.helper, false);
  assert.deepEqual(after.allowedOrigins, ["https://*.inps.it"]);
});

test("SettingsStore: a change of the user's options keeps the policy; a policy change keeps the old one until read", async () => {
  const st = fakeStorage({ devMode: true });
  const store = new SettingsStore(st.api);
  st.resolvePolicy({ allowedOrigins: ["https://*.inps.it"] });
  await store.policy();
  st.local.language = "it";
  store.changed("local");
  const s = await store.now();
  assert.equal(s.language, "it");
  assert.deepEqual(s.allowedOrigins, ["https://*.inps.it"], "the policy stays applied");
  store.changed("managed");
  assert.equal(st.policyReads, 1, "the policy is read again");
  assert.deepEqual((await store.now()).allowedOrigins, ["https://*.inps.it"], "the old policy until the new one is read");
  assert.equal((await store.now()).pending, undefined);
  st.resolvePolicy({ allowedOrigins: ["https://*.gov.it"] });
  assert.deepEqual((await store.policy()).allowedOrigins, ["https://*.gov.it"]);
  assert.deepEqual((await store.now()).allowedOrigins, ["https://*.gov.it"]);
});

test("SettingsStore: no policy installed (Firefox throws) is no policy", async () => {
  const api = { storage: { local: { get: async () => ({}) }, managed: { get: async () => Promise.reject(new Error("Managed storage manifest not found")) } } };
  const store = new SettingsStore(api);
  assert.deepEqual(await store.policy(), { ...defaults, locked: [] });
  assert.equal((await store.now()).pending, undefined);
});
