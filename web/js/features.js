// features.js: each neuron's feature image (analysis/features, docs/features.md):
// all units of a layer as a grid at the slider's epoch, one unit large with its
// image at every snapshot epoch (the history) and the 9 real training inputs that
// excite it most. Images (a square number of inputs, e.g. Fashion-MNIST's 28 x 28)
// are drawn in grey from the file's box (colors.js, grey()), at their own
// resolution; vectors (the spheres' 12 numbers) as a bar glyph of (x - centre)
// relative to half the box.
import * as api from "./api.js";
import { grey, WARM, COOL } from "./colors.js";
import { el, notice, select, slider, panel, union } from "./ui.js";

function isImage(meta) { return meta.img_h > 1 && meta.img_w > 1 && meta.img_h * meta.img_w === meta.d; }

// Draws input vector x (length d) on a new canvas.
export function glyph(x, meta, id) {
  const c = document.createElement("canvas");
  if (id) c.id = id;
  const d = meta.d;
  if (isImage(meta)) {
    c.width = meta.img_w; c.height = meta.img_h;
    const ctx = c.getContext("2d");
    const im = ctx.createImageData(c.width, c.height);
    for (let i = 0; i < d; i++) {
      const g = grey(x[i], meta.lo[i], meta.hi[i]);
      im.data[4 * i] = im.data[4 * i + 1] = im.data[4 * i + 2] = g;
      im.data[4 * i + 3] = 255;
    }
    ctx.putImageData(im, 0, 0);
    c.dataset.kind = "image";
  } else {
    const bw = 8, h = 48;
    c.width = d * bw; c.height = h;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#0a0e14"; ctx.fillRect(0, 0, c.width, h);
    ctx.fillStyle = "#263046"; ctx.fillRect(0, h / 2, c.width, 1);
    for (let i = 0; i < d; i++) {
      const half = (meta.hi[i] - meta.lo[i]) / 2 || 1;
      const s = Math.max(-1, Math.min(1, (x[i] - meta.centre[i]) / half));
      ctx.fillStyle = s >= 0 ? `rgb(${WARM})` : `rgb(${COOL})`;
      const len = Math.abs(s) * (h / 2 - 2);
      ctx.fillRect(i * bw + 1, s >= 0 ? h / 2 - len : h / 2 + 1, bw - 2, len);
    }
    c.dataset.kind = "bars";
  }
  return c;
}

export function mount(root, app) {
  const st = { layer: null, unit: 0 };
  const panels = el("div", { class: "panels" });
  const sl = slider("epoch", "feat-epoch", () => render());
  const layerBox = el("span");
  const unitIn = el("input", { type: "number", min: "0", value: "0", id: "feat-unit" });
  unitIn.onchange = () => { st.unit = Math.max(0, Number(unitIn.value) | 0); render(); };
  root.append(el("div", { class: "toolbar" }, sl.root, layerBox, el("label", { class: "ctl" }, "unit", unitIn)), panels);
  let token = 0;

  function layers() {
    const ls = app.models()[0]?.layers || [];
    return ls.filter((l) => l !== "input");
  }

  async function render() {
    const my = ++token;
    const ls = layers();
    if (!st.layer || !ls.includes(st.layer)) st.layer = ls[0];
    layerBox.replaceChildren(select("layer", ls, st.layer, (v) => { st.layer = v; st.unit = 0; unitIn.value = "0"; render(); }));
    const epoch = sl.value;
    const built = await Promise.all(app.models().map(async (m) => {
      const p = panel(m.name, `${st.layer} · epoch ${epoch ?? "-"}`);
      const have = m.analysis?.features || [];
      if (!have.length) { p.append(notice("No feature images yet:", "nerve features RUN")); return p; }
      if (!have.includes(epoch)) { p.append(notice(`No feature images at epoch ${epoch} for ${m.name}.`)); return p; }
      if (!(m.layers || []).includes(st.layer)) { p.append(notice(`${m.name} has no layer ${st.layer}.`)); return p; }
      const key = `features|${api.state.run}|${m.name}|${epoch}|${st.layer}`;
      let meta, inputs, top, hist;
      try {
        [meta, inputs, top] = await Promise.all([
          api.cached(key, () => api.json("/api/features", { model: m.name, epoch, layer: st.layer })),
          api.cached(`${key}|in`, () => api.bin("/api/features.bin", { model: m.name, epoch, layer: st.layer, what: "inputs" })),
          api.cached(`${key}|top`, () => api.bin("/api/features.bin", { model: m.name, epoch, layer: st.layer, what: "top" })),
        ]);
        const unit = Math.min(st.unit, meta.units - 1);
        hist = await api.cached(`features|${api.state.run}|${m.name}|${st.layer}|u${unit}|${have.join(",")}`,
          () => api.bin("/api/features/history.bin", { model: m.name, layer: st.layer, unit }));
      } catch (err) { p.append(notice(`Cannot read the feature images: ${err.message}`)); return p; }
      const unit = Math.min(st.unit, meta.units - 1);
      const d = meta.d, bars = !isImage(meta);
      // the chosen unit, large, with its top-9 inputs and its history
      const big = glyph(inputs.data.subarray(unit * d, (unit + 1) * d), meta, `feat-big-${m.name}`);
      big.dataset.unit = String(unit); big.dataset.epoch = String(epoch); big.dataset.layer = st.layer;
      const t9 = el("div", { class: `top9${bars ? " bars" : ""}` });
      for (let k = 0; k < 9 && (unit * 9 + k) < top.rows; k++) {
        const cv = glyph(top.data.subarray((unit * 9 + k) * d, (unit * 9 + k + 1) * d), meta);
        cv.title = `training sample ${meta.top_ids?.[unit]?.[k]}: ${meta.top_activations?.[unit]?.[k]?.toPrecision(4)}`;
        t9.append(cv);
      }
      const epochs = (hist.headers.get("X-Nerve-Epochs") || "").split(",").map(Number);
      const hs = el("div", { class: `history${bars ? " bars" : ""}` });
      epochs.forEach((e, k) => {
        const cell = el("div", { class: e === epoch ? "cur" : "" }, glyph(hist.data.subarray(k * d, (k + 1) * d), meta), `e${e}`);
        cell.onclick = () => sl.to(e);
        hs.append(cell);
      });
      const act = meta.activations?.[unit], dmax = meta.data_max?.[unit];
      p.append(el("div", { class: "feat-detail" },
        el("div", { class: `feat-big${bars ? " bars" : ""}` }, big,
          el("div", { class: "caption", text: `unit ${unit}: objective ${act?.toPrecision(4)} (best input ${dmax?.toPrecision(4)})` })),
        el("div", {}, el("div", { class: "caption", text: "top 9 training inputs" }), t9)));
      p.append(el("div", { class: "caption", text: "the unit's image at every snapshot epoch (click one)" }), hs);
      // every unit of the layer at this epoch
      const grid = el("div", { class: `unit-grid${bars ? " bars" : ""}` });
      for (let j = 0; j < meta.units; j++) {
        const cell = el("div", { class: `unit-cell${j === unit ? " sel" : ""}` },
          glyph(inputs.data.subarray(j * d, (j + 1) * d), meta), el("span", { text: String(j) }));
        cell.onclick = () => { st.unit = j; unitIn.value = String(j); render(); };
        grid.append(cell);
      }
      p.append(el("div", { class: "caption", text: `all ${meta.units} units of ${st.layer}` }), grid);
      return p;
    }));
    if (my !== token) return;
    panels.replaceChildren(...built);
    app.ready("features");
  }

  return {
    async update(reason) {
      sl.set(union(app.models().map((m) => m.analysis?.features || [])), reason === "mount");
      if (["mount", "nets", "analysis"].includes(reason)) await render();
    },
    unmount() { sl.stop(); token++; },
  };
}
