// queries.js: nerve query's presets over the run's dynamics record. A form per
// preset (only the arguments that preset takes), the answer as tables, and the
// command that gives the same answer on the command line (GET /api/query runs the
// same engine as `nerve query RUN --preset NAME`).
import * as api from "./api.js";
import { el, notice, panel } from "./ui.js";

// What each argument is, for the form: [label, placeholder, input type].
const FIELDS = {
  model: ["model", "expressive", "text"],
  layer: ["layer", "default", "text"],
  epoch: ["epoch", "1", "number"],
  weight: ["weight", "row,col", "text"],
  k: ["k", "10", "number"],
  by: ["rank by", "abs | pos | neg", "text"],
  groups: ["groups", "4", "number"],
  limit: ["limit", "20", "number"],
  run2: ["second run", "path under the root", "text"],
  step: ["step", "last", "number"],
  loss: ["loss", "0.1", "text"],
  fraction: ["fraction", "0.1", "text"],
  alarm: ["alarm", "any | abs | rel", "text"],
  tolerance: ["tolerance", "0", "text"],
  window: ["window", "one epoch", "number"],
};

function table(t) {
  const head = el("tr", {}, ...t.columns.map((c) => el("th", { text: c })));
  const fmt = (v) => (v === null ? "NULL" : typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(6) : String(v));
  const rows = t.rows.map((r) => el("tr", {}, ...r.map((v) => el("td", { text: fmt(v) }))));
  const cap = `${t.name}: ${t.nrows} row${t.nrows === 1 ? "" : "s"}${t.truncated ? ` (first ${t.rows.length} shown)` : ""}`;
  return el("div", { class: "qtable" }, el("div", { class: "caption", text: cap }),
    el("table", { class: "result", "data-table": t.name }, head, ...rows));
}

export function mount(root, app) {
  const wrap = el("div");
  root.append(wrap);
  return {
    async update(reason) {
      if (reason !== "mount") return;
      const p = panel("Queries", "presets of nerve query over the dynamics record (docs/queries.md)");
      const q = await fetch("/api/queries", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({}));
      const presets = q.presets || [];
      if (!q.available || !presets.length) {
        p.append(notice(q.hint || "nerve query is not available from this server."));
        wrap.replaceChildren(p);
        app.ready("queries");
        return;
      }
      const recorded = (app.info?.models || []).filter((m) => m.dynamics);
      if (app.info && !recorded.length)
        p.append(notice("This run has no dynamics record: train with dynamics.enabled = true (docs/dynamics.md).",
          "experiments/spheres_dynamics.cfg"));
      const pick = el("select", { id: "query-preset" }, ...presets.map((x) => el("option", { value: x.name, text: x.name })));
      const about = el("div", { class: "caption" });
      const fields = el("span", { class: "qfields" });
      const inputs = {};
      const out = el("div", { id: "query-result" });
      const run = el("button", { class: "btn", type: "submit", id: "query-run", text: "run" });
      const form = el("form", { class: "toolbar", id: "query-form" }, el("label", { class: "ctl" }, "preset", pick), fields, run);
      function layout() {
        const pr = presets.find((x) => x.name === pick.value);
        about.textContent = pr?.description || "";
        fields.replaceChildren();
        for (const k of Object.keys(inputs)) delete inputs[k];
        for (const a of (pr?.args || "").split(" ").filter(Boolean)) {
          const [label, ph, type] = FIELDS[a] || [a, "", "text"];
          const inp = el("input", { name: a, placeholder: ph, type, size: "10" });
          // the engine's default model: the expressive net when it was recorded
          if (a === "model" && recorded.length)
            inp.value = (recorded.find((m) => m.name === "expressive") || recorded[0]).name;
          if (a === "epoch") inp.value = "1";
          inputs[a] = inp;
          fields.append(el("label", { class: "ctl" }, label, inp));
        }
      }
      pick.onchange = layout;
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        const args = { preset: pick.value };
        for (const [k, inp] of Object.entries(inputs)) if (inp.value.trim()) args[k] = inp.value.trim();
        out.replaceChildren(el("div", { class: "caption", text: "running..." }));
        run.disabled = true;
        try {
          const a = await api.json("/api/query", args);
          const kids = [el("div", { class: "caption" }, "the same on the command line: ", el("code", { id: "query-command", text: a.command }))];
          if (a.note) kids.push(notice(a.note));
          for (const t of a.tables) kids.push(table(t));
          out.replaceChildren(...kids);
          out.dataset.done = String(Date.now());
        } catch (e) {
          out.replaceChildren(notice(e.message, e.hint));
          out.dataset.done = String(Date.now());
        } finally {
          run.disabled = false;
        }
      };
      layout();
      p.append(form, about, out);
      wrap.replaceChildren(p);
      app.ready("queries");
    },
  };
}
