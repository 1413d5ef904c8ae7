// topology.js: persistent homology of the run (analysis/ph, docs/ph-runs.md).
// Betti numbers at the calibrated scale as a table by layer x epoch (one per net,
// for the chosen dimension, split and class set), and, for the chosen epoch and
// layer, the persistence diagram (birth against death) and the barcode.
import * as api from "./api.js";
import { ramp } from "./colors.js";
import { el, notice, select, slider, panel, union } from "./ui.js";

const DIM_COLOR = ["#ffd166", "#58a6ff", "#ef476f", "#06d6a0"];

export function mount(root, app) {
  const st = { dim: 1, split: "all", set: "all", layer: null };
  const panels = el("div", { class: "panels" });
  const sl = slider("epoch", "ph-epoch", () => render());
  const ctl = el("span", { class: "toolbar-ctl" });
  root.append(el("div", { class: "toolbar" }, sl.root, ctl), panels);
  let token = 0;

  async function render() {
    const my = ++token;
    const models = app.models();
    const summary = await api.cached(`ph_summary|${api.state.run}`, () => api.maybe("/api/ph/summary")).catch(() => null);
    if (my !== token) return;
    const col = (name) => summary?.columns.indexOf(name);
    const rows = summary?.rows || [];
    const splits = [...new Set(rows.map((r) => r[col("split")]))];
    const sets = [...new Set(rows.map((r) => String(r[col("class")])))];
    const dims = [...new Set(rows.map((r) => r[col("dim")]))].sort();
    if (splits.length && !splits.includes(st.split)) st.split = splits[0];
    const allLayers = models[0]?.layers || [];
    if (!st.layer || !allLayers.includes(st.layer)) st.layer = allLayers[Math.min(1, allLayers.length - 1)];
    ctl.replaceChildren(
      select("dimension", dims.length ? dims.map((d) => [d, `H${d}`]) : [[1, "H1"]], st.dim, (v) => { st.dim = Number(v); render(); }),
      select("split", splits.length ? splits : ["all"], st.split, (v) => { st.split = v; render(); }),
      select("class set", sets.length ? sets : ["all"], st.set, (v) => { st.set = v; render(); }),
      select("layer (diagram)", allLayers, st.layer, (v) => { st.layer = v; render(); }));
    const epoch = sl.value;
    const built = await Promise.all(models.map(async (m) => {
      const p = panel(m.name, `Betti numbers at the calibrated scale · H${st.dim} · ${st.split} · ${st.set === "all" ? "all classes" : `class ${st.set}`}`);
      if (!summary) { p.append(notice("No persistent homology yet:", "nerve ph RUN")); return p; }
      const mine = rows.filter((r) => r[col("model")] === m.name && r[col("split")] === st.split &&
        String(r[col("class")]) === st.set && r[col("dim")] === st.dim);
      const layers = m.layers || [];
      const epochs = [...new Set(mine.map((r) => r[col("epoch")]))].sort((a, b) => a - b);
      const val = new Map(mine.map((r) => [`${r[col("epoch")]}|${r[col("layer")]}`, r[col("betti_at_scale")]]));
      const vmax = Math.max(1, ...mine.map((r) => r[col("betti_at_scale")]));
      const t = el("table", { class: "betti", "data-model": m.name });
      t.append(el("tr", {}, el("th", { text: "epoch" }), ...layers.map((l) => el("th", { text: l }))));
      for (const e of epochs) {
        const tr = el("tr", {}, el("th", { text: String(e) }));
        for (const l of layers) {
          const v = val.get(`${e}|${l}`);
          const td = el("td", { text: v == null ? "\u2013" : String(v), "data-epoch": String(e), "data-layer": l });
          if (v == null) td.className = "none";
          else td.style.background = ramp(v / vmax);
          if (e === epoch && l === st.layer) td.classList.add("sel");
          td.onclick = () => { st.layer = l; sl.to(e); };
          tr.append(td);
        }
        t.append(tr);
      }
      p.append(t);
      // the diagram of the chosen epoch and layer
      const have = m.analysis?.ph || [];
      if (epoch == null || !have.includes(epoch)) { p.append(notice(`No diagram file for epoch ${epoch}.`)); return p; }
      const dg = await api.cached(`ph|${api.state.run}|${m.name}|${epoch}`, () => api.json("/api/ph", { model: m.name, epoch })).catch(() => null);
      const one = dg?.diagrams?.[st.layer]?.[st.split]?.[st.set === "all" ? "all" : `class_${st.set}`];
      if (!one) { p.append(notice(`No diagram of ${st.layer} (${st.split}, ${st.set}) at epoch ${epoch}.`)); return p; }
      p.append(el("div", { class: "caption", text: `${st.layer} at epoch ${epoch}: ${dg.distance || ""} distance, k = ${dg.k}, scale ${dg.scale} (dashed)` }));
      p.append(diagram(one, dg.scale, app), barcode(one, dg.scale, app));
      return p;
    }));
    if (my !== token) return;
    panels.replaceChildren(...built);
    app.ready("topology");
  }

  return {
    async update(reason, ev) {
      if (reason === "analysis") api.forget("ph_summary|");
      sl.set(union(app.models().map((m) => m.analysis?.ph || [])), reason === "mount");
      if (["mount", "nets", "analysis"].includes(reason)) await render();
    },
    unmount() { sl.stop(); token++; },
  };
}

function finiteMax(one, scale) {
  let mx = scale || 0;
  for (let i = 0; i < one.birth.length; i++) {
    if (one.death[i] != null) mx = Math.max(mx, one.death[i]);
    mx = Math.max(mx, one.birth[i]);
  }
  return mx > 0 ? mx * 1.08 : 1;
}

function diagram(one, scale, app) {
  const W = 300, H = 280, m = 36;
  const mx = finiteMax(one, scale);
  const x = d3.scaleLinear([0, mx], [m, W - 12]), y = d3.scaleLinear([0, mx * 1.06], [H - m, 14]);
  const svg = d3.create("svg").attr("viewBox", `0 0 ${W} ${H}`).attr("width", "48%").attr("class", "diagram");
  svg.append("g").attr("transform", `translate(0,${H - m})`).call(d3.axisBottom(x).ticks(5)).attr("color", "#8b98ad");
  svg.append("g").attr("transform", `translate(${m},0)`).call(d3.axisLeft(y).ticks(5)).attr("color", "#8b98ad");
  svg.append("line").attr("x1", x(0)).attr("y1", y(0)).attr("x2", x(mx)).attr("y2", y(mx)).attr("stroke", "#445");
  svg.append("line").attr("x1", x(0)).attr("y1", y(mx * 1.02)).attr("x2", x(mx)).attr("y2", y(mx * 1.02)).attr("stroke", "#445").attr("stroke-dasharray", "2 3");
  svg.append("text").attr("x", m + 4).attr("y", y(mx * 1.02) - 4).text("\u221e");
  if (scale != null) svg.append("line").attr("x1", x(scale)).attr("x2", x(scale)).attr("y1", y(0)).attr("y2", 14).attr("stroke", "#8b98ad").attr("stroke-dasharray", "4 4");
  for (let i = 0; i < one.birth.length; i++) {
    const d = one.death[i] == null ? mx * 1.02 : one.death[i];
    svg.append("circle").attr("cx", x(one.birth[i])).attr("cy", y(d)).attr("r", 3.2)
      .attr("fill", DIM_COLOR[one.dim[i] % 4]).attr("fill-opacity", 0.75)
      .on("mousemove", (ev) => app.tooltip(ev, `H${one.dim[i]}  birth ${one.birth[i]}  death ${one.death[i] ?? "\u221e"}`))
      .on("mouseleave", () => app.tooltip(null, null));
  }
  svg.append("text").attr("x", W / 2).attr("y", H - 4).attr("text-anchor", "middle").text("birth");
  svg.append("text").attr("x", 10).attr("y", 10).text("death");
  return svg.node();
}

function barcode(one, scale, app) {
  const idx = [...one.birth.keys()].sort((a, b) => one.dim[a] - one.dim[b] || one.birth[a] - one.birth[b]);
  const shown = idx.slice(0, 120);
  const W = 300, rowH = Math.max(2, Math.min(6, 240 / Math.max(1, shown.length))), H = 40 + rowH * shown.length;
  const mx = finiteMax(one, scale);
  const x = d3.scaleLinear([0, mx * 1.02], [12, W - 12]);
  const svg = d3.create("svg").attr("viewBox", `0 0 ${W} ${H}`).attr("width", "48%").attr("class", "barcode");
  svg.append("g").attr("transform", `translate(0,${H - 24})`).call(d3.axisBottom(x).ticks(5)).attr("color", "#8b98ad");
  shown.forEach((i, k) => {
    const d = one.death[i] == null ? mx * 1.02 : one.death[i];
    svg.append("rect").attr("x", x(one.birth[i])).attr("y", 6 + k * rowH).attr("width", Math.max(1, x(d) - x(one.birth[i])))
      .attr("height", Math.max(1, rowH - 1)).attr("fill", DIM_COLOR[one.dim[i] % 4])
      .on("mousemove", (ev) => app.tooltip(ev, `H${one.dim[i]}  [${one.birth[i]}, ${one.death[i] ?? "\u221e"})`))
      .on("mouseleave", () => app.tooltip(null, null));
  });
  if (scale != null) svg.append("line").attr("x1", x(scale)).attr("x2", x(scale)).attr("y1", 0).attr("y2", H - 24).attr("stroke", "#8b98ad").attr("stroke-dasharray", "4 4");
  if (idx.length > shown.length) svg.append("text").attr("x", W - 12).attr("y", H - 4).attr("text-anchor", "end").text(`${idx.length - shown.length} more bars`);
  return svg.node();
}
