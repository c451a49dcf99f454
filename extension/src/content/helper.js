// Content script on the hosts of the site profiles (INPS, CIE IdP) and the
// demo site's loopback origins: the site helper. On a loopback origin it
// does nothing unless the page names a profile or developer mode is on.

import data from "../profiles/site-profiles.json" with { type: "json" };
import { api } from "../shared/api.js";
import { resolveLanguage, setLanguage, t } from "../shared/i18n.js";
import { profilesFor } from "./profiles.js";
import { SiteHelper, unlock } from "./site-helper.js";

/** @typedef {import("../shared/settings.js").Settings} Settings */

async function main() {
  // Settings at once, without waiting for the policy (see shared/settings.js).
  /** @type {Settings} */
  let settings = await api.runtime.sendMessage({ type: "settings" });
  const policy = () => /** @type {Promise<Settings>} */ (api.runtime.sendMessage({ type: "settings", policy: true }));
  // Off by the user's choice, which a policy may override, or developer
  // mode, which a policy may forbid: then the policy decides first.
  if (settings?.pending && (!settings.helper || settings.devMode)) settings = await policy();
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
    unlock: (card) => unlock(() => api.runtime.connect({ name: "unlock" }), navigator.language, card),
  });
  helper.start();
  if (settings.pending) helper.applyPolicy(await policy());
}

main().catch((e) => console.debug("eidlink helper:", e));
