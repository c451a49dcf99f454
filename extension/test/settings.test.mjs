import assert from "node:assert/strict";
import { test } from "node:test";
import { defaults, mergeSettings } from "../src/shared/settings.js";

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
