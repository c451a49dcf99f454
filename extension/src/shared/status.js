// What the host's "status" means for the user: one state, the card that is
// ready (if any) and what is missing. Used by the popup and the site helper.

/**
 * Mirrors internal/protocol/status.go.
 * @typedef {{name: string, path: string, source: string, present: boolean, loaded: boolean, library?: string, error?: string}} ModuleStatus
 * @typedef {{module: string, slot: number, slotDescription?: string, label: string, cardKind: string, holder?: string, codiceFiscale?: string, hasAuthKey: boolean, hasSignKey: boolean, triesLeft: number, pinLocked: boolean, pinpad: boolean, minPinLength: number, maxPinLength: number, pinPart: string}} TokenStatus
 * @typedef {{name: string, cardPresent: boolean, atr?: string, family?: string, cardKind?: string, contactless?: boolean, pinpad?: boolean, module?: string, holder?: string, codiceFiscale?: string, problem?: string}} ReaderStatus
 * @typedef {{unlocked: boolean, hosts: number, signaturesLeft?: number, expiresIn?: number, lastRefusal?: string, lastRefusalCode?: string, lastRefusalAt?: number, startedAt?: number, tls12Only?: string[]}} TLSStatus
 * @typedef {{version: string, mode: string, service?: {running: boolean, endpoint?: string, version?: string, reason?: string}, modules?: ModuleStatus[], tokens?: TokenStatus[], readers?: ReaderStatus[], pcsc?: string, tls?: TLSStatus}} HostStatus
 */

/**
 * The states, in the order a user fixes them.
 * @typedef {"no-host"|"pcsc-down"|"no-reader"|"no-card"|"no-module"|"card-unknown"|"pin-blocked"|"ready"} State
 */

/**
 * @typedef {object} Summary
 * @property {State} state
 * @property {string} cardKind  "cie", "cns", "unknown" or ""
 * @property {string} holder
 * @property {string} codiceFiscale
 * @property {number} triesLeft -1 when unknown
 * @property {string} problem   the host's own words, if any
 * @property {string} driver    "eidlink" for a CIE on eidlink's own driver (no PKCS#11 token), else ""
 */

/** NATIVE_CIE is the module name of eidlink's own CIE driver (internal/protocol ModuleNativeCIE). */
export const NATIVE_CIE = "eidlink (native CIE driver)";

/**
 * summarize reduces a host status (or null when the host is unreachable)
 * to what the user needs to know.
 * @param {HostStatus|null} st
 * @returns {Summary}
 */
export function summarize(st) {
  /** @type {Summary} */
  const s = { state: "no-host", cardKind: "", holder: "", codiceFiscale: "", triesLeft: -1, problem: "", driver: "" };
  if (!st) return s;
  const tokens = (st.tokens ?? []).filter((t) => t.hasAuthKey);
  const readers = st.readers ?? [];
  const withCard = readers.find((r) => r.cardPresent);
  const token = tokens.find((t) => t.cardKind === "cie" || t.cardKind === "cns") ?? tokens[0];
  if (token) {
    Object.assign(s, { cardKind: token.cardKind, holder: token.holder ?? "", codiceFiscale: token.codiceFiscale ?? "", triesLeft: token.triesLeft });
    s.state = token.pinLocked || token.triesLeft === 0 ? "pin-blocked" : "ready";
    return s;
  }
  if (st.pcsc) return { ...s, state: "pcsc-down", problem: st.pcsc };
  if (!readers.length) return { ...s, state: "no-reader" };
  if (!withCard) return { ...s, state: "no-card" };
  Object.assign(s, { cardKind: withCard.cardKind ?? "", holder: withCard.holder ?? "", codiceFiscale: withCard.codiceFiscale ?? "", problem: withCard.problem ?? "" });
  if (withCard.cardKind === "cie" && withCard.module === NATIVE_CIE && !withCard.problem) return { ...s, state: "ready", driver: "eidlink" };
  s.state = withCard.cardKind === "cie" || withCard.cardKind === "cns" ? "no-module" : "card-unknown";
  return s;
}

/**
 * summaryText is the one-line state and the fix, in the current language.
 * @param {Summary} s
 * @param {(key: string, ...subs: (string|number)[]) => string} t
 * @returns {{title: string, fix: string}}
 */
export function summaryText(s, t) {
  const kind = s.cardKind === "cie" || s.cardKind === "cns" ? t("kind_" + s.cardKind) : t("kind_unknown");
  switch (s.state) {
    case "ready":
      return { title: s.holder ? t("stateReadyHolder", kind, s.holder) : t("stateReady", kind), fix: s.driver === "eidlink" ? t("readyNativeCie") : s.triesLeft >= 0 ? t("triesLeft", s.triesLeft) : "" };
    case "pin-blocked":
      return { title: t("statePinBlocked", kind), fix: t("fixPinBlocked") };
    case "no-module":
      return { title: t("stateNoModule", kind), fix: t(s.cardKind === "cie" ? "fixNoModuleCie" : "fixNoModuleCns") };
    default:
      return { title: t("state_" + s.state.replace("-", "_")), fix: t("fix_" + s.state.replace("-", "_")) };
  }
}
