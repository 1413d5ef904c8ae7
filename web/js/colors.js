// colors.js: every colour the viewer computes from a number, in one place, so the
// browser test can recompute them exactly (docs/serve.md, "Colours").
//
// Neurons: t = |v| / max|v| over all units of the layer (0 when the max is 0);
//   v >= 0: mix(DARK, WARM, t); v < 0: mix(DARK, COOL, t);
//   mix(a, b, t) per channel: Math.round(a + (b - a) * t), written "rgb(r, g, b)".
// Connections: t = |u| / max|u| over all connections of the layer pair;
//   colour POS for u >= 0, NEG for u < 0; opacity 0.12 + 0.88 t; width 0.4 + 3.6 t.

export const DARK = [29, 36, 51];
export const WARM = [255, 209, 102];
export const COOL = [88, 166, 255];
export const POS = "rgb(255, 107, 107)";
export const NEG = "rgb(77, 171, 247)";

export function mix(a, b, t) {
  return `rgb(${Math.round(a[0] + (b[0] - a[0]) * t)}, ${Math.round(a[1] + (b[1] - a[1]) * t)}, ${Math.round(a[2] + (b[2] - a[2]) * t)})`;
}

export function neuronColor(v, vmax) {
  const t = vmax > 0 ? Math.min(1, Math.abs(v) / vmax) : 0;
  return mix(DARK, v >= 0 ? WARM : COOL, t);
}

export function edgeStyle(u, umax) {
  const t = umax > 0 ? Math.min(1, Math.abs(u) / umax) : 0;
  return { stroke: u >= 0 ? POS : NEG, opacity: 0.12 + 0.88 * t, width: 0.4 + 3.6 * t, t };
}

// Okabe-Ito, colour-blind safe; class c takes CLASS[c % 8].
export const CLASS = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#BBBBBB"];

// Feature images: grey = round(255 * clamp((x - lo) / (hi - lo), 0, 1)) per input,
// lo and hi the box of the features file (per input).
export function grey(x, lo, hi) {
  const s = hi > lo ? (x - lo) / (hi - lo) : 0.5;
  return Math.round(255 * Math.min(1, Math.max(0, s)));
}

// Viridis-like ramp for Betti cells (t in [0, 1]).
export function ramp(t) { return d3.interpolateViridis(0.15 + 0.8 * Math.min(1, Math.max(0, t))); }

export const MODEL_COLOR = ["#ffd166", "#58a6ff", "#c678dd", "#3fb950"];
