#!/usr/bin/python3
"""metric_calibrate.py: nv_calibrate (analysis/ph/calibrate.c) on point sets of known
topology, each result checked independently with gudhi (Rips complex of the
kNN-geodesic matrix at the chosen scale) and scipy (connected components).

  - three separated noisy circles: (beta0, beta1) = (3, 3)
  - nine disks in a square (D-I's class a): beta0 = 9, and (9, 0)
  - the square minus the nine disks (D-I's class b): (1, 9)

beta0-only calibration needs no persistence engine; the beta1 cases need
nv_ph_compute (analysis/ph*.c) and are skipped, with a line saying so, when the
library does not have it. Uses the driver of metric_oracle.py.
Exit 0 pass, 77 skip (nothing could run), 1 fail.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    import metric_oracle as mo
except ImportError as e:  # pragma: no cover
    print(f"SKIP metric_calibrate: {e} (run under /usr/bin/python3)")
    sys.exit(77)
try:
    import gudhi
except ImportError:
    gudhi = None

failures = []
skipped = []


def check(cond, what):
    print(f"  {'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


def betti_gudhi(G, scale, maxdim):
    """Betti numbers of the Rips complex {edges <= scale} of the square matrix G."""
    n = G.shape[0]
    big = 2.0 * (np.max(G[np.isfinite(G)]) + 1.0)
    H = np.where(np.isfinite(G), G, big)
    rc = gudhi.RipsComplex(distance_matrix=H, max_edge_length=float(scale))
    st = rc.create_simplex_tree(max_dimension=maxdim + 1)
    st.compute_persistence(persistence_dim_max=True)
    b = list(st.betti_numbers()) + [0] * (maxdim + 2)
    return b[:maxdim + 1]


def calibrate(exe, pts, kind, kmin, kmax, target):
    """(k, scale, lo, hi) or None when the engine is missing for len(target) > 1."""
    try:
        out = mo.run(exe, "calibrate", kind, kmin, kmax, len(target), *target, pts)
    except RuntimeError as e:
        if "not linked" in str(e):
            return None
        raise
    k, scale, lo, hi = out.split()
    return int(k), float(scale), float(lo), float(hi)


def one_case(exe, tmp, name, x, kind, kmin, kmax, target):
    pts = os.path.join(tmp, name + ".bin")
    out = os.path.join(tmp, name + ".out")
    mo.write_points(pts, x)
    try:
        res = calibrate(exe, pts, kind, kmin, kmax, target)
    except RuntimeError as e:
        check(False, f"{name} {kind} target {tuple(target)}: {e}")
        return
    if res is None:
        skipped.append(f"{name} {tuple(target)}")
        print(f"  skip {name} {kind} target {tuple(target)}: persistence engine not in the library")
        return
    k, scale, lo, hi = res
    n = x.shape[0]
    mo.run(exe, "dist", kind, k, 0, pts, out)
    G = mo.square_from_lower(np.fromfile(out, dtype=np.float32).astype(np.float64), n)
    ok_interval = lo <= scale < hi
    if kind == "knn-hops":
        ok_interval = ok_interval and scale == int(scale)
    A = (G <= scale) & np.isfinite(G)
    b0, _ = connected_components(sp.csr_matrix(A), directed=False)
    got = [b0]
    if len(target) > 1:
        if gudhi is None:
            print("  (gudhi missing: beta1 not cross-checked)")
        else:
            got = betti_gudhi(G, scale, len(target) - 1)
    check(ok_interval and list(got) == list(target),
          f"{name} {kind}: k = {k}, scale {scale:g} in [{lo:g}, {hi:g}): Betti {tuple(got)} "
          f"(target {tuple(target)})")
    # the k just below must not work (smallest k); only worth it when k > kmin
    if k > kmin:
        try:
            calibrate(exe, pts, kind, kmin, k - 1, target)
            check(False, f"{name} {kind}: a k below {k} also works (not the smallest)")
        except RuntimeError as e:
            check("no k in" in str(e), f"{name} {kind}: no k in [{kmin}, {k - 1}] works")


def circles(rng, per=100):
    t = rng.random(3 * per) * 2 * np.pi
    c = np.repeat(np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.5]]), per, axis=0)
    return (c + np.c_[np.cos(t), np.sin(t)] + rng.normal(0, 0.03, (3 * per, 2))).astype(np.float32)


CENTRES = np.array([[i, j] for i in (-2.0, 0.0, 2.0) for j in (-2.0, 0.0, 2.0)])


def disks(rng, per=50, r=0.6):
    out = []
    for c in CENTRES:
        rad = r * np.sqrt(rng.random(per))
        ang = rng.random(per) * 2 * np.pi
        out.append(c + np.c_[rad * np.cos(ang), rad * np.sin(ang)])
    return np.concatenate(out).astype(np.float32)


def square_minus_disks(rng, n=900, r=0.6, side=3.0):
    pts = []
    while len(pts) < n:
        p = rng.uniform(-side, side, 2)
        if np.min(np.linalg.norm(CENTRES - p, axis=1)) > r + 0.15:
            pts.append(p)
    return np.array(pts, dtype=np.float32)


def main():
    tmp = tempfile.mkdtemp(prefix="nerve-calib-")
    exe = mo.build_driver(tmp)
    rng = np.random.default_rng(7)
    x_c = circles(rng)
    x_d = disks(rng)
    x_s = square_minus_disks(rng)
    one_case(exe, tmp, "circles", x_c, "knn-hops", 2, 20, [3])
    one_case(exe, tmp, "disks", x_d, "knn-hops", 2, 30, [9])
    one_case(exe, tmp, "disks", x_d, "knn-weighted", 2, 30, [9])
    one_case(exe, tmp, "circles", x_c, "knn-hops", 2, 20, [3, 3])
    one_case(exe, tmp, "circles", x_c, "knn-weighted", 2, 20, [3, 3])
    one_case(exe, tmp, "disks", x_d, "knn-hops", 2, 30, [9, 0])
    one_case(exe, tmp, "square-minus-disks", x_s, "knn-hops", 4, 30, [1, 9])
    one_case(exe, tmp, "square-minus-disks", x_s, "knn-weighted", 4, 30, [1, 9])
    if failures:
        print(f"FAIL: {len(failures)} checks failed")
        return 1
    if skipped:
        print(f"passed; skipped (no engine): {', '.join(skipped)}")
    print("all calibration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
