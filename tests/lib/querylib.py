"""querylib: what the `nerve query` tests share (tests/integration/query_*.py; run under
/usr/bin/python3): small recorded runs, `nerve query` with JSON output parsed, the raw
store read with h5py (the independent side of every oracle), and the tolerance check
of docs/CONTRACTS.md."""
import json
import os
import subprocess
import sys

import numpy as np

NERVE = os.environ.get("NERVE", "build/nerve")
FAILS = []


def check(what, ok, detail=""):
    if ok:
        print("ok:", what)
    else:
        print("FAIL:", what, detail)
        FAILS.append(what)
    return ok


def close(what, got, ref, atol, rtol):
    """|got - ref| <= atol + rtol |ref| elementwise (docs/CONTRACTS.md); NaN == NaN."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return check(what, False, f"shape {got.shape} vs {ref.shape}")
    both_nan = np.isnan(got) & np.isnan(ref)
    bad = ~both_nan & ~(np.abs(got - ref) <= atol + rtol * np.abs(ref))
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        return check(what, False, f"{bad.sum()} of {bad.size} outside atol {atol} rtol {rtol}; first at {i}: "
                                  f"nerve {got.ravel()[i]!r} oracle {ref.ravel()[i]!r}")
    return check(what, True)


def finish():
    if FAILS:
        print(f"{len(FAILS)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


CONFIG = """experiment = "{name}";
seed = {seed};
data: {{ spheres: {{ dim = 6; points_per_class = 150; }}; }};
models: {{ hidden = [16, 12]; activation = "{act}"; bottleneck_width = 2; linear_baseline = false; }};
train: {{ epochs = {epochs}; batch_size = 32; {opt} {order} }};
snapshots: {{ epochs = [{epochs}]; layers = ["logits"]; }};
dynamics: {{
  enabled = true;
  chunk_steps = {chunk};
  samples: {{ every = 1; }};
  factors: {{ every = 1; }};
  weights: {{ every = {wevery}; }};
}};
"""


def train(tmp, name, seed=5, epochs=4, opt='optimizer = "adam"; lr = 0.01;', act="relu", chunk=5, wevery=1000,
          order_seed=None, extra=""):
    """Trains a small recorded run (12 weights per unit, 240 training samples, 8 steps
    per epoch of 32 with a last batch of 16) into tmp/name; returns its path."""
    cfg = os.path.join(tmp, name + ".cfg")
    order = f"order_seed = {order_seed};" if order_seed is not None else ""
    with open(cfg, "w") as f:
        f.write(CONFIG.format(name=name, seed=seed, epochs=epochs, opt=opt, act=act, chunk=chunk, wevery=wevery,
                              order=order) + extra)
    out = os.path.join(tmp, name)
    p = subprocess.run([NERVE, "train", cfg, "--out", out], capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stdout[-2000:], p.stderr[-2000:])
        raise SystemExit(f"nerve train {cfg} failed ({p.returncode})")
    return out


def query(args, expect=0):
    """nerve query ARGS --format json: the parsed JSON (SQL: a list of row dicts;
    a preset: {"preset", "note", "tables": {name: rows}})."""
    p = subprocess.run([NERVE, "query", "--format", "json"] + list(args), capture_output=True, text=True)
    if p.returncode != expect:
        print("command:", NERVE, "query", " ".join(args))
        print("stderr:", p.stderr[-3000:])
        raise SystemExit(f"nerve query exited {p.returncode}, expected {expect}")
    return json.loads(p.stdout) if expect == 0 else p


def raw(args):
    return subprocess.run([NERVE, "query"] + list(args), capture_output=True, text=True)


def columns(rows, *names):
    return [np.array([r[n] if r[n] is not None else np.nan for r in rows], dtype=np.float64) for n in names]


def layer_names(f):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]


def params_of(flat, widths):
    """[(W (out, in), b (out))] from the flat parameter array (netspec layout)."""
    out, o = [], 0
    for k in range(len(widths) - 1):
        i, w = int(widths[k]), int(widths[k + 1])
        out.append((flat[o:o + i * w].reshape(w, i), flat[o + i * w:o + i * w + w]))
        o += i * w + w
    return out


def flat_index(widths, k, row, col):
    o = 0
    for j in range(k):
        o += int(widths[j]) * int(widths[j + 1]) + int(widths[j + 1])
    i = int(widths[k])
    return o + row * i + col if col < i else o + i * int(widths[k + 1]) + row
