// The helper's on-page status: a small box in a shadow root (no page CSS
// gets in, none gets out). Closed shadow root, so the page cannot read the
// holder's name; open in developer mode, for tests. The host element
// carries the non-personal state as attributes:
//   #eidlink-status[data-eidlink-state][data-eidlink-card][data-eidlink-profile][data-eidlink-offer][data-eidlink-unlock]

const CSS = `
:host { all: initial; display: block; margin: 8px 0; }
:host([data-floating]) { position: fixed; right: 16px; bottom: 16px; z-index: 2147483647; margin: 0; }
.box { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; background: #f6f9fc;
  border: 1px solid #c8d4e2; border-left: 5px solid var(--c, #0b5cad); border-radius: 6px; padding: 8px 12px; max-width: 36em;
  box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.ok { --c: #1b7a3a; } .warn { --c: #a85a00; } .bad { --c: #b3261e; }
.head { display: flex; gap: 8px; align-items: baseline; }
.brand { font-size: 12px; font-weight: 600; color: #0b5cad; letter-spacing: .02em; }
.title { font-weight: 600; flex: 1; }
.line { margin-top: 2px; }
.note { margin-top: 6px; padding-top: 6px; border-top: 1px solid #dde5ee; }
button { font: inherit; cursor: pointer; border-radius: 4px; }
.primary { margin-top: 8px; background: #0b5cad; color: #fff; border: 0; padding: 6px 12px; font-weight: 600; }
.link { background: none; border: 0; color: #0b5cad; text-decoration: underline; padding: 0; font-size: 13px; }
.x { background: none; border: 0; font-size: 18px; line-height: 1; color: #555; padding: 0 2px; }
button:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
[hidden] { display: none !important; }
`;

/**
 * @typedef {object} View
 * @property {string} state   summary state, or "loading"
 * @property {string} tone    "ok", "warn" or "bad"
 * @property {string} card    card kind or ""
 * @property {string} title
 * @property {string[]} lines details and fixes
 * @property {string[]} notes PIN INPS retired, SPID provider, ...
 * @property {string} offer   label of the offered action, "" for none
 * @property {string} [unlock] a TLS login's unlock: "unlocking", an error code, or "" (data-eidlink-unlock)
 */

/**
 * @param {Document} doc
 * @param {{open: boolean, profile: string, t: (key: string, ...subs: (string|number)[]) => string,
 *   onAction: () => void, onRefresh: () => void}} opts
 */
export function createBadge(doc, opts) {
  const host = doc.createElement("div");
  host.id = "eidlink-status";
  host.setAttribute("data-eidlink-profile", opts.profile);
  const root = host.attachShadow({ mode: opts.open ? "open" : "closed" });
  const style = doc.createElement("style");
  style.textContent = CSS;
  const box = el(doc, "div", "box");
  box.setAttribute("role", "status");
  box.setAttribute("aria-live", "polite");
  const head = el(doc, "div", "head");
  const brand = el(doc, "span", "brand", "eidlink");
  const title = el(doc, "span", "title");
  const close = el(doc, "button", "x", "×");
  close.setAttribute("aria-label", opts.t("badgeHide"));
  close.addEventListener("click", () => (host.hidden = true));
  head.append(brand, title, close);
  const lines = el(doc, "div");
  const notes = el(doc, "div");
  const action = el(doc, "button", "primary");
  action.id = "eidlink-action";
  action.addEventListener("click", opts.onAction);
  const refresh = el(doc, "button", "link", opts.t("badgeRefresh"));
  refresh.id = "eidlink-refresh";
  refresh.addEventListener("click", opts.onRefresh);
  const foot = el(doc, "div", "line");
  foot.append(refresh);
  box.append(head, lines, notes, action, foot);
  root.append(style, box);

  return {
    host,
    /** @param {View} v */
    render(v) {
      host.setAttribute("data-eidlink-state", v.state);
      host.setAttribute("data-eidlink-card", v.card);
      if (v.offer) host.setAttribute("data-eidlink-offer", "continue");
      else host.removeAttribute("data-eidlink-offer");
      if (v.unlock) host.setAttribute("data-eidlink-unlock", v.unlock);
      else host.removeAttribute("data-eidlink-unlock");
      box.className = "box " + v.tone;
      title.textContent = v.title;
      lines.replaceChildren(...v.lines.map((l) => el(doc, "div", "line", l)));
      notes.replaceChildren(...v.notes.map((l) => el(doc, "div", "note", l)));
      action.hidden = !v.offer;
      action.textContent = v.offer;
    },
  };
}

/**
 * @param {Document} doc
 * @param {string} tag
 * @param {string} [cls]
 * @param {string} [text]
 */
function el(doc, tag, cls, text) {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}
