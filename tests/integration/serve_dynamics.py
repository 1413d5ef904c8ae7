"""serve_dynamics: the viewer's per-step views and its Queries tab over a real
dynamics record, against independent readings of the same files.

A small run is trained with every tier recorded at every step; `nerve serve` then
answers
  - /api/dyn: the steps tier's series, equal to h5py's reading of the store;
  - /api/dyn/step: the neurons tier at a step, equal to h5py's rows of that step;
  - /api/dyn/grad.bin: each weight matrix's batch gradient, equal to numpy's
    (1/b) sum_i d_i a_i^T from the recorded factors (float64, rtol 1e-5);
  - /api/query: each preset's answer equal, row for row, to what `nerve query RUN
    --preset NAME --format json` prints (the CLI and the viewer share the engine;
    the test checks the viewer carries its answer unchanged), and the command it
    names reproduces it;
and refuses bad arguments and a run without a record with 400 and a message."""
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import check, finish, run, tmpdir, write  # noqa: E402
import servetest as sv  # noqa: E402

d = tmpdir("serve-dyn")
cfg = write(os.path.join(d, "dyn.cfg"), """experiment = "sd";
seed = 5;
data: { spheres: { dim = 6; sphere_dim = 5; points_per_class = 80; }; };
models: { hidden = [8, 8]; };
train: { epochs = 3; batch_size = 16; };
snapshots: { epochs = "all"; };
dynamics: { enabled = true; samples: { every = 1; }; factors: { every = 1; }; weights: { every = 5; }; };
""")
R = os.path.join(d, "run")
run(["train", cfg, "--out", R, "--threads", "1"])
plain = write(os.path.join(d, "plain.cfg"), """experiment = "plain";
data: { spheres: { dim = 6; sphere_dim = 5; points_per_class = 40; }; };
models: { hidden = [8, 8]; };
train: { epochs = 1; };
""")
run(["train", plain, "--out", os.path.join(d, "plain"), "--threads", "1"])

p, port = sv.start(d)


def get_json(target):
    st, _, body = sv.get(port, target)
    try:
        return st, json.loads(body)
    except ValueError:
        return st, None


f = h5py.File(os.path.join(R, "dynamics", "expressive.h5"), "r")
steps = f["steps/step"][:]

# 1. the steps tier
st, dyn = get_json("/api/dyn?run=run&model=expressive")
check(st == 200 and dyn and dyn.get("recorded"), "/api/dyn answers for a recorded model")
check(dyn["steps"] == steps.tolist(), "/api/dyn: the %d recorded steps are the store's" % len(steps))
for s in ("loss", "grad_norm", "update_norm", "dead_frac"):
    mine = np.array(dyn["series"][s], dtype=np.float64).T  # the API gives one array per layer
    ref = f["steps/" + s][:].astype(np.float64).reshape(len(steps), -1)
    check(mine.shape == ref.shape and np.array_equal(mine, ref), "/api/dyn series %s equals h5py's steps/%s" % (s, s))

# 2. the neurons tier at one step
S = int(steps[len(steps) // 2])
st, ns = get_json("/api/dyn/step?run=run&model=expressive&step=%d" % S)
row = int(np.flatnonzero(f["neurons/step"][:] == S)[0])
bad = []
for lj in ns["layers"]:
    for k in ("mean_act", "frac_active", "mean_abs_delta", "grad_norm", "update_norm", "influence"):
        ref = f["neurons/%s/%s" % (lj["name"], k)][row].astype(np.float64)
        if not np.array_equal(np.array(lj[k], dtype=np.float64), ref):
            bad.append("%s/%s" % (lj["name"], k))
check(st == 200 and len(ns["layers"]) == 3 and not bad,
      "/api/dyn/step at step %d: every layer's six unit statistics equal the store's row %s" % (S, bad))

# 3. the batch gradients from the factors
st, hdr, body = sv.get(port, "/api/dyn/grad.bin?run=run&model=expressive&step=%d" % S)
g = np.frombuffer(body, dtype="<f4").astype(np.float64)
rows = np.flatnonzero(f["factors/step"][:] == S)
layers = [lj["name"] for lj in ns["layers"]]
ref = []
for name in layers:
    a = f["factors/%s/a" % name][rows[0]:rows[-1] + 1].astype(np.float64)
    dd = f["factors/%s/d" % name][rows[0]:rows[-1] + 1].astype(np.float64)
    ref.append((dd.T @ a / len(rows)).ravel())
ref = np.concatenate(ref)
check(st == 200 and hdr.get("x-nerve-shape") == "%d,1" % ref.size and g.shape == ref.shape
      and np.allclose(g, ref, rtol=1e-5, atol=1e-7),
      "/api/dyn/grad.bin at step %d: (1/b) sum d_i a_i^T of %d samples over %d layers (max |diff| %.2e)"
      % (S, len(rows), len(layers), np.max(np.abs(g - ref)) if g.shape == ref.shape else -1))

# 4. the presets through /api/query against nerve query's own output
st, qs = get_json("/api/queries")
names = [x["name"] for x in qs.get("presets", [])]
check(st == 200 and qs.get("available") and names == ["top-samples", "weight-groups", "compare-runs",
                                                       "pre-explosion", "weight-to-zero"],
      "/api/queries lists the five presets with the arguments each takes %s" % names)


def same(preset, args, cli):
    st, a = get_json("/api/query?run=run&preset=%s&%s" % (preset, args))
    if st != 200 or not a:
        check(False, "/api/query %s %s answered %s %s" % (preset, args, st, a))
        return
    _, out, _ = run(["query", R, "--preset", preset, "--format", "json"] + cli)
    ref = json.loads(out)
    main = a["tables"][0]
    # the CLI's JSON: {preset, note, tables: {name: [rows]}}, or the rows alone
    ref_tables = ref.get("tables", {}) if isinstance(ref, dict) else {main["name"]: ref}
    ref_rows = ref_tables.get(main["name"], [])
    mine = [dict(zip(main["columns"], r)) for r in main["rows"]]
    check((ref.get("note", "") if isinstance(ref, dict) else "") == a["note"] and list(ref_tables) ==
          [t["name"] for t in a["tables"]], "/api/query %s: the same note and tables %s" % (preset, list(ref_tables)))

    def close(x, y):
        if isinstance(x, float) or isinstance(y, float):
            return x is not None and y is not None and (x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y)))
        return x == y
    ok = len(mine) == len(ref_rows) and all(set(m) == set(r) and all(close(m[k], r[k]) for k in m)
                                            for m, r in zip(mine, ref_rows))
    check(ok, "/api/query %s (%s): %d rows equal to `nerve query --preset %s --format json`"
          % (preset, args, len(mine), preset))
    check(a["command"].startswith("nerve query %s --preset %s" % (os.path.realpath(R), preset)),
          "/api/query %s names the command that reproduces it: %s" % (preset, a["command"]))


same("top-samples", "epoch=2&layer=hidden1&k=5", ["--epoch", "2", "--layer", "hidden1", "-k", "5"])
same("top-samples", "epoch=1&layer=hidden2&weight=1,2&by=neg", ["--epoch", "1", "--layer", "hidden2", "--weight", "1,2",
                                                                "--by", "neg"])
same("weight-groups", "model=bottleneck&groups=3&limit=10", ["--model", "bottleneck", "--groups", "3", "--limit", "10"])
same("pre-explosion", "fraction=0.001&k=4", ["--fraction", "0.001", "-k", "4"])
same("weight-to-zero", "layer=hidden1&weight=0,1&tolerance=0.01", ["--layer", "hidden1", "--weight", "0,1",
                                                                   "--tolerance", "0.01"])

# 5. refusals: 400 with the engine's or the server's message
for target, what in [("/api/query?run=run&preset=nonsense", "preset: expected"),
                     ("/api/query?run=run&preset=top-samples", "epoch"),
                     ("/api/query?run=run&preset=top-samples&epoch=1&k=zero", "k: expected"),
                     ("/api/query?run=run&preset=top-samples&epoch=99", "epoch"),
                     ("/api/query?run=run&preset=top-samples&epoch=1&layer=hidden9", "hidden9"),
                     ("/api/query?run=run&preset=top-samples&epoch=1&weight=1", "weight: expected"),
                     ("/api/query?run=plain&preset=pre-explosion", "dynamics"),
                     ("/api/query?run=../etc&preset=pre-explosion", "")]:
    st, a = get_json(target)
    check(st in (400, 403, 404) and a and what in (a.get("error", "") + " " + a.get("hint", "")),
          "%s is refused (%s): %s" % (target, st, a and a.get("error")))
st, a = get_json("/api/dyn?run=plain&model=expressive")
check(st == 200 and a and a.get("recorded") is False and "dynamics" in a.get("hint", ""),
      "/api/dyn on a run without a record says how to record")
sv.stop(p)
finish()
