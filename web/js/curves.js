// curves.js: training curves, live. Loss and accuracy of each model per epoch
// (metrics/<model>.csv, rewritten by nerve train every half second), train solid
// and test dashed; with the dynamics record, each layer's gradient and update norm
// per step (log scale). Drawn with uPlot.
import * as api from "./api.js";
import { MODEL_COLOR } from "./colors.js";
import { el, notice, panel } from "./ui.js";

const LAYER_COLORS = ["#ffd166", "#ff8c61", "#ef476f", "#c678dd", "#58a6ff", "#06d6a0", "#8b98ad", "#f4a261"];

function chart(title, target, series, data, log = false) {
  const w = Math.max(360, target.clientWidth - 28 || 560);
  const opts = {
    title, width: w, height: 260,
    scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
    axes: [{ stroke: "#8b98ad", grid: { stroke: "#1f2838" }, ticks: { stroke: "#263046" } },
      { stroke: "#8b98ad", grid: { stroke: "#1f2838" }, ticks: { stroke: "#263046" }, size: 56 }],
    series: [{ label: series[0] }, ...series.slice(1)],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  return new uPlot(opts, data, target);
}

export function mount(root, app) {
  const wrap = el("div");
  root.append(wrap);
  let token = 0;

  function epochSeries() {
    const models = app.models();
    const names = models.map((m) => m.name);
    if (app.metrics?.models?.linear && !names.includes("linear")) names.push("linear");
    const tabs = names.map((n) => app.metrics?.models?.[n]).map((t) => t || { columns: [], rows: [] });
    const xs = [...new Set(tabs.flatMap((t) => t.rows.map((r) => r[0])))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const out = { names, xs, cols: {} };
    for (const col of ["train_loss", "test_loss", "train_acc", "test_acc"]) {
      out.cols[col] = tabs.map((t) => {
        const c = t.columns.indexOf(col);
        const arr = new Array(xs.length).fill(null);
        for (const r of t.rows) arr[at.get(r[0])] = c >= 0 ? r[c] : null;
        return arr;
      });
    }
    return out;
  }

  async function render() {
    const my = ++token;
    const s = epochSeries();
    const p1 = panel("loss and accuracy per epoch", "train solid, test dashed; live while training");
    const grid = el("div", { class: "curves" });
    const lossBox = el("div", { id: "chart-loss" }), accBox = el("div", { id: "chart-acc" });
    grid.append(lossBox, accBox);
    p1.append(grid);
    const dynPanels = el("div", { class: "panels" });
    wrap.replaceChildren(p1, dynPanels);
    const mk = (col0, col1) => {
      const series = ["epoch"], data = [s.xs];
      s.names.forEach((n, i) => {
        const color = n === "linear" ? "#8b98ad" : MODEL_COLOR[i % MODEL_COLOR.length];
        series.push({ label: `${n} train`, stroke: color, width: 2 });
        data.push(s.cols[col0][i]);
        series.push({ label: `${n} test`, stroke: color, width: 2, dash: [6, 4] });
        data.push(s.cols[col1][i]);
      });
      return [series, data];
    };
    if (!s.xs.length) p1.append(notice("No metrics yet: they appear with the first epoch."));
    else {
      const [ls, ld] = mk("train_loss", "test_loss");
      chart("cross-entropy loss", lossBox, ls, ld, true);
      const [as, ad] = mk("train_acc", "test_acc");
      chart("accuracy", accBox, as, ad);
    }
    lossBox.dataset.points = String(s.xs.length);
    // per-layer gradient and update norms from the dynamics record
    for (const m of app.models()) {
      const p = panel(`${m.name}: per-layer gradient and update norms`, "per step, log scale");
      dynPanels.append(p);
      const dyn = await api.json("/api/dyn", { model: m.name }).catch(() => null);
      if (my !== token) return;
      if (!dyn?.recorded || !dyn.series) {
        p.append(notice("Per-step norms need the dynamics record:", "record dynamics with dynamics.enabled = true"));
        continue;
      }
      for (const [key, title] of [["grad_norm", "gradient norm"], ["update_norm", "update norm"]]) {
        const box = el("div");
        p.append(box);
        const cols = dyn.series[key] || [];
        const series = ["step", ...dyn.layers.map((l, k) => ({ label: l, stroke: LAYER_COLORS[k % 8], width: 1.5 }))];
        chart(title, box, series, [dyn.steps, ...cols], true);
      }
    }
    app.ready("curves");
  }

  return {
    async update(reason) {
      if (["mount", "nets", "metrics", "dynamics"].includes(reason)) await render();
    },
    unmount() { token++; },
  };
}
