// Toolbar popup: what the host sees (version, PC/SC, readers, cards, tries
// left), a button that copies the status as diagnostics and, in Firefox,
// one that loads the card software for certificate logins.

import { api } from "../shared/api.js";
import { errorText } from "../shared/errors.js";
import { localize, resolveLanguage, setLanguage, t } from "../shared/i18n.js";
import { installModules, moduleCandidates } from "../shared/pkcs11.js";
import { summarize, summaryText } from "../shared/status.js";
import { explainTls } from "../shared/tls-failure.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {{status?: import("../shared/status.js").HostStatus, error?: {code: string, eidlinkCode?: string, message: string}}} */
let last = {};

async function load() {
  document.body.dataset.state = "loading";
  $("summary-title").textContent = t("popupLoading");
  const [status, tls] = await Promise.all([api.runtime.sendMessage({ type: "host-status" }), api.runtime.sendMessage({ type: "tls-failure" })]);
  last = status;
  // A TLS login that failed: the browser showed only its error code.
  const failure = tls?.failure && typeof tls.failure.reason === "string" ? tls.failure : null;
  $("tls-failure").hidden = !failure;
  $("tls-failure").textContent = failure ? explainTls(failure, t) : "";
  render();
}

function render() {
  const st = last.status ?? null;
  const s = summarize(st);
  const { title, fix } = summaryText(s, t);
  document.body.dataset.state = s.state;
  $("summary-title").textContent = title;
  const code = last.error ? (last.error.eidlinkCode ?? last.error.code) : "";
  $("summary-fix").textContent = code && code !== "ERR_WEBEID_NATIVE_UNAVAILABLE" ? errorText(code, t) : fix;

  const cards = (st?.tokens ?? []).map((k) =>
    item(
      [t("kind_" + (k.cardKind === "cie" || k.cardKind === "cns" ? k.cardKind : "unknown")), k.holder].filter(Boolean).join(" · "),
      [k.codiceFiscale, k.pinLocked ? t("pinBlockedShort") : k.triesLeft >= 0 ? t("triesLeft", k.triesLeft) : "", k.label].filter(Boolean).join(" · "),
    ),
  );
  list("cards", cards, t("popupNoCards"));
  const readers = (st?.readers ?? []).map((r) =>
    item(r.name, [r.cardPresent ? t("popupCardIn", r.cardKind === "cie" || r.cardKind === "cns" ? t("kind_" + r.cardKind) : t("kind_unknown")) : t("popupNoCardIn"), r.problem].filter(Boolean).join(" · ")),
  );
  list("readers", readers, t("popupNoReaders"));
  $("host-version").textContent = st ? `eidlink-host ${st.version} (${st.mode === "service" ? t("popupModeService") : t("popupModeNoService")})` : t("popupHostMissing");
  $("pcsc").textContent = !st ? "—" : st.pcsc ? t("popupPcscDown", st.pcsc) : t("popupPcscOk");
  // The cards that log in only where the site negotiates TLS 1.2, and the service that TLS logins need.
  const tlsNotes = [...(st?.tls?.tls12Only ?? []).map((label) => t("tls12OnlyNote", label)), ...(st?.mode === "no-service" ? [t("tlsNoService")] : [])];
  $("tls-notes").hidden = !tlsNotes.length;
  $("tls-notes").textContent = tlsNotes.join(" ");
  $("modules").textContent = (st?.modules ?? []).filter((m) => m.loaded).map((m) => m.name).join(", ") || "—";
}

/**
 * @param {string} main
 * @param {string} sub
 */
function item(main, sub) {
  const li = document.createElement("li");
  li.textContent = main;
  if (sub) {
    const s = document.createElement("span");
    s.className = "sub";
    s.textContent = sub;
    li.append(s);
  }
  return li;
}

/**
 * @param {string} id
 * @param {HTMLElement[]} items
 * @param {string} empty
 */
function list(id, items, empty) {
  if (!items.length) {
    const li = item(empty, "");
    li.className = "empty";
    items = [li];
  }
  $(id).replaceChildren(...items);
}

$("copy").addEventListener("click", async () => {
  const diag = { extension: api.runtime.getManifest().version, userAgent: navigator.userAgent, ...last };
  try {
    await navigator.clipboard.writeText(JSON.stringify(diag, null, 2));
    $("copied").textContent = t("popupCopied");
  } catch {
    $("copied").textContent = t("popupCopyFailed");
  }
});
$("refresh").addEventListener("click", () => void load());
$("pkcs11").hidden = !api.runtime.getManifest().optional_permissions?.includes(/** @type {any} */ ("pkcs11"));
$("pkcs11-install").addEventListener("click", async () => {
  const out = $("pkcs11-result");
  // Asked first, while the click still counts as the user's.
  if (!(await api.permissions.request({ permissions: [/** @type {any} */ ("pkcs11")] }).catch(() => false))) {
    out.textContent = t("popupPkcs11Denied");
    return;
  }
  const r = await installModules(/** @type {any} */ (globalThis).browser.pkcs11, moduleCandidates(last.status));
  out.dataset.installed = r.installed.join(" ");
  out.textContent = r.installed.length ? t("popupPkcs11Done", r.installed.join(", ")) : r.failed.length ? t("popupPkcs11Failed", r.failed.map((f) => f.error).join("; ")) : t("popupPkcs11None");
});
$("options").addEventListener("click", () => void api.runtime.openOptionsPage());

(async () => {
  const settings = await api.runtime.sendMessage({ type: "settings" });
  setLanguage(resolveLanguage(settings?.language ?? "auto", navigator.language));
  localize(document);
  await load();
})();
