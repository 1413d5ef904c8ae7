// queries.js: the place for `nerve query`'s presets (a form per preset and a result
// table). The query engine is not part of this build yet; /api/queries says so,
// and this view shows its presets as soon as the endpoint lists them.
import * as api from "./api.js";
import { el, notice, panel } from "./ui.js";

export function mount(root, app) {
  const wrap = el("div");
  root.append(wrap);
  return {
    async update(reason) {
      if (reason !== "mount") return;
      const q = await fetch("/api/queries", { credentials: "same-origin" }).then((r) => r.json()).catch(() => ({}));
      const p = panel("Queries", "presets of nerve query over the dynamics store");
      if (!q.available || !(q.presets || []).length) {
        p.append(notice(q.hint || "nerve query is not available."));
        const form = el("form", { class: "toolbar" },
          el("label", { class: "ctl" }, "preset", el("select", { disabled: "" }, el("option", { text: "(none yet)" }))),
          el("button", { class: "btn", type: "button", disabled: "", text: "run" }));
        p.append(form, el("table", { class: "result" }, el("tr", {}, el("th", { text: "result" }))));
      } else {
        for (const pr of q.presets) p.append(el("div", { class: "caption", text: `${pr.name}: ${pr.description || ""}` }));
      }
      wrap.replaceChildren(p);
      app.ready("queries");
    },
  };
}
