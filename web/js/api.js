// api.js: the viewer's calls to nerve serve's API (docs/serve.md). JSON answers
// as objects; binary answers (little-endian float32, shape in X-Nerve-Shape) as
// {data: Float32Array, rows, cols, headers}.

export const state = { run: "" };

function url(path, args) {
  const q = new URLSearchParams({ run: state.run, ...args });
  return `${path}?${q}`;
}

export async function json(path, args = {}) {
  const r = await fetch(url(path, args), { credentials: "same-origin" });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) {
    const e = new Error(body.error || `HTTP ${r.status}`);
    e.status = r.status; e.hint = body.hint;
    throw e;
  }
  return body;
}

// Same as json() but a 404 becomes null (an analysis not run yet).
export async function maybe(path, args = {}) {
  try { return await json(path, args); } catch (e) { if (e.status === 404) return null; throw e; }
}

export async function bin(path, args = {}) {
  const r = await fetch(url(path, args), { credentials: "same-origin" });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    const e = new Error(body.error || `HTTP ${r.status}`);
    e.status = r.status; e.hint = body.hint;
    throw e;
  }
  const buf = await r.arrayBuffer();
  const [rows, cols] = (r.headers.get("X-Nerve-Shape") || "0,1").split(",").map(Number);
  return { data: new Float32Array(buf), rows, cols, headers: r.headers };
}

export async function runs() {
  const r = await fetch("/api/runs", { credentials: "same-origin" });
  return r.json();
}

// A small cache for answers of immutable files (snapshot epochs, analysis outputs).
const memo = new Map();
export function cached(key, fn) {
  if (!memo.has(key)) memo.set(key, fn().catch((e) => { memo.delete(key); throw e; }));
  return memo.get(key);
}
export function forget(prefix) {
  for (const k of [...memo.keys()]) if (k.startsWith(prefix)) memo.delete(k);
}
