#!/usr/bin/python3
"""phrun_labelled.py: the labelled kNN filtration of `nerve ph RUN` (include/nerve/labelled.h,
docs/ph-runs.md) on a small default run (experiments/spheres.cfg with 1,000 points
per class and 20 epochs; about 10 s).

1. The contrast: at the last epoch, the last hidden layer of the expressive net reads
   a much lower mixing than the bottlenecked net's (classes apart vs interleaved),
   and the expressive net's falls with training.
2. Rescaling invariance: the run copied, one snapshot's hidden layer multiplied by 10
   and another's by a random positive factor (drawn anew each run, printed), the
   analysis redone: every number of labelled.csv and labelled_betti.csv is the same.
3. An oracle: for one snapshot and layer, the Betti curves recomputed here with numpy
   and scipy (kNN by double squared distances, ties to the lower index; components
   by scipy.sparse.csgraph) equal labelled_betti.csv, and the summaries equal
   labelled.csv.
   The two geometric baselines against their own oracles (the symmetrised kNN
   graph's cross-class edges; scipy's minimum spanning tree, Friedman-Rafsky).
4. The chart exists (PNG and SVG).
5. The report opens with the reading (before its Summary), quotes both nets' mixing
   and embeds the chart.

Exit 0 pass, 77 skip (no numpy, scipy or h5py), 1 fail.
"""
import csv
import os
import random
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
except ImportError as e:  # pragma: no cover
    print("SKIP phrun_labelled: %s" % e)
    sys.exit(77)
from nervetest import NERVE, ROOT, check, finish, run, tmpdir

K = 20


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def analyse(rundir):
    # few landmarks and no distances: the diagrams are not what this test is about
    run(["ph", rundir, "--landmarks", "40", "--no-distances", "--threads", "2"])
    return (rows(os.path.join(rundir, "analysis/ph/labelled.csv")),
            rows(os.path.join(rundir, "analysis/ph/labelled_betti.csv")))


def oracle(x, y, kmax):
    """Betti curves per class and of the unlabelled graph, k = 1..kmax."""
    x = x.astype(np.float64)
    n = len(x)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nb = np.argsort(d2, axis=1, kind="stable")[:, :kmax]
    classes = sorted(set(y.tolist()))
    out = {c: [] for c in classes}
    out["all"] = []
    for k in range(1, kmax + 1):
        i = np.repeat(np.arange(n), k)
        j = nb[:, :k].ravel()
        a = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
        out["all"].append(connected_components(a, directed=False)[0])
        for c in classes:
            m = (y[i] == c) & (y[j] == c)
            idx = np.where(y == c)[0]
            remap = -np.ones(n, dtype=np.int64)
            remap[idx] = np.arange(len(idx))
            b = coo_matrix((np.ones(m.sum()), (remap[i[m]], remap[j[m]])), shape=(len(idx), len(idx)))
            out[c].append(connected_components(b, directed=False)[0])
    return out


def main():
    tmp = tmpdir("phrun-labelled")
    rundir = os.path.join(tmp, "run")
    run(["train", os.path.join(ROOT, "experiments/spheres.cfg"), "--out", rundir, "--epochs", "20",
         "--device", "cpu", "--set",
         'data: { spheres: { points_per_class = 1000; }; }; snapshots: { epochs = [0, 3, 20]; }; '
         'models: { linear_baseline = false; };'])
    summ, betti = analyse(rundir)
    get = {(r["model"], int(r["epoch"]), r["layer"]): r for r in summ}
    mix = lambda m, e, l: float(get[(m, e, l)]["mixing"])
    # 1. contrast at the last epoch, last hidden layer (hidden3), and the fall with training
    ex, bo = mix("expressive", 20, "hidden3"), mix("bottleneck", 20, "hidden3")
    print("mixing at epoch 20, hidden3: expressive %.4f, bottleneck %.4f; expressive at epoch 0: %.4f"
          % (ex, bo, mix("expressive", 0, "hidden3")))
    check(bo > 3 * ex and bo - ex > 0.3, "the bottleneck's classes are interleaved, the expressive net's apart")
    check(mix("expressive", 0, "hidden3") > 2 * ex, "the expressive net's mixing falls with training")
    check(all(r["split"] == "test" for r in summ), "the reading is on the test split")
    check(len(summ) == 2 * 3 * 5, "one row per model, epoch and layer (%d)" % len(summ))
    # 4. the chart
    for ext in ("png", "svg"):
        p = os.path.join(rundir, "analysis/figures/labelled_chart." + ext)
        check(os.path.exists(p) and os.path.getsize(p) > 1000, "labelled_chart.%s written" % ext)

    # 3. the oracle on one snapshot and layer
    snap = os.path.join(rundir, "snapshots/bottleneck/epoch_0020.h5")
    with h5py.File(snap, "r") as f:
        x, y = f["layers/hidden2/test"][...], f["labels/test"][...]
    want = oracle(x, y, K)
    got = {}
    for r in betti:
        if (r["model"], r["epoch"], r["layer"]) == ("bottleneck", "20", "hidden2"):
            got.setdefault(r["class"] if r["class"] == "all" else int(r["class"]), []).append(int(r["beta0"]))
    check(got == {k: [int(v) for v in vs] for k, vs in want.items()},
          "labelled_betti.csv equals the numpy/scipy oracle (bottleneck, epoch 20, hidden2)")
    n = len(y)
    same = np.sum([want[c] for c in sorted(set(y.tolist()))], axis=0)
    ref_mix = float(np.sum(same - np.maximum(np.array(want["all"]), 2))) / n
    check(abs(ref_mix - mix("bottleneck", 20, "hidden2")) < 1e-12, "mixing = sum_k (sum_c b0_c - max(b0, C)) / n")
    # the geometric baselines, on the expressive net's hidden3 at epoch 20 (no two rows
    # equal there, checked: with equal rows the spanning tree has ties of length 0 and
    # its cross-class share depends on how they are broken): the cross-class share of
    # the symmetrised kNN graph's edges at k = 20, and of scipy's minimum spanning tree
    with h5py.File(os.path.join(rundir, "snapshots/expressive/epoch_0020.h5"), "r") as f:
        xe, ye = f["layers/hidden3/test"][...].astype(np.float64), f["labels/test"][...]
    ne = len(xe)
    check(len(np.unique(xe, axis=0)) == ne, "expressive hidden3 at epoch 20 has no equal rows")
    d2 = ((xe[:, None, :] - xe[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nb = np.argsort(d2, axis=1, kind="stable")[:, :K]
    pairs = {(min(i, j), max(i, j)) for i in range(ne) for j in nb[i]}
    cross = sum(ye[i] != ye[j] for i, j in pairs) / len(pairs)
    row = get[("expressive", 20, "hidden3")]
    check(abs(cross - float(row["cross_share"])) < 1e-12,
          "cross_share %s equals the oracle's %.6f" % (row["cross_share"], cross))
    np.fill_diagonal(d2, 0.0)
    t = minimum_spanning_tree(np.sqrt(d2)).tocoo()
    fr = float(np.mean(ye[t.row] != ye[t.col]))
    check(len(t.row) == ne - 1 and abs(fr - float(row["mst_cross"])) < 1e-12,
          "mst_cross (Friedman-Rafsky) %s equals scipy's spanning tree's %.6f" % (row["mst_cross"], fr))

    # 5. the report opens with the reading: its section comes before the summary,
    # quotes labelled.csv's numbers and embeds the chart
    run(["report", rundir])
    html = open(os.path.join(rundir, "analysis/report.html"), encoding="utf-8").read()
    sec, summ_at = html.find('id="classes"'), html.find('id="summary"')
    check(0 <= sec < summ_at, "the report's first section is the labelled reading")
    lead = html[html.find('data-kind="labelled-summary"'):][:3000]
    check(("%.3f" % ex) in lead and ("%.3f" % bo) in lead, "the report quotes the mixing of both nets")
    check("labelled-chart" in html[sec:summ_at], "the report embeds the labelled chart")

    # 2. rescaling: hidden3 of the expressive net at epoch 20 by 10, hidden2 of the
    # bottleneck at epoch 3 by a random factor
    factor = 10 ** random.uniform(-3, 3)
    print("random factor: %.17g" % factor)
    scaled = os.path.join(tmp, "scaled")
    shutil.copytree(rundir, scaled, ignore=shutil.ignore_patterns("analysis"))
    for path, layer, c in (("expressive/epoch_0020.h5", "hidden3", 10.0), ("bottleneck/epoch_0003.h5", "hidden2", factor)):
        with h5py.File(os.path.join(scaled, "snapshots", path), "r+") as f:
            for split in ("train", "test"):
                ds = f["layers/%s/%s" % (layer, split)]
                ds[...] = (ds[...].astype(np.float64) * c).astype(np.float32)
    summ2, betti2 = analyse(scaled)
    keys = ("mixing", "labelled_persistence", "unlabelled_persistence", "cross_share", "mst_cross")
    diff = [(a["model"], a["epoch"], a["layer"], k) for a, b in zip(summ, summ2) for k in keys if a[k] != b[k]]
    check(len(summ) == len(summ2) and not diff, "labelled.csv unchanged by rescaling (differences: %s)" % diff[:4])
    check(betti == betti2, "labelled_betti.csv unchanged by rescaling")
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
