// Demo relying party page: tab switching and the eidlink challenge login.
"use strict";

const $ = (id) => document.getElementById(id);

function selectTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === "tab-" + name;
    tab.setAttribute("aria-selected", String(on));
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
}

for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener("click", () => selectTab(tab.id.slice(4)));
}
if (location.hash === "#cie" || location.hash === "#cns") selectTab(location.hash.slice(1));

$("spid-login").addEventListener("click", () => {
  $("idp-list").hidden = false;
  $("spid-login").setAttribute("aria-expanded", "true");
});
for (const b of document.querySelectorAll("[data-idp]")) {
  b.addEventListener("click", () => { $("spid-note").hidden = false; });
}

function show(text, isError) {
  $("result").textContent = text;
  $("result").className = isError ? "error" : "";
}

async function login(button) {
  button.disabled = true;
  show("Avvicina o inserisci la carta e segui le istruzioni di eidlink…");
  try {
    if (!window.eidlink) throw new Error("la libreria eidlink non è stata caricata");
    const ch = await fetch("/api/challenge", { method: "POST" });
    if (!ch.ok) throw new Error("il server non ha rilasciato la sfida");
    const { nonce } = await ch.json();
    const token = await window.eidlink.authenticate(nonce, { lang: "it" });
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(token),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || "accesso rifiutato");
    show("");
    $("welcome").textContent = body.welcome;
    $("welcome").hidden = false;
  } catch (err) {
    const code = err && err.code ? " [" + err.code + "]" : "";
    show("Accesso non riuscito: " + (err && err.message ? err.message : String(err)) + code, true);
  } finally {
    button.disabled = false;
  }
}

$("cie-login").addEventListener("click", (e) => login(/** @type {HTMLButtonElement} */ (e.currentTarget)));
$("cns-login").addEventListener("click", (e) => login(/** @type {HTMLButtonElement} */ (e.currentTarget)));
