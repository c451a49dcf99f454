// User options (storage.local) and enterprise policy (storage.managed,
// described by managed_schema.json). Managed values win.

/**
 * @typedef {object} Settings
 * @property {boolean} devMode      page API on http://localhost, 127.0.0.1, [::1]
 * @property {boolean} helper       site helper (MyINPS, CIE IdP, ...) on
 * @property {boolean} spidMemory   remember the SPID identity provider
 * @property {string} spidProvider  remembered (or preset) provider id, "" if none
 * @property {"auto"|"it"|"en"} language
 * @property {string[]} allowedOrigins  page API only for these, when not empty
 * @property {boolean} pkcs11Auto   Firefox: load the card software without asking (policy installPkcs11Modules)
 * @property {string[]} locked      setting names fixed by the administrator
 */

/** @type {Settings} */
export const defaults = Object.freeze({
  devMode: false,
  helper: true,
  spidMemory: false,
  spidProvider: "",
  language: "auto",
  allowedOrigins: [],
  pkcs11Auto: false,
  locked: [],
});

/** The keys a user may change, with their type. */
const userKeys = /** @type {const} */ ({ devMode: "boolean", helper: "boolean", spidMemory: "boolean", spidProvider: "string", language: "string" });

/**
 * mergeSettings applies user options, then the managed policy, over the
 * defaults, ignoring values of the wrong type.
 * @param {Record<string, unknown>} user
 * @param {Record<string, unknown>} managed
 * @returns {Settings}
 */
export function mergeSettings(user, managed) {
  /** @type {any} */
  const s = { ...defaults, locked: [] };
  for (const [k, type] of Object.entries(userKeys)) {
    if (typeof user[k] === type) s[k] = user[k];
  }
  if (!["auto", "it", "en"].includes(s.language)) s.language = "auto";
  if (typeof managed.helperEnabled === "boolean") {
    s.helper = managed.helperEnabled;
    s.locked.push("helper");
  }
  if (typeof managed.spidProviderPreset === "string" && managed.spidProviderPreset) {
    s.spidProvider = managed.spidProviderPreset;
    s.spidMemory = true;
    s.locked.push("spidMemory");
  }
  if (typeof managed.developerModeAllowed === "boolean" && !managed.developerModeAllowed) {
    s.devMode = false;
    s.locked.push("devMode");
  }
  if (Array.isArray(managed.allowedOrigins)) {
    s.allowedOrigins = managed.allowedOrigins.filter((o) => typeof o === "string" && o);
  }
  s.pkcs11Auto = managed.installPkcs11Modules === true;
  return s;
}

/**
 * loadSettings reads both storage areas. storage.managed throws when no
 * policy is installed (Firefox): that means no policy.
 * @param {typeof chrome} api
 */
export async function loadSettings(api) {
  const [user, managed] = await Promise.all([
    api.storage.local.get(Object.keys(userKeys)),
    api.storage.managed.get(null).catch(() => ({})),
  ]);
  return mergeSettings(user, managed);
}
