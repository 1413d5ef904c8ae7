#!/usr/bin/python3
"""phrun_oracle.py: `nerve ph RUN` against independent oracles on a tiny run.

1. Every stored diagram (metric euclidean, splits all and train, 60 landmarks)
   equals what Debian's ripser 1.2.1 gives on the same activations, read with h5py
   from the snapshot and restricted to the stored landmark rows (docs/CONTRACTS.md's matching
   rule, via ph_ripser.match). The stored landmark ids must be the sample ids of
   those rows.
2. The default metric (knn-hops, threshold = the calibrated scale): a few diagrams
   against ripser on a hop-count matrix built here with numpy (kNN by Euclidean
   distance in float32, ties to the lower index, "or" symmetrisation, BFS), with
   ripser's --threshold at the same value.
3. summary.csv: each Betti number equals the number of stored bars alive at the
   scale (birth <= scale < death); total persistence recomputed from the bars.
4. distances.csv has a row for every consecutive epoch and layer pair; the chart
   and the per-snapshot figures exist and are PNG / SVG.

Exit 0 pass, 77 skip (no ripser, numpy or h5py, or `nerve ph RUN` not wired yet),
1 fail.
"""
import csv
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import h5py
    import numpy as np
    from ph_ripser import RIPSER, match, parse_ripser
except ImportError as e:  # pragma: no cover
    print("SKIP phrun_oracle: %s" % e)
    sys.exit(77)

NERVE = os.environ.get("NERVE", "build/nerve")
ROOT = os.environ.get("NERVE_ROOT", ".")
INF = float("inf")


def sh(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        print("FAIL: %s exited %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        sys.exit(1)
    return p


def tiny_run(tmp, extra=""):
    run = os.path.join(tmp, "run")
    sh([NERVE, "train", os.path.join(ROOT, "experiments/spheres.cfg"), "--out", run, "--epochs", "1",
        "--set", 'data: { spheres: { points_per_class = 100; %s }; }; snapshots: { epochs = "all"; };' % extra])
    return run


def nerve_ph(args):
    p = sh([NERVE, "ph"] + args, check=False)
    if "not supported" in p.stderr:
        print("SKIP phrun_oracle: this nerve does not hand run directories to `nerve ph RUN` yet")
        sys.exit(77)
    if p.returncode != 0:
        print("FAIL: nerve ph %s exited %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        sys.exit(1)
    return p


def stored(group):
    dim, b, d = group["dim"][:], group["birth"][:], group["death"][:]
    return {k: [(float(x), float(y)) for t, x, y in zip(dim, b, d) if t == k] for k in (0, 1)}


def ripser_bars(path, fmt, threshold=None):
    cmd = [RIPSER, "--format", fmt, "--dim", "1"]
    if threshold is not None:
        cmd += ["--threshold", repr(threshold)]
    p = subprocess.run(cmd + [path], capture_output=True, text=True, timeout=300)
    _, bars = parse_ripser(p.stdout)
    return {k: [(b, d) for b, d, _ in bars.get(k, [])] for k in (0, 1)}


def hop_matrix(x, k):
    """knn-hops as metric.h defines it, computed independently."""
    n = len(x)
    x = x.astype(np.float32)
    diff = x[:, None, :] - x[None, :, :]
    d = np.sqrt(np.sum(diff * diff, axis=2, dtype=np.float32)).astype(np.float32)
    adj = [set() for _ in range(n)]
    for i in range(n):
        order = sorted((j for j in range(n) if j != i), key=lambda j: (d[i, j], j))[:k]
        for j in order:
            adj[i].add(j)
            adj[j].add(i)
    hops = np.full((n, n), np.inf)
    for s in range(n):
        hops[s, s] = 0
        frontier, h = [s], 0
        while frontier:
            h += 1
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if hops[s, v] == np.inf:
                        hops[s, v] = h
                        nxt.append(v)
            frontier = nxt
    return hops


def check_files_against_ripser(run, tmp, metric, limit=None):
    checked = 0
    for root, _, files in os.walk(os.path.join(run, "analysis/ph")):
        for name in sorted(files):
            if not name.endswith(".h5"):
                continue
            f = h5py.File(os.path.join(root, name), "r")
            assert f.attrs["format"] == "nerve-diagrams" and f.attrs["format_version"] == 1
            snap = h5py.File(os.path.join(run, f.attrs["snapshot"]), "r")
            for layer in f.attrs["layers"]:
                for split in f.attrs["splits"]:
                    x = snap["layers/%s/%s" % (layer, split)][:]
                    ids = snap["ids/%s" % split][:]
                    for cls, g in f["%s/%s" % (layer, split)].items():
                        if limit is not None and checked >= limit:
                            return checked
                        rows = g.attrs["landmark_rows"]
                        if not np.array_equal(ids[rows], g.attrs["landmark_ids"]):
                            print("FAIL: %s %s/%s/%s: landmark_ids are not the ids of landmark_rows"
                                  % (name, layer, split, cls))
                            sys.exit(1)
                        pts = x[rows]
                        path = os.path.join(tmp, "cloud.txt")
                        if metric == "euclidean":
                            np.savetxt(path, pts, fmt="%.9g")
                            want = ripser_bars(path, "point-cloud")
                        else:
                            hops = hop_matrix(pts, int(g.attrs["k"]))
                            with open(path, "w") as out:
                                for i in range(1, len(pts)):
                                    # ripser's lower-distance reader: unreachable pairs are
                                    # left above the threshold (a large value) instead of inf
                                    out.write(" ".join("%d" % v if v != np.inf else "1000000"
                                                       for v in hops[i, :i]) + "\n")
                            want = ripser_bars(path, "lower-distance", float(g.attrs["threshold"]))
                        got = stored(g)
                        for k in (0, 1):
                            why = match(got[k], want[k])
                            if why:
                                print("FAIL: %s %s/%s/%s H%d (%s): %s" % (name, layer, split, cls, k, metric, why))
                                sys.exit(1)
                        checked += 1
    return checked


def check_summary(run):
    rows = list(csv.DictReader(open(os.path.join(run, "analysis/ph/summary.csv"))))
    if not rows:
        print("FAIL: summary.csv is empty")
        sys.exit(1)
    files = {}
    for r in rows:
        key = (r["model"], int(r["epoch"]))
        if key not in files:
            files[key] = h5py.File(os.path.join(run, "analysis/ph/%s/epoch_%04d.h5" % key), "r")
        g = files[key]["%s/%s/%s" % (r["layer"], r["split"], r["class"] if r["class"] == "all" else "class_" + r["class"])]
        s = float(g.attrs["scale"])
        t = float(g.attrs["threshold"])
        dim = int(r["dim"])
        bars = [(b, d) for k, b, d in zip(g["dim"][:], g["birth"][:], g["death"][:]) if k == dim]
        alive = sum(1 for b, d in bars if b <= s < d)
        if alive != int(r["betti_at_scale"]):
            print("FAIL: summary %s: betti %s but %d stored bars alive at %g" % (r, r["betti_at_scale"], alive, s))
            sys.exit(1)
        if dim >= 1 and t != INF:
            bars = [(b, t if d == INF else d) for b, d in bars]
        tp = sum(d - b for b, d in bars if d != INF)
        if abs(tp - float(r["total_persistence"])) > 1e-6 * max(1.0, tp):
            print("FAIL: summary %s: total persistence %s, recomputed %g" % (r, r["total_persistence"], tp))
            sys.exit(1)
    return rows


def main():
    if RIPSER is None:
        print("SKIP phrun_oracle: Debian's ripser is not installed")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        run = tiny_run(tmp)
        # 1. Euclidean against ripser, every diagram
        nerve_ph([run, "--metric", "euclidean", "--splits", "all,train", "--landmarks", "60",
                  "--threads", "2", "--no-figures"])
        n = check_files_against_ripser(run, tmp, "euclidean")
        rows = check_summary(run)
        print("euclidean: %d diagrams match ripser; %d summary rows agree with the stored bars" % (n, len(rows)))
        # 2. the default metric, a sample of diagrams, with figures
        nerve_ph([run, "--landmarks", "60", "--force"])
        n = check_files_against_ripser(run, tmp, "knn-hops", limit=12)
        rows = check_summary(run)
        print("knn-hops: %d diagrams match ripser on numpy's hop matrix; %d summary rows agree" % (n, len(rows)))
        # 3. distances and figures
        dist = list(csv.DictReader(open(os.path.join(run, "analysis/ph/distances.csv"))))
        kinds = {r["kind"] for r in dist}
        # 3 models; epochs 0,1: per model/class/dim one epoch pair per layer and
        # (layers - 1) layer pairs per epoch
        layers = {"expressive": 5, "bottleneck": 5, "linear": 2}
        want = sum(3 * 2 * (L + 2 * (L - 1)) for L in layers.values())
        if kinds != {"epoch", "layer"} or len(dist) != want:
            print("FAIL: distances.csv: %d rows of kinds %s, expected %d" % (len(dist), kinds, want))
            return 1
        for r in dist:
            if float(r["bottleneck"]) < 0 or float(r["wasserstein1"]) < float(r["bottleneck"]) - 1e-9:
                print("FAIL: distances.csv: W1 below bottleneck or negative: %s" % r)
                return 1
        figs = os.path.join(run, "analysis/figures")
        for name in ["betti_chart.png", "diagrams/expressive_e0001_hidden2.png"]:
            if open(os.path.join(figs, name), "rb").read(8) != b"\x89PNG\r\n\x1a\n":
                print("FAIL: %s is not a PNG" % name)
                return 1
        if b"<svg" not in open(os.path.join(figs, "betti_chart.svg"), "rb").read(400):
            print("FAIL: betti_chart.svg is not an SVG")
            return 1
        print("distances.csv: %d rows; chart and per-snapshot figures written" % len(dist))
    print("PASS phrun_oracle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
