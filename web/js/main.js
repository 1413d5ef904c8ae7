// main.js: the viewer's controller. Loads the run's description, keeps the chosen
// nets and view, follows the run through server-sent events (/api/events) and
// hands every change to the view on screen. Views are modules with
// mount(root, app) -> {update(reason), unmount()}.
import * as api from "./api.js";
import * as network from "./network.js";
import * as features from "./features.js";
import * as curves from "./curves.js";
import * as topology from "./topology.js";
import * as pca from "./pca.js";
import * as queries from "./queries.js";

const VIEWS = { network, features, curves, topology, pca, queries };

export const app = {
  info: null,        // /api/run
  metrics: null,     // /api/metrics
  nets: "both",      // "both" | "0" | "1": which of the pair is shown
  view: "network",
  current: null,     // the mounted view
  readyCount: 0,
  latency: [],       // {kind, t_file, t_detect, t_dom} per live event
  // The pair (every model but the linear baseline), or what the run has.
  pair() {
    const rank = (n) => (n === "expressive" ? 0 : n === "bottleneck" ? 1 : 2);
    const ms = (this.info?.models || []).filter((m) => m.name !== "linear").sort((a, b) => rank(a.name) - rank(b.name));
    return ms.length ? ms : this.info?.models || [];
  },
  models() {
    const p = this.pair();
    if (this.nets === "both") return p.slice(0, 2);
    const m = p[Number(this.nets)];
    return m ? [m] : p.slice(0, 1);
  },
  // A view calls this when what it shows is complete (the tests wait for it).
  ready(name) {
    this.readyCount++;
    document.body.dataset.ready = `${name}:${this.readyCount}`;
  },
  tooltip(ev, text) {
    const t = document.getElementById("tooltip");
    if (!text) { t.classList.add("hidden"); return; }
    t.textContent = text;
    t.style.left = `${ev.clientX + 14}px`;
    t.style.top = `${ev.clientY + 10}px`;
    t.classList.remove("hidden");
  },
};
window.__nerve = app;
window.__nerveLatency = app.latency;

async function loadInfo() {
  app.info = await api.json("/api/run");
  const p = app.pair();
  document.querySelectorAll("#nets button").forEach((b) => {
    if (b.dataset.nets !== "both") {
      const m = p[Number(b.dataset.nets)];
      b.textContent = m ? m.name : "-";
      b.disabled = !m;
    }
  });
  const st = document.getElementById("live-status");
  st.dataset.snapshots = String(app.info.models.reduce((s, m) => s + m.epochs.length, 0));
  const run = app.info.run || {};
  document.getElementById("foot").textContent =
    `${run.experiment || "run"} · ${run.status || "?"} · nerve ${run.nerve_version || ""} · ${run.device || ""} · served read-only`;
}

async function loadMetrics() {
  app.metrics = await api.json("/api/metrics");
  const last = {};
  for (const [m, t] of Object.entries(app.metrics.models)) {
    const rows = t.rows;
    last[m] = rows.length ? rows[rows.length - 1][0] : -1;
  }
  document.getElementById("live-status").dataset.epochs = JSON.stringify(last);
}

async function show(view) {
  if (app.current?.unmount) app.current.unmount();
  app.view = view;
  document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.view === view));
  const root = document.getElementById("view");
  root.replaceChildren();
  document.body.dataset.view = view;
  app.current = VIEWS[view].mount(root, app);
  await app.current.update("mount");
}

function setLive(cls, text) {
  const st = document.getElementById("live-status");
  st.className = `live ${cls}`;
  st.querySelector(".txt").textContent = text;
}

// Live: each event refreshes what it concerns, then the view; the time from the
// file landing (t_file, its mtime) to the screen is kept in window.__nerveLatency.
function follow() {
  const es = new EventSource(`/api/events?run=${encodeURIComponent(api.state.run)}`);
  let queue = Promise.resolve();
  const handle = (kind) => (e) => {
    const ev = JSON.parse(e.data);
    queue = queue.then(async () => {
      if (kind === "snapshot" || kind === "analysis" || kind === "run") {
        if (kind === "analysis") api.forget(`${ev.kind}|`);
        await loadInfo();
      }
      if (kind === "metrics") await loadMetrics();
      if (app.current?.update) await app.current.update(kind, ev);
      const t_dom = Date.now();
      app.latency.push({ kind, model: ev.model, epoch: ev.epoch, t_file: ev.t_file, t_detect: ev.t_detect, t_dom });
      const ms = t_dom - ev.t_file;
      setLive("on", `live · ${kind} ${ev.model || ev.kind || ""} on screen ${(ms / 1000).toFixed(2)} s after it landed`);
    }).catch((err) => console.warn("live update:", err.message));
  };
  es.addEventListener("hello", () => setLive("on", "live"));
  for (const k of ["snapshot", "metrics", "analysis", "dynamics", "run"]) es.addEventListener(k, handle(k));
  es.onerror = () => setLive("off", "reconnecting");
}

async function start() {
  const rs = await api.runs();
  const sel = document.getElementById("run-select");
  for (const r of rs.runs) {
    const o = document.createElement("option");
    o.value = r.id;
    o.textContent = `${r.id || r.experiment || "run"}${r.status ? ` (${r.status})` : ""}`;
    sel.append(o);
  }
  const want = new URLSearchParams(location.search).get("run");
  api.state.run = want !== null ? want : rs.runs[0]?.id ?? "";
  sel.value = api.state.run;
  sel.onchange = () => { const u = new URL(location); u.searchParams.set("run", sel.value); location = u; };
  document.querySelectorAll("#nets button").forEach((b) => (b.onclick = () => {
    app.nets = b.dataset.nets;
    document.querySelectorAll("#nets button").forEach((x) => x.classList.toggle("on", x === b));
    app.current?.update("nets");
  }));
  document.querySelectorAll("#tabs button").forEach((b) => (b.onclick = () => {
    const u = new URL(location); u.searchParams.set("view", b.dataset.view); history.replaceState(null, "", u);
    show(b.dataset.view);
  }));
  await Promise.all([loadInfo(), loadMetrics()]);
  follow();
  const v = new URLSearchParams(location.search).get("view");
  await show(VIEWS[v] ? v : "network");
}

start().catch((e) => {
  document.getElementById("view").innerHTML = "";
  const n = document.createElement("div");
  n.className = "notice";
  n.textContent = `Cannot load the run: ${e.message}${e.hint ? ` (${e.hint})` : ""}`;
  document.getElementById("view").append(n);
});
