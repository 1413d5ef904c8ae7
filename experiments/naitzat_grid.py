#!/usr/bin/python3
"""naitzat_grid.py: D-I's beta0(M_a) by layer on the homology protocol of the
paper's public code, beside nerve's, for the nets of a finished D-I sweep
(experiments/naitzat_di.sh; docs/naitzat-di.md, "The paper code's homology").

    naitzat_grid.py NERVE SWEEP_DIR [--out FILE.md] [--paper-rule N] [--jobs J]

topnn_framework (read on 7 Dec 2026) does not take the homology on data points: its
D-I pipeline (pipelines/train_2_excel_2D.py) runs the trained net on a grid over
[-1.1, 1.1)^2 with step 0.025 (GridGenerator(res=0.025), "the set used for betti
numbers calculation"), splits the grid points by the net's *prediction* (argmax of
the logits), writes each layer's values per class to CSV with the other class's
points left as rows of zeros (transformers/excel_tensor_values_saver.py), and reads
every 4th point of that file with duplicate rows removed
(transformers/betti_calc_parallel.py: row[::4], np.unique), so each class's cloud
also holds one point at the origin. Then the symmetrised kNN graph (scikit-learn's
k = 14, with the point itself), hop counts, and Betti numbers at 2 hops.

Three readings per net and layer, each beta0 of class a computed by `nerve ph` on
the deduplicated cloud (--format point-cloud --metric knn-hops --k 13, bars alive
at 2 hops):
  data  the held-out test points of class a (the data's labels): nerve's protocol,
        the same numbers as `nerve ph RUN` and naitzat_table.py (a cross-check);
  grid  every 4th grid point the net predicts as class a;
  code  grid, plus the origin point the code's CSV files add.
Nets: as naitzat_table.py di (100% training accuracy; --paper-rule N the paper
code's selection). The net is run in float32 from its checkpoint (the stop epoch's
weights). Needs numpy and h5py (Debian's, under /usr/bin/python3)."""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import naitzat_table as nt  # noqa: E402

VARIANTS = [("data", "held-out points, data labels (nerve's protocol)"),
            ("grid", "grid, predicted classes"),
            ("code", "grid, predicted classes, + the origin (the paper's code)")]


def grid():
    """GridGenerator(res=0.025) of the paper's code: x fastest, y slowest."""
    x = np.arange(-1.1, 1.1, 0.025)
    xx, yy = np.meshgrid(x, x)
    return np.dstack((xx, yy)).reshape(-1, 2).astype(np.float32)


def forward(params, widths, act, slope, x):
    """Every layer's values (input, hidden layers after the activation, logits) in
    float32; params as nerve stores them (netspec.h: W_l row-major, then b_l)."""
    outs, off = [x], 0
    for layer in range(len(widths) - 1):
        n_in, n_out = widths[layer], widths[layer + 1]
        w = params[off:off + n_in * n_out].reshape(n_out, n_in)
        off += n_in * n_out
        b = params[off:off + n_out]
        off += n_out
        z = (x @ w.T + b).astype(np.float32)
        if layer < len(widths) - 2:
            if act == "relu":
                z = np.maximum(z, np.float32(0))
            elif act == "leaky_relu":
                z = np.where(z > 0, z, np.float32(slope) * z)
            elif act == "tanh":
                z = np.tanh(z)
            else:
                sys.exit("naitzat_grid.py: activation %s is not one of D-I's" % act)
        x = z
        outs.append(x)
    if off != len(params):
        sys.exit("naitzat_grid.py: %d parameters, the widths %s need %d" % (len(params), widths, off))
    return outs


def beta0(nerve, cloud):
    """Bars of H0 alive at 2 hops of the symmetrised 13-neighbour graph (nerve ph)."""
    cloud = np.unique(cloud, axis=0)
    if len(cloud) <= 1:
        return len(cloud)
    # fewer points than the neighbours asked for: all of them, as scikit-learn's
    # NearestNeighbors does in the paper's code (find_neighbors)
    k = min(13, len(cloud) - 1)
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in cloud) + "\n"
    r = subprocess.run([nerve, "ph", "--format", "point-cloud", "--metric", "knn-hops", "--k", str(k), "--dim", "0",
                        "--threshold", "2", "--output", "pairs", "--threads", "1"],
                       input=text, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("naitzat_grid.py: nerve ph failed: " + r.stderr.strip())
    return sum(1 for line in r.stdout.splitlines() if line.split()[:1] == ["0"] and line.split()[2] == "inf")


def net_rows(nerve, run, model, act, slope, g):
    summ = json.load(open(os.path.join(run, "summary.json")))["models"][model]
    with h5py.File(os.path.join(run, "checkpoints", model + ".h5"), "r") as f:
        params = f["params"][...].astype(np.float32)
    with h5py.File(os.path.join(run, "data.h5"), "r") as f:
        tx, ty = f["test/x"][...].astype(np.float32), f["test/y"][...]
    data = forward(params, summ["widths"], act, slope, tx[ty == 0])
    outs = forward(params, summ["widths"], act, slope, g)
    pred = np.argmax(outs[-1], axis=1)
    every4 = np.arange(len(g)) % 4 == 0
    mine, other = every4 & (pred == 0), every4 & (pred != 0)
    rows = {"data": [beta0(nerve, v) for v in data], "grid": [], "code": []}
    for v in outs:
        rows["grid"].append(beta0(nerve, v[mine]))
        zero = np.zeros((1 if other.any() else 0, v.shape[1]), np.float32)
        rows["code"].append(beta0(nerve, np.vstack([v[mine], zero])))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nerve")
    ap.add_argument("sweep")
    ap.add_argument("--out")
    ap.add_argument("--paper-rule", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    if not os.access(a.nerve, os.X_OK):
        sys.exit("naitzat_grid.py: no nerve binary at %s" % a.nerve)
    tasks_dir = os.path.join(a.sweep, "tasks")
    if not os.path.isdir(tasks_dir):
        sys.exit("naitzat_grid.py: %s has no tasks/: not a sweep directory" % a.sweep)
    g = grid()
    work = []
    for t in sorted(os.listdir(tasks_dir)):
        run = os.path.join(tasks_dir, t, "run")
        if not os.path.exists(os.path.join(run, "summary.json")):
            continue
        cfg = open(os.path.join(tasks_dir, t, "config.cfg")).read()
        act = nt.activation(os.path.join(tasks_dir, t, "config.cfg"))
        slope = 0.2
        for line in cfg.splitlines():
            if line.strip().startswith("leaky_slope"):
                slope = float(line.split("=")[1].strip(" ;"))
        models = json.load(open(os.path.join(run, "summary.json")))["models"]
        for model in ("expressive", "bottleneck"):
            if (act, model) not in nt.PAPER_DI or model not in models or models[model]["train_acc"] < 1.0:
                continue
            if a.paper_rule and not nt.paper_qualifies(os.path.join(run, "metrics", model + ".csv"), a.paper_rule):
                continue
            work.append(((act, model), run, model, act, slope))
    with ThreadPoolExecutor(max(1, a.jobs)) as ex:
        results = list(ex.map(lambda w: (w[0], net_rows(a.nerve, w[1], w[2], w[3], w[4], g)), work))
    nets = {}
    for key, rows in results:
        nets.setdefault(key, []).append(rows)

    lines = ["Mean beta0(M_a) by layer on three readings of the same nets (naitzat_grid.py), next to the paper's:",
             "", "| net | reading | nets | " + " | ".join(["in"] + ["h%d" % i for i in range(1, 10)] + ["out"]) +
             " | within ±1.0 of the paper |", "|---" * 15 + "|"]
    means = {}
    for key in nt.ROWS_DI:
        label = "%s%s" % (nt.NAME[key[0]], " bottleneck" if key[1] == "bottleneck" else "")
        pap = nt.PAPER_DI[key]
        for v, _ in VARIANTS:
            # a net's layers by column: the input and hidden layers in order, the
            # logits in the last column (D-I's nets fill all eleven)
            cols = [dict(list(enumerate(r[v][:-1])) + [(len(pap) - 1, r[v][-1])]) for r in nets.get(key, [])]
            vals = [nt.mean_sd([c[i] for c in cols if i in c])[0] for i in range(len(pap))]
            means[(key, v)] = vals
            dev = max(range(len(pap)), key=lambda i: abs(vals[i] - pap[i]) if vals[i] == vals[i] else -1)
            ok = all(abs(vals[i] - pap[i]) <= 1.0 for i in range(len(pap)))
            lines.append("| %s | %s | %d | %s | %s |" % (label, v, len(cols),
                                                          " | ".join("%.2f" % m if m == m else "" for m in vals),
                                                          "yes" if ok else "no (%+.2f at %s)" %
                                                          (vals[dev] - pap[dev], nt.LAYERS[dev])))
        lines.append("| %s | paper | ~30 | %s | |" % (label, " | ".join("%g" % p for p in pap)))
    lines.append("")
    for v, what in VARIANTS:
        mid = range(2, 7)
        avg = {act: sum(means[((act, "expressive"), v)][i] for i in mid) / len(mid)
               for act in ("relu", "leaky_relu", "tanh")}
        lines.append("- %s (%s): middle layers h2..h6 ReLU %.2f, leaky ReLU %.2f, tanh %.2f%s" %
                     (v, what, avg["relu"], avg["leaky_relu"], avg["tanh"],
                      "" if avg["relu"] < avg["leaky_relu"] < avg["tanh"] else " (order NOT as the paper's)"))
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
