// User options (storage.local) and enterprise policy (storage.managed,
// described by managed_schema.json). Managed values win.
//
// Chromium's first storage.managed read in a new profile takes seconds
// (2.5-2.9 s measured), so nothing waits for it by default: SettingsStore
// answers at once with the user's options over the defaults (and the
// policy, once read), and merges the policy when it arrives. Only what a
// policy can forbid waits for it (SettingsStore.policy), decided per policy:
//   allowedOrigins, developerModeAllowed  restrict the page API: the card
//        actions (authenticate, get-signing-certificate, sign) check the
//        origin again once the policy is known, before the PIN window opens
//        or the card is used; web-eid:status, which tells only versions
//        (the extension's presence is visible anyway), answers at once.
//   helperEnabled  the helper shows its badge at once, but clicks or focuses
//        nothing on the page before the policy is known, and leaves the
//        page as it found it if the policy turns it off.
//   spidProviderPreset  a preference: applied when it arrives (the helper
//        focuses the SPID provider only once the policy is known).
//   installPkcs11Modules  at the background's start, nobody waits: read
//        from the policy.
// The options page shows the locked settings: it reads both areas.

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
 * @property {boolean} [pending]     the policy is not read yet: policy values are the defaults
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
 * @typedef {{storage: {local: {get: (keys: string[]) => Promise<Record<string, unknown>>},
 *   managed: {get: (keys: null) => Promise<Record<string, unknown>>}}}} StorageAPI
 */

/** @param {StorageAPI} api */
const readUser = (api) => api.storage.local.get(Object.keys(userKeys));

/**
 * readManaged reads the policy. storage.managed throws when no policy is
 * installed (Firefox): that means no policy.
 * @param {StorageAPI} api
 * @returns {Promise<Record<string, unknown>>}
 */
const readManaged = (api) => Promise.resolve(api.storage.managed.get(null)).catch(() => ({}));

/**
 * loadSettings reads both storage areas, waiting for the policy.
 * @param {StorageAPI} api
 */
export async function loadSettings(api) {
  const [user, managed] = await Promise.all([readUser(api), readManaged(api)]);
  return mergeSettings(user, managed);
}

/**
 * SettingsStore keeps the settings for the background: read once, again
 * on every change (storage.onChanged: changed(area)).
 */
export class SettingsStore {
  /** @param {StorageAPI} api */
  constructor(api) {
    this.api = api;
    /** @type {Promise<Record<string, unknown>>} */
    this.user = readUser(api);
    /** @type {Record<string, unknown>|null} the last policy read, null before the first read answers */
    this.managed = null;
    /** @type {Promise<Record<string, unknown>>} */
    this.reading = this.readPolicy();
  }

  readPolicy() {
    const p = readManaged(this.api);
    void p.then((m) => {
      if (this.reading === p) this.managed = m;
    });
    return p;
  }

  /**
   * changed rereads the area that changed. A policy change keeps the old
   * policy applied until the new one is read.
   * @param {string} area
   */
  changed(area) {
    if (area === "managed") this.reading = this.readPolicy();
    else this.user = readUser(this.api);
  }

  /**
   * now: the user's options with the policy known so far, without waiting
   * for a first policy read (pending is true then).
   * @returns {Promise<Settings>}
   */
  async now() {
    const user = await this.user;
    const managed = this.managed;
    return managed ? mergeSettings(user, managed) : { ...mergeSettings(user, {}), pending: true };
  }

  /**
   * policy: the settings once the policy is read, for what a policy may forbid.
   * @returns {Promise<Settings>}
   */
  async policy() {
    const [user, managed] = await Promise.all([this.user, this.reading]);
    return mergeSettings(user, managed);
  }
}
