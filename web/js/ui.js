// ui.js: small pieces every view uses: an epoch/step slider with play, selects,
// notices, panels.

export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

export function notice(text, code) {
  const n = el("div", { class: "notice" }, text);
  if (code) n.append(" ", el("code", { text: code }));
  return n;
}

export function select(label, options, value, onchange) {
  const s = el("select");
  for (const o of options) {
    const [v, t] = Array.isArray(o) ? o : [o, o];
    s.append(el("option", { value: String(v), text: String(t) }));
  }
  if (value != null) s.value = String(value);
  s.onchange = () => onchange(s.value);
  return el("label", { class: "ctl" }, label, s);
}

// A slider over a list of values (epochs or steps) with a play button. onChange(value)
// may return a promise; play waits for it before the next frame. When the values
// grow (a new epoch landed) and the slider was at the end, it moves to the new end.
export function slider(label, id, onChange, fmt = (v) => `${label} ${v}`) {
  let values = [], idx = 0, timer = null;
  const input = el("input", { type: "range", min: "0", max: "0", value: "0", id });
  const val = el("span", { class: "val" });
  const play = el("button", { class: "btn", title: "play", text: "\u25B6" });
  const root = el("div", { class: "slider" }, play, input, val);
  const fire = () => { val.textContent = values.length ? fmt(values[idx]) : "-"; return onChange(values[idx]); };
  input.oninput = () => { idx = Number(input.value); fire(); };
  const stop = () => { clearTimeout(timer); timer = null; play.textContent = "\u25B6"; };
  const step = async () => {
    if (!timer) return;
    idx = idx + 1 >= values.length ? 0 : idx + 1;
    input.value = String(idx);
    await fire();
    if (timer) timer = setTimeout(step, 650);
  };
  play.onclick = () => { if (timer) stop(); else { play.textContent = "\u275A\u275A"; timer = setTimeout(step, 10); } };
  return {
    root,
    get value() { return values[idx]; },
    get values() { return values; },
    // Returns true when the shown value changed.
    set(vs, preferLast = false) {
      const atEnd = idx >= values.length - 1;
      const old = values[idx];
      values = vs.slice();
      input.max = String(Math.max(0, values.length - 1));
      if (preferLast || atEnd) idx = values.length - 1;
      else idx = Math.max(0, values.indexOf(old));
      if (idx < 0) idx = 0;
      input.value = String(idx);
      val.textContent = values.length ? fmt(values[idx]) : "-";
      return values[idx] !== old;
    },
    to(v) { const i = values.indexOf(v); if (i >= 0) { idx = i; input.value = String(i); return fire(); } },
    stop,
  };
}

export function panel(title, tag) {
  const h = el("h3", {}, title);
  if (tag) h.append(el("span", { class: "tag", text: tag }));
  return el("div", { class: "panel" }, h);
}

export function union(lists) {
  return [...new Set(lists.flat())].sort((a, b) => a - b);
}
