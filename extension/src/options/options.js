// Options page: saves each change at once to storage.local. Settings the
// administrator fixed (storage.managed) are shown but cannot be changed.

import data from "../profiles/site-profiles.json" with { type: "json" };
import { api } from "../shared/api.js";
import { localize, resolveLanguage, setLanguage, t } from "../shared/i18n.js";
import { loadSettings } from "../shared/settings.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
const checks = /** @type {const} */ (["helper", "spidMemory", "devMode"]);

async function render() {
  const s = await loadSettings(api);
  setLanguage(resolveLanguage(s.language, navigator.language));
  localize(document);
  for (const k of checks) {
    $(k).checked = s[k];
    $(k).disabled = s.locked.includes(k);
    const label = $(k).closest("label");
    label?.querySelector(".locked")?.remove();
    if ($(k).disabled) {
      const note = document.createElement("span");
      note.className = "locked";
      note.textContent = t("optLocked");
      label?.append(note);
    }
  }
  $("language").value = s.language;
  $("managed-note").hidden = !s.locked.length && !s.allowedOrigins.length;
  const provider = data.spidProviders.find((p) => p.id === s.spidProvider);
  $("spid-current").textContent = provider && s.spidMemory ? t("optSpidCurrent", provider.name) : "";
  $("forget-spid").hidden = !provider || s.locked.includes("spidMemory");
}

/** @param {Record<string, unknown>} values */
async function save(values) {
  await api.storage.local.set(values);
  $("saved").textContent = t("optSaved");
  await render();
}

// Turning the SPID memory off also forgets the provider.
for (const k of checks) $(k).addEventListener("change", () => void save(k === "spidMemory" && !$(k).checked ? { spidMemory: false, spidProvider: "" } : { [k]: $(k).checked }));
$("language").addEventListener("change", () => void save({ language: $("language").value }));
$("forget-spid").addEventListener("click", () => void save({ spidProvider: "" }));

void render();
