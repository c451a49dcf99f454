// Shared by the replicas: what the layout check compares before and after
// the helper's badge appears. Open shadow roots are searched too.
(() => {
  const deepAll = (sel, root = document, out = []) => {
    out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) deepAll(sel, el.shadowRoot, out);
    return out;
  };
  window.deepAll = deepAll;
  window.measure = () => ({
    columns: deepAll("table").map((t) => Math.max(0, ...[...t.rows].map((r) => r.cells.length))),
    tabs: deepAll("[data-tab]").map((e) => {
      const r = e.getBoundingClientRect();
      return [r.x, r.y, r.width, r.height].map(Math.round).join(",");
    }),
  });
})();
