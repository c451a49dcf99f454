// Firefox only: load the card software the installer registered
// (~/.mozilla/pkcs11-modules/eidlink_*.json and the like, written by
// "eidlink install") into Firefox through browser.pkcs11, so that sites
// asking for a TLS client certificate (MyINPS, the CIE identity provider)
// see the card without a module loaded by hand.

/**
 * The name of eidlink's own PKCS#11 module (internal/install.OwnModuleName),
 * which presents every card the service sees: where its manifest is, the
 * card software's own modules are not loaded, so that no certificate is
 * offered twice.
 */
export const OWN_MODULE = "eidlink";

/** The names older "eidlink install" versions registered the card software under. */
export const BUILTIN_MODULES = Object.freeze(["eidlink_cie", "eidlink_bit4id", "eidlink_athena", "eidlink_cardos", "eidlink_incard", "eidlink_opensc"]);

/**
 * moduleName is the name the installer gives a module of the host's
 * status (internal/install.ModuleName): "eidlink_" and the name in lower case
 * without its library suffix, runs of other characters as "_".
 * @param {string} name "IPZS CIE", "OpenSC", "libsofthsm2.so", ...
 */
export function moduleName(name) {
  if (name === "IPZS CIE") return "eidlink_cie";
  const base = (name.split(/[\\/]/).pop() ?? "").replace(/\.(so|dll|dylib)$/, "").toLowerCase();
  return ["eidlink", ...base.split(/[^a-z0-9]+/).filter(Boolean)].join("_");
}

/**
 * moduleCandidates are the names to try: the built-in ones and those of
 * the modules the host found.
 * @param {{modules?: {name: string, present?: boolean}[]}|null|undefined} status
 */
export function moduleCandidates(status) {
  const found = (status?.modules ?? []).filter((m) => m.present !== false).map((m) => moduleName(m.name));
  return [...new Set([OWN_MODULE, ...BUILTIN_MODULES, ...found])];
}

/**
 * @typedef {object} PKCS11
 * @property {(name: string) => Promise<boolean>} isModuleInstalled throws when no manifest names it
 * @property {(name: string, flags?: number) => Promise<void>} installModule
 */

/**
 * installModules loads into Firefox every module of names that has a
 * manifest, and returns the names loaded now or before. A name without a
 * manifest is skipped; so is one Firefox cannot load (reason in failed).
 * @param {PKCS11} pkcs11
 * @param {string[]} names
 * @returns {Promise<{installed: string[], failed: {name: string, error: string}[]}>}
 */
export async function installModules(pkcs11, names) {
  /** @type {string[]} */
  const installed = [];
  /** @type {{name: string, error: string}[]} */
  const failed = [];
  if (names.includes(OWN_MODULE)) {
    try {
      await pkcs11.isModuleInstalled(OWN_MODULE);
      names = [OWN_MODULE]; // its manifest is there: it alone
    } catch {
      names = names.filter((n) => n !== OWN_MODULE);
    }
  }
  for (const name of names) {
    let loaded;
    try {
      loaded = await pkcs11.isModuleInstalled(name);
    } catch {
      continue; // no manifest for it: that card software is not installed
    }
    try {
      if (!loaded) await pkcs11.installModule(name);
      installed.push(name);
    } catch (e) {
      if (/already/i.test(String(e))) installed.push(name);
      else failed.push({ name, error: String(e) });
    }
  }
  return { installed, failed };
}
