// pca.js: the PCA scatter of every layer (analysis/pca, docs/pca-stats.md): PC1
// against PC2 of the fit on the `all` split, by layer, at the slider's epoch; class
// colours (Okabe-Ito), train points filled circles, test points open triangles.
// Signs are aligned across epochs by nerve pca, so playing the slider shows the
// representation moving rather than flipping.
import * as api from "./api.js";
import { CLASS } from "./colors.js";
import { el, notice, slider, panel, union } from "./ui.js";

export function mount(root, app) {
  const panels = el("div", { class: "panels" });
  const sl = slider("epoch", "pca-epoch", () => render());
  root.append(el("div", { class: "toolbar" }, sl.root,
    el("span", { class: "caption", text: "\u25CF train   \u25B3 test   colour = class" })), panels);
  let token = 0;

  async function render() {
    const my = ++token;
    const epoch = sl.value;
    const built = await Promise.all(app.models().map(async (m) => {
      const p = panel(m.name, `PC1 \u00d7 PC2 by layer · epoch ${epoch ?? "-"}`);
      const have = m.analysis?.pca || [];
      if (!have.length) { p.append(notice("No PCA yet:", "nerve pca RUN")); return p; }
      if (!have.includes(epoch)) { p.append(notice(`No PCA file at epoch ${epoch}.`)); return p; }
      const key = `pca|${api.state.run}|${m.name}|${epoch}`;
      const meta = await api.cached(key, () => api.json("/api/pca", { model: m.name, epoch })).catch((e) => ({ error: e.message }));
      if (meta.error) { p.append(notice(meta.error)); return p; }
      const grid = el("div", { class: "pca-grid" });
      const cells = await Promise.all(meta.layers.map(async (L) => {
        const pts = await api.cached(`${key}|${L.name}`, () => api.bin("/api/pca.bin", { model: m.name, epoch, layer: L.name })).catch(() => null);
        const c = el("div", { class: "pca-cell" });
        const r = L.ratios || [];
        c.append(el("div", { class: "caption", text: `${L.name} (${L.width}) · ${(100 * (r[0] || 0)).toFixed(0)}% + ${(100 * (r[1] || 0)).toFixed(0)}% of variance` }));
        if (pts) c.append(scatter(pts, meta, `pca-${m.name}-${L.name}`));
        return c;
      }));
      grid.append(...cells);
      p.append(grid);
      return p;
    }));
    if (my !== token) return;
    panels.replaceChildren(...built);
    app.ready("pca");
  }

  return {
    async update(reason) {
      sl.set(union(app.models().map((m) => m.analysis?.pca || [])), reason === "mount");
      if (["mount", "nets", "analysis"].includes(reason)) await render();
    },
    unmount() { sl.stop(); token++; },
  };
}

function scatter(pts, meta, id) {
  const S = 380, pad = 14;
  const c = document.createElement("canvas");
  c.width = S; c.height = S; c.id = id;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#0a0e14"; ctx.fillRect(0, 0, S, S);
  const k = pts.cols, n = pts.rows;
  const X = (i) => pts.data[i * k], Y = (i) => (k > 1 ? pts.data[i * k + 1] : 0);
  let mx = 1e-12;
  for (let i = 0; i < n; i++) mx = Math.max(mx, Math.abs(X(i)), Math.abs(Y(i)));
  const sx = (v) => S / 2 + (v / mx) * (S / 2 - pad), sy = (v) => S / 2 - (v / mx) * (S / 2 - pad);
  ctx.strokeStyle = "#1f2838"; ctx.beginPath(); ctx.moveTo(S / 2, 0); ctx.lineTo(S / 2, S); ctx.moveTo(0, S / 2); ctx.lineTo(S, S / 2); ctx.stroke();
  for (let i = 0; i < n; i++) {
    const lab = meta.labels ? meta.labels[i] : 0, test = meta.rows[i] >= meta.n_train;
    const x = sx(X(i)), y = sy(Y(i));
    ctx.globalAlpha = 0.75;
    if (test) {
      ctx.strokeStyle = CLASS[lab % 8]; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, y - 3.2); ctx.lineTo(x + 3, y + 2.2); ctx.lineTo(x - 3, y + 2.2); ctx.closePath(); ctx.stroke();
    } else {
      ctx.fillStyle = CLASS[lab % 8];
      ctx.beginPath(); ctx.arc(x, y, 1.9, 0, 2 * Math.PI); ctx.fill();
    }
  }
  ctx.globalAlpha = 1;
  c.dataset.points = String(n);
  return c;
}
