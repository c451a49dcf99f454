// Content script on the hosts of the site profiles (INPS, CIE IdP) and the
// demo site's loopback origins: the site helper. On a loopback origin it
// does nothing unless the page names a profile or developer mode is on.

import data from "../profiles/site-profiles.json" with { type: "json" };
import { api } from "../shared/api.js";
import { resolveLanguage, setLanguage, t } from "../shared/i18n.js";
import { profilesFor } from "./profiles.js";
import { SiteHelper } from "./site-helper.js";

async function main() {
  /** @type {import("../shared/settings.js").Settings} */
  const settings = await api.runtime.sendMessage({ type: "settings" });
  if (!settings?.helper) return;
  const profiles = profilesFor(/** @type {any} */ (data), location, document, settings.devMode);
  if (!profiles.length) return;
  setLanguage(resolveLanguage(settings.language, navigator.language));
  const helper = new SiteHelper({
    doc: document,
    loc: location,
    data: /** @type {any} */ (data),
    profiles,
    settings,
    t,
    connect: () => api.runtime.connect({ name: "helper" }),
    send: (msg) => api.runtime.sendMessage(msg),
  });
  helper.start();
  let pending = 0;
  new MutationObserver((records) => {
    if (records.every((r) => r.target instanceof Element && r.target.closest("#eidlink-status"))) return;
    clearTimeout(pending);
    pending = window.setTimeout(() => helper.scan(), 200);
  }).observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["class", "style", "hidden", "aria-hidden", "aria-expanded", "aria-selected"] });
}

main().catch((e) => console.debug("eidlink helper:", e));
