import assert from "node:assert/strict";
import { test } from "node:test";
import { OWN_MODULE, installModules, moduleCandidates, moduleName } from "../src/shared/pkcs11.js";

test("moduleName matches the installer's names (internal/install.ModuleName)", () => {
  assert.equal(moduleName("IPZS CIE"), "eidlink_cie");
  assert.equal(moduleName("OpenSC"), "eidlink_opensc");
  assert.equal(moduleName("libsofthsm2.so"), "eidlink_libsofthsm2");
  assert.equal(moduleName("/opt/My CNS/libfoo-pkcs11.dylib"), "eidlink_libfoo_pkcs11");
});

test("moduleCandidates: the built-in names and the present modules of the status, once each", () => {
  const names = moduleCandidates({ modules: [{ name: "libsofthsm2.so", present: true }, { name: "OpenSC", present: true }, { name: "Gone", present: false }] });
  assert.deepEqual(names.slice(-1), ["eidlink_libsofthsm2"]);
  assert.equal(new Set(names).size, names.length);
  assert.ok(!names.includes("eidlink_gone"));
  assert.equal(names[0], "eidlink");
});

test("installModules skips names without a manifest and counts loaded and already-loaded ones", async () => {
  /** @type {string[]} */
  const calls = [];
  const pkcs11 = {
    isModuleInstalled: async (/** @type {string} */ n) => {
      if (n === "none") throw new Error("No such PKCS#11 module none");
      return n === "loaded";
    },
    installModule: async (/** @type {string} */ n) => {
      calls.push(n);
      if (n === "again") throw new Error("This PKCS#11 module has already been loaded");
      if (n === "broken") throw new Error("Failed to load module");
    },
  };
  const r = await installModules(pkcs11, ["none", "loaded", "fresh", "again", "broken"]);
  assert.deepEqual(r.installed, ["loaded", "fresh", "again"]);
  assert.deepEqual(r.failed.map((f) => f.name), ["broken"]);
  assert.deepEqual(calls, ["fresh", "again", "broken"]);
});

test("installModules loads eidlink's own module alone when its manifest is there", async () => {
  /** @type {string[]} */
  const calls = [];
  /** @param {string[]} manifests */
  const fake = (manifests) => ({
    isModuleInstalled: async (/** @type {string} */ n) => {
      if (!manifests.includes(n)) throw new Error(`No such PKCS#11 module ${n}`);
      return false;
    },
    installModule: async (/** @type {string} */ n) => {
      calls.push(n);
    },
  });
  const names = moduleCandidates({ modules: [{ name: "OpenSC", present: true }] });
  const r = await installModules(fake([OWN_MODULE, "eidlink_opensc", "eidlink_cie"]), names);
  assert.deepEqual(r.installed, ["eidlink"]);
  assert.deepEqual(calls, ["eidlink"]);
  calls.length = 0;
  const old = await installModules(fake(["eidlink_opensc"]), names);
  assert.deepEqual(old.installed, ["eidlink_opensc"]);
  assert.deepEqual(calls, ["eidlink_opensc"]);
});
