// The PIN window. It gets pinRequests from the background over the "pin"
// port and sends back {type: "pin"} or {type: "cancel"}. Before the PIN it
// may get cardRequests: the host waits for the holder to present the card
// (or connect the reader), and the window says so until the PIN request. The PIN is read
// from the input, sent, and the input cleared; it is never stored or logged.
// Closing the window cancels (the background sees the port close).

import { api } from "../shared/api.js";
import { errorText } from "../shared/errors.js";
import { localize, setLanguage, t } from "../shared/i18n.js";
import { cardKindKey, numeric, pinLimits, sanitize, validatePin } from "./pin-form.js";

/** @typedef {import("./pin-form.js").PinRequest} PinRequest */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = /** @type {HTMLInputElement} */ ($("pin"));
const form = /** @type {HTMLFormElement} */ ($("pin-form"));

/** @type {PinRequest|null} */
let request = null;
let deadline = 0;
let ticker = 0;

const port = api.runtime.connect({ name: "pin" });
port.onMessage.addListener((/** @type {any} */ msg) => {
  if (msg?.type === "request") show(msg.request, msg.deadline, msg.lang);
  else if (msg?.type === "card") showCard(msg.request, msg.deadline, msg.lang);
  else if (msg?.type === "timeout") end(t("pinTimeout"));
  else if (msg?.type === "done") end(t("pinDone"));
});
port.onDisconnect.addListener(() => end(t("pinDone")));

/** @param {string} state loading | card | input | busy | pinpad | ended */
function setState(state) {
  document.body.dataset.state = state;
  const inputOn = state === "input";
  input.disabled = !inputOn;
  $("submit").toggleAttribute("disabled", !inputOn);
  $("cancel").toggleAttribute("disabled", state === "ended");
  form.hidden = state === "pinpad" || state === "card";
  $("pinpad").hidden = state !== "pinpad";
  $("card-wait").hidden = state !== "card";
  $("card-info").hidden = state === "card";
  $("busy").hidden = state !== "busy";
}

/**
 * @param {PinRequest} r
 * @param {number} dl
 * @param {string} lang
 */
function show(r, dl, lang) {
  begin(r, dl, lang);
  request = r;
  const kind = r.cardKind === "cie" || r.cardKind === "cns" ? r.cardKind : "unknown";
  $("card-kind").textContent = t(cardKindKey(r)) + (kind === "unknown" && r.tokenLabel ? ` (${r.tokenLabel})` : "");
  field("holder", r.holder);
  field("cf", r.codiceFiscale);

  const left = r.triesLeft;
  const triesText = left >= 0 ? t("triesLeft", left) : "";
  $("tries").textContent = triesText;
  $("pinpad-tries").textContent = triesText;
  $("last-try-warning").hidden = !(r.lastTry || left === 1);
  const err = $("error");
  err.hidden = !r.error;
  err.textContent = r.error ? requestError(r) : "";

  const { min, max } = pinLimits(r);
  const last4 = r.pinPart === "last4";
  $("pin-label").textContent = last4 ? t("pinLabelLast4") : kind === "cie" ? t("pinLabelCie") : min === max ? t("pinLabelExact", min) : t("pinLabelRange", min, max);
  $("pin-hint").textContent = last4 ? "" : kind === "cie" ? t("pinHintCie") : kind === "cns" ? t("pinHintCns") : "";
  $("pin-hint").hidden = !$("pin-hint").textContent;
  $("last4-hint").hidden = !last4;
  $("last4-hint").textContent = last4 ? t("pinHintLast4") : "";
  $("first4").hidden = !last4;
  input.inputMode = numeric(r) ? "numeric" : "text";
  input.value = "";
  inputError("");

  if (r.pinpad) {
    setState("pinpad");
    $("pinpad-cancel").focus();
  } else {
    setState("input");
    input.focus();
  }
}

/**
 * begin shows what every request shows: language, heading and site.
 * @param {{origin: string, purpose: string}} r
 * @param {number} dl
 * @param {string} lang
 */
function begin(r, dl, lang) {
  setLanguage(lang);
  localize(document);
  deadline = dl;
  $("heading").textContent = t(r.purpose === "sign" ? "pinHeadingSign" : r.purpose === "tls" ? "pinHeadingTls" : "pinHeadingAuth");
  document.title = $("heading").textContent ?? "";
  // A TLS signature asked at signing time comes with no origin: the module does not know the site.
  $("origin").textContent = r.origin ? siteName(r.origin) : t("pinSomeSite");
  $("origin").title = r.origin ?? "";
  tick();
  clearInterval(ticker);
  ticker = window.setInterval(tick, 1000);
}

/**
 * showCard asks the holder to present the card (a CIE is contactless: laid
 * on the reader; a CNS is inserted) or to connect the reader.
 * @param {{reason: string, origin: string, purpose: string}} r a cardRequest
 * @param {number} dl
 * @param {string} lang
 */
function showCard(r, dl, lang) {
  begin(r, dl, lang);
  request = null;
  field("holder", "");
  field("cf", "");
  $("error").hidden = true;
  $("last-try-warning").hidden = true;
  const noReader = r.reason === "no-reader";
  $("card-title").textContent = t(noReader ? "cardTitleNoReader" : "cardTitleNoCard");
  $("card-hint").textContent = t(noReader ? "cardHintNoReader" : "cardHintNoCard");
  setState("card");
  $("card-cancel").focus();
}

/**
 * @param {string} id
 * @param {string} [value]
 */
function field(id, value) {
  $(id).textContent = value ?? "";
  $(id + "-row").hidden = !value;
}

/** @param {string} origin */
function siteName(origin) {
  try {
    const u = new URL(origin);
    return u.protocol === "https:" ? u.host : origin;
  } catch {
    return origin;
  }
}

/** @param {PinRequest} r */
function requestError(r) {
  const code = r.error?.code ?? "";
  if (code === "ERR_EIDLINK_PIN_INCORRECT") return r.pinPart === "last4" ? `${t("pinWrong")} ${t("pinWrongLast4")}` : t("pinWrong");
  if (code === "ERR_EIDLINK_PIN_FORMAT") return t("pinFormat");
  return errorText(code, t);
}

/** @param {string} key message key, "" to clear */
function inputError(key) {
  $("input-error").textContent = key ? t(key, ...(request ? Object.values(pinLimits(request)) : [])) : "";
  input.setAttribute("aria-invalid", key ? "true" : "false");
}

function tick() {
  const s = Math.max(0, Math.round((deadline - Date.now()) / 1000));
  $("countdown").textContent = t("timeLeft", `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`);
  if (s === 0) clearInterval(ticker);
}

input.addEventListener("input", () => {
  if (!request) return;
  const clean = sanitize(input.value, request);
  if (clean !== input.value) input.value = clean;
  const key = validatePin(clean, request);
  inputError(key === "pinLast4Typed8" || key === "pinTooLong" ? key : "");
});

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (!request || document.body.dataset.state !== "input") return;
  const key = validatePin(input.value, request);
  if (key) {
    inputError(key);
    input.focus();
    return;
  }
  port.postMessage({ type: "pin", pin: input.value });
  input.value = "";
  $("error").hidden = true;
  setState("busy");
});

const cancel = () => {
  if (document.body.dataset.state === "ended") return;
  port.postMessage({ type: "cancel" });
  end(t("pinCancelled"));
};
$("cancel").addEventListener("click", cancel);
$("pinpad-cancel").addEventListener("click", cancel);
$("card-cancel").addEventListener("click", cancel);
document.addEventListener("keydown", (e) => e.key === "Escape" && cancel());

/** @param {string} text */
function end(text) {
  clearInterval(ticker);
  input.value = "";
  setState("ended");
  $("ended").hidden = !text;
  $("ended").textContent = text;
}
