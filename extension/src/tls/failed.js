// The explanation of a TLS login that failed, shown in the tab in place of
// the browser's bare error code (background/tls-watch.js): what happened,
// how to retry, and the way back to the page the login started from.

import { api } from "../shared/api.js";
import { localize, resolveLanguage, setLanguage, t } from "../shared/i18n.js";
import { explainTls } from "../shared/tls-failure.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

(async () => {
  const settings = await api.runtime.sendMessage({ type: "settings" });
  setLanguage(resolveLanguage(settings?.language ?? "auto", navigator.language));
  localize(document);
  /** @type {{failure: import("../shared/tls-failure.js").TlsFailure|null}} */
  const { failure } = await api.runtime.sendMessage({ type: "tls-failure" });
  $("what").textContent = failure ? explainTls(failure, t) : t("tlsFailed", t("err_WEBEID_UNKNOWN_ERROR"));
  $("detail").textContent = failure?.host ? t("tlsPageDetail", failure.host, failure.error ?? "—") : "";
  const back = failure?.back && /^https:\/\//.test(failure.back) ? failure.back : "";
  $("back").hidden = !back;
  $("back").addEventListener("click", () => location.assign(back));
  document.body.dataset.state = failure?.reason ?? "none";
})();
