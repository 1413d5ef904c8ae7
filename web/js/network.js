// network.js: the network in the NN-SVG style. Neurons are dots in columns (one per
// layer), connections lines; a neuron's brightness is its activation (mean over
// all rows, over one class, or one sample of the snapshot), or, from the dynamics
// record, its |gradient| or influence; a line's colour and thickness is the
// weight, the gradient (dynamics) or |weight x activation|. Wide layers show their
// strongest units and a count of the rest; only the strongest connections are
// drawn. Every dot and line carries its number (data-value) and colour, so what
// is drawn can be checked against the files (colors.js has the mapping).
import * as api from "./api.js";
import { neuronColor, edgeStyle } from "./colors.js";
import { el, notice, select, slider, panel, union } from "./ui.js";

const BRIGHT = [["mean", "activation: mean over all"], ["class", "activation: mean over a class"],
  ["sample", "activation: one sample"], ["grad", "|gradient| (dynamics)"], ["influence", "influence (dynamics)"]];
const LINES = [["weight", "weight"], ["wa", "|weight \u00d7 activation|"], ["grad", "gradient (dynamics)"]];
const DYN = new Set(["grad", "influence"]);

function layerName(l, L) { return l === 0 ? "input" : l === L ? "logits" : `hidden${l}`; }

export function mount(root, app) {
  const st = { bright: "mean", cls: 0, sample: 0, lines: "weight", maxUnits: 16, maxEdges: 160, step: null };
  const panels = el("div", { class: "panels" });
  const sl = slider("epoch", "net-epoch", () => render());
  const stepSl = slider("step", "net-step", (v) => { st.step = v; return render(); });
  stepSl.root.classList.add("hidden");
  const clsSel = select("class", [0, 1], 0, (v) => { st.cls = Number(v); render(); });
  const sampleIn = el("input", { type: "number", min: "0", value: "0", id: "net-sample" });
  sampleIn.onchange = () => { st.sample = Math.max(0, Number(sampleIn.value) | 0); render(); };
  const sampleCtl = el("label", { class: "ctl" }, "row", sampleIn);
  const unitsIn = el("input", { type: "number", min: "2", max: "128", value: String(st.maxUnits), id: "net-units" });
  unitsIn.onchange = () => { st.maxUnits = Math.max(2, Math.min(128, Number(unitsIn.value) | 0)); render(); };
  const edgesIn = el("input", { type: "range", min: "10", max: "1000", step: "10", value: String(st.maxEdges), id: "net-edges" });
  const edgesVal = el("span", { class: "caption", text: String(st.maxEdges) });
  edgesIn.oninput = () => { st.maxEdges = Number(edgesIn.value); edgesVal.textContent = edgesIn.value; render(); };
  const showCtl = () => {
    clsSel.classList.toggle("hidden", st.bright !== "class");
    sampleCtl.classList.toggle("hidden", st.bright !== "sample");
    stepSl.root.classList.toggle("hidden", !(DYN.has(st.bright) || st.lines === "grad"));
  };
  const bar = el("div", { class: "toolbar" }, sl.root,
    select("neurons", BRIGHT, st.bright, (v) => { st.bright = v; showCtl(); render(); }), clsSel, sampleCtl,
    select("lines", LINES, st.lines, (v) => { st.lines = v; showCtl(); render(); }),
    el("label", { class: "ctl" }, "units per layer", unitsIn),
    el("label", { class: "ctl" }, "connections per layer", edgesIn, edgesVal));
  const bar2 = el("div", { class: "toolbar hidden" }, stepSl.root);
  root.append(bar, bar2, panels);
  showCtl();
  let token = 0;

  async function dynInfo(m) {
    return api.cached(`dyn|${api.state.run}|${m.name}`, () => api.json("/api/dyn", { model: m.name }));
  }

  async function render() {
    const my = ++token;
    const models = app.models();
    const epoch = sl.value;
    const needDyn = DYN.has(st.bright) || st.lines === "grad";
    bar2.classList.toggle("hidden", !needDyn);
    const nclass = Math.max(...models.map((m) => m.classes || 2));
    const sel = clsSel.querySelector("select");
    if (sel.options.length !== nclass) {
      sel.replaceChildren(...Array.from({ length: nclass }, (_, c) => el("option", { value: String(c), text: `class ${c}` })));
      sel.value = String(Math.min(st.cls, nclass - 1));
    }
    const built = await Promise.all(models.map(async (m) => {
      const p = panel(m.name, `${(m.widths || []).join("-")} · ${m.activation || ""}`);
      if (epoch == null) { p.append(notice("No snapshot yet: the first one lands with epoch 0.")); return p; }
      const e = m.epochs.includes(epoch) ? epoch : [...m.epochs].reverse().find((x) => x <= epoch) ?? m.epochs[0];
      const args = { model: m.name, epoch: e };
      if (st.bright === "sample") args.sample = st.sample;
      let net, params, dyn = null, dstep = null, grad = null;
      try {
        [net, params] = await Promise.all([
          api.cached(`net|${api.state.run}|${m.name}|${e}|${args.sample ?? ""}`, () => api.json("/api/network", args)),
          api.cached(`params|${api.state.run}|${m.name}|${e}`, () => api.bin("/api/params.bin", { model: m.name, epoch: e })),
        ]);
      } catch (err) { p.append(notice(`Cannot read the snapshot: ${err.message}`)); return p; }
      if (needDyn) {
        dyn = await dynInfo(m).catch(() => null);
        if (!dyn || !dyn.recorded) p.append(notice("This view needs the per-step record:", "record dynamics with dynamics.enabled = true"));
        else {
          if (stepSl.set(dyn.steps, st.step == null)) st.step = stepSl.value;
          dstep = st.step ?? dyn.steps[dyn.steps.length - 1];
          dyn.stepData = await api.json("/api/dyn/step", { model: m.name, step: dstep }).catch(() => null);
          if (st.lines === "grad") grad = await api.bin("/api/dyn/grad.bin", { model: m.name, step: dstep }).catch(() => null);
        }
      }
      const tag = p.querySelector(".tag");
      tag.textContent += ` · epoch ${e}${dstep != null ? ` · step ${dstep}` : ""}${net.sample ? ` · row ${net.sample.row} (class ${net.sample.label}, id ${net.sample.id})` : ""}`;
      p.append(draw(m, net, params.data, dyn, grad, st, app));
      return p;
    }));
    if (my !== token) return;
    panels.replaceChildren(...built);
    app.ready("network");
  }

  return {
    async update(reason) {
      const models = app.models();
      sl.set(union(models.map((m) => m.epochs)), reason === "mount");
      if (reason === "dynamics") api.forget(`dyn|`);
      if (["mount", "nets", "snapshot", "dynamics"].includes(reason) || reason === undefined) await render();
    },
    unmount() { sl.stop(); stepSl.stop(); token++; },
  };
}

// The values of layer l's units under the brightness mode (null: not available).
function brightness(net, dyn, l, L, st) {
  const name = layerName(l, L);
  const lay = net.layers.find((x) => x.name === name);
  if (DYN.has(st.bright)) {
    if (l === 0 || !dyn?.stepData) return lay ? lay.mean.map(() => 0) : null;
    const dl = dyn.stepData.layers[l - 1];
    return dl ? dl[st.bright === "grad" ? "mean_abs_delta" : "influence"] : null;
  }
  if (!lay) return null;
  if (st.bright === "class") return lay.by_class[Math.min(st.cls, lay.by_class.length - 1)];
  if (st.bright === "sample") return lay.sample || lay.mean;
  return lay.mean;
}

function draw(m, net, params, dyn, grad, st, app) {
  const widths = net.widths;
  const L = widths.length - 1;
  const W = 640, H = 470, padX = 46, top = 36, bottom = H - 34;
  const svg = d3.create("svg").attr("viewBox", `0 0 ${W} ${H}`).attr("width", "100%")
    .attr("class", "network").attr("data-model", m.name).attr("data-epoch", String(net.epoch));
  const x = (l) => padX + (l * (W - 2 * padX)) / L;
  // shown units and their positions
  const cols = [];
  for (let l = 0; l <= L; l++) {
    const v = brightness(net, dyn, l, L, st) || new Array(widths[l]).fill(0);
    const vmax = Math.max(0, ...v.map(Math.abs));
    let shown = v.map((_, j) => j);
    if (shown.length > st.maxUnits) {
      shown = shown.sort((a, b) => Math.abs(v[b]) - Math.abs(v[a]) || a - b).slice(0, st.maxUnits).sort((a, b) => a - b);
    }
    const n = shown.length;
    const r = Math.max(3, Math.min(11, (bottom - top) / (n * 2.6)));
    const gap = n > 1 ? (bottom - top - 2 * r) / (n - 1) : 0;
    const y0 = n > 1 ? top + r : (top + bottom) / 2;
    const pos = new Map(shown.map((j, k) => [j, y0 + k * gap]));
    cols.push({ l, name: layerName(l, L), v, vmax, shown, pos, r, hidden: widths[l] - n });
  }
  // connections
  const gEdges = svg.append("g").attr("class", "edges");
  let off = 0;
  for (let l = 0; l < L; l++) {
    const nin = widths[l], nout = widths[l + 1];
    const Wm = params.subarray(off, off + nin * nout);
    const Gm = grad ? grad.data.subarray(offW(widths, l), offW(widths, l) + nin * nout) : null;
    off += nin * nout + nout;
    const a = cols[l].v;
    const val = (o, i) => st.lines === "grad" ? (Gm ? Gm[o * nin + i] : 0)
      : st.lines === "wa" ? Math.abs(Wm[o * nin + i] * a[i]) : Wm[o * nin + i];
    let umax = 0;
    for (let o = 0; o < nout; o++) for (let i = 0; i < nin; i++) umax = Math.max(umax, Math.abs(val(o, i)));
    const cand = [];
    for (const o of cols[l + 1].shown) for (const i of cols[l].shown) cand.push([o, i, val(o, i)]);
    cand.sort((p, q) => Math.abs(q[2]) - Math.abs(p[2]));
    const keep = cand.slice(0, st.maxEdges).reverse();
    for (const [o, i, u] of keep) {
      const s = edgeStyle(u, umax);
      gEdges.append("line").attr("x1", x(l)).attr("y1", cols[l].pos.get(i)).attr("x2", x(l + 1)).attr("y2", cols[l + 1].pos.get(o))
        .attr("stroke", s.stroke).attr("stroke-opacity", s.opacity.toFixed(4)).attr("stroke-width", s.width.toFixed(3))
        .attr("data-layer", cols[l + 1].name).attr("data-from", i).attr("data-to", o).attr("data-value", String(u))
        .on("mousemove", (ev) => app.tooltip(ev, `${cols[l].name}[${i}] \u2192 ${cols[l + 1].name}[${o}]\n${st.lines} ${u.toPrecision(4)}`))
        .on("mouseleave", () => app.tooltip(null, null));
    }
  }
  // neurons
  for (const c of cols) {
    const g = svg.append("g").attr("class", "layer").attr("data-layer", c.name);
    g.append("text").attr("class", "layer-label").attr("x", x(c.l)).attr("y", 16).attr("text-anchor", "middle").text(c.name);
    g.append("text").attr("x", x(c.l)).attr("y", 29).attr("text-anchor", "middle").text(`${widths[c.l]} units`);
    for (const j of c.shown) {
      const fill = neuronColor(c.v[j], c.vmax);
      g.append("circle").attr("class", "neuron").attr("cx", x(c.l)).attr("cy", c.pos.get(j)).attr("r", c.r)
        .attr("fill", fill).attr("data-layer", c.name).attr("data-unit", j).attr("data-value", String(c.v[j])).attr("data-fill", fill)
        .on("mousemove", (ev) => app.tooltip(ev, `${c.name} unit ${j}\n${st.bright} ${Number(c.v[j]).toPrecision(4)}`))
        .on("mouseleave", () => app.tooltip(null, null));
    }
    if (c.hidden > 0) g.append("text").attr("class", "more").attr("x", x(c.l)).attr("y", H - 14).attr("text-anchor", "middle")
      .text(`+${c.hidden} more`);
  }
  const wrap = el("div");
  wrap.append(svg.node());
  const leg = el("div", { class: "legend" },
    el("span", {}, el("span", { class: "swatch sw-warm" }), " neuron \u2265 0"),
    el("span", {}, el("span", { class: "swatch sw-cool" }), " neuron < 0"),
    el("span", {}, el("span", { class: "swatch sw-lines" }), ` ${st.lines === "wa" ? "|w\u00d7a|" : st.lines} (\u2212 / +)`),
    el("span", { text: `brightness per layer relative to its largest |value|; ${net.rows_used} rows${net.stride > 1 ? ` (every ${net.stride}th)` : ""}` }));
  wrap.append(leg);
  return wrap;
}

// Offset of W_l in a weights-only array (the gradient: no biases).
function offW(widths, l) {
  let o = 0;
  for (let k = 0; k < l; k++) o += widths[k] * widths[k + 1];
  return o;
}
