#!/usr/bin/python3
"""metric_oracle.py: analysis/metric/metric.c, landmarks.c and calibrate.c against
independent oracles (numpy, scipy.sparse.csgraph, sklearn.neighbors).

Checks, on random data (with duplicates and an integer grid for ties):
  - Euclidean: bit-identical to numpy doing Ripser 1.2.1's arithmetic (float32
    differences squared and summed in float32 left to right, float32 sqrt);
  - cosine: within 1e-6 of scipy's cosine distance in double;
  - kNN graph: neighbour sets equal sklearn NearestNeighbors (ties by index);
  - kNN hops and weighted: scipy.sparse.csgraph.shortest_path on the symmetrised
    graph (hops exact; weighted within float rounding), INFINITY where unreachable;
  - normalisation: divided by numpy's median k-th neighbour distance;
  - max-min landmarks: a plain numpy greedy permutation, same indices and radius;
  - random landmarks: sorted, distinct, reproducible, different seeds differ;
  - calibration (beta0): three separated noisy circles give beta0 = 3 at the
    chosen (k, scale), checked by scipy connected components of the thresholded
    geodesic matrix.

The library has no verb for these yet, so this test compiles a small driver
(below) against $BUILD/libnerve.a in a temporary directory.
Exit 0 pass, 77 skip, 1 fail.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components, shortest_path
    from scipy.spatial.distance import pdist
    from sklearn.neighbors import NearestNeighbors
except ImportError as e:  # pragma: no cover
    print(f"SKIP metric_oracle: {e} (run under /usr/bin/python3)")
    sys.exit(77)

ROOT = os.environ.get("NERVE_ROOT", os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUILD = os.environ.get("BUILD", "build")



failures = []


def check(cond, what):
    if cond:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        failures.append(what)


def build_driver(tmp):
    """The driver is tests/tools/metric_tool.c, built by `make test` into $BUILD."""
    exe = os.path.join(ROOT, BUILD, "tests", "tools", "metric_tool")
    if not os.path.exists(exe):
        print(f"FAIL: {exe} is not built (make BUILD={BUILD} test builds it)")
        sys.exit(1)
    return exe


def write_points(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    with open(path, "wb") as f:
        f.write(np.array([x.shape[0], x.shape[1]], dtype=np.int64).tobytes())
        f.write(x.tobytes())


def run(exe, *args):
    r = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"driver {args}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def square_from_lower(lower, n):
    D = np.zeros((n, n), dtype=np.float64)
    iu = np.tril_indices(n, -1)
    # lower is row-major over i > j: (1,0), (2,0), (2,1), ...; tril_indices has
    # the same order.
    D[iu] = lower
    return D + D.T


def lower_order(condensed, n):
    """scipy's condensed order (0,1), (0,2), ... -> ours (1,0), (2,0), (2,1), ..."""
    from scipy.spatial.distance import squareform
    S = squareform(condensed, checks=False)
    return S[np.tril_indices(n, -1)]


def ripser_euclid(x):
    """Ripser 1.2.1's arithmetic in numpy: float32 throughout, left-to-right sums."""
    x = x.astype(np.float32)
    n, d = x.shape
    out = []
    for i in range(1, n):
        diff = x[i][None, :] - x[:i]           # float32
        sq = diff * diff                       # float32
        s = np.zeros(i, dtype=np.float32)
        for c in range(d):                     # sequential float32 sum from 0.0f
            s = s + sq[:, c]
        out.append(np.sqrt(s))                 # float32 sqrt (correctly rounded)
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def knn_sets(x, k):
    """k nearest by float32 Ripser distance, ties by index (sklearn for the
    candidates, re-ranked exactly)."""
    n = x.shape[0]
    D = square_from_lower(ripser_euclid(x).astype(np.float64), n)
    nn = NearestNeighbors(n_neighbors=min(n, k + 8)).fit(x.astype(np.float64))
    _, cand = nn.kneighbors(x.astype(np.float64))
    sets = []
    for i in range(n):
        # exact ranking over all points (n is small), ties by index
        order = sorted((D[i, j], j) for j in range(n) if j != i)
        exact = [j for _, j in order[:k]]
        # sklearn (double) agrees except on float32 ties
        sk = [j for j in cand[i] if j != i][:k]
        sets.append((exact, sk))
    return sets, D


def main():
    tmp = tempfile.mkdtemp(prefix="nerve-metric-")
    exe = build_driver(tmp)
    rng = np.random.default_rng(20201)
    pts = os.path.join(tmp, "x.bin")
    out = os.path.join(tmp, "out.bin")

    # ---------------------------------------------------------------- Euclidean
    cases = {
        "gauss(150,7)": rng.standard_normal((150, 7)).astype(np.float32) * 3.7,
        "wide(60,301)": (rng.random((60, 301)) * 100 - 50).astype(np.float32),
        "grid+dups": np.array([[i % 5, i // 5] for i in range(25)] + [[1, 1], [1, 1], [4, 0]],
                              dtype=np.float32),
        "tiny-scale": (rng.standard_normal((40, 3)) * 1e-20).astype(np.float32),
    }
    for name, x in cases.items():
        write_points(pts, x)
        run(exe, "dist", "euclidean", 0, 0, pts, out)
        got = np.fromfile(out, dtype=np.float32)
        ref = ripser_euclid(x)
        check(got.shape == ref.shape and np.array_equal(got.view(np.uint32), ref.view(np.uint32)),
              f"euclidean {name}: bit-identical to Ripser's float32 arithmetic ({got.size} entries)")
        if name == "tiny-scale":
            continue  # squares underflow to float subnormals: Ripser's values, not pdist's
        dd = lower_order(pdist(x.astype(np.float64)), x.shape[0])
        check(np.allclose(got, dd, rtol=1e-5, atol=1e-30 + 1e-6 * dd.max()),
              f"euclidean {name}: within float rounding of scipy pdist in double")

    # Against the ripser binary itself: two points whose squared distance is
    # 1 + 8192 * 2^-26. Summed in float (Ripser 1.2.1, value_t = float) it stays 1
    # (each term is below half an ulp of 1); summed in double it is 1 + 2^-13 and
    # the distance prints as 1.00006. Ripser's 6 printed digits can tell these apart.
    import shutil
    if shutil.which("ripser"):
        d = 8193
        two = np.zeros((2, d), dtype=np.float32)
        two[1, 0] = 1.0
        two[1, 1:] = 2.0 ** -13
        cloud = os.path.join(tmp, "two.txt")
        with open(cloud, "w") as f:
            for row in two:
                f.write(",".join(repr(float(v)) for v in row) + "\n")
        rr = subprocess.run(["ripser", "--format", "point-cloud", cloud], capture_output=True, text=True)
        deaths = [line.strip() for line in rr.stdout.splitlines() if line.strip().startswith("[0,")]
        write_points(pts, two)
        run(exe, "dist", "euclidean", 0, 0, pts, out)
        ours = np.fromfile(out, dtype=np.float32)[0]
        check("[0,1)" in deaths and ours == np.float32(1.0),
              f"euclidean: float summation as the ripser binary does (ripser {deaths}, ours {ours!r}; "
              f"double summation would give {np.sqrt(1 + 8192 * 2.0 ** -26):.6f})")
    else:
        print("  skip euclidean vs the ripser binary: ripser not installed")

    # ---------------------------------------------------------------- cosine
    x = rng.standard_normal((120, 9)).astype(np.float32)
    write_points(pts, x)
    run(exe, "dist", "cosine", 0, 0, pts, out)
    got = np.fromfile(out, dtype=np.float32)
    ref = lower_order(np.maximum(pdist(x.astype(np.float64), "cosine"), 0), x.shape[0])
    check(np.max(np.abs(got - ref)) < 1e-6, f"cosine: max |diff| vs scipy {np.max(np.abs(got - ref)):.2e}")
    xz = x.copy()
    xz[17] = 0
    write_points(pts, xz)
    try:
        run(exe, "dist", "cosine", 0, 0, pts, out)
        check(False, "cosine: zero row refused")
    except RuntimeError as e:
        check("row 17" in str(e), f"cosine: zero row refused, naming it ({e})")

    # ---------------------------------------------------------------- kNN
    for name, x, k in [("gauss(200,4) k=5", rng.standard_normal((200, 4)).astype(np.float32), 5),
                       ("clusters k=3", np.concatenate([rng.standard_normal((60, 2)) * 0.3,
                                                         rng.standard_normal((50, 2)) * 0.3 + 20]
                                                        ).astype(np.float32), 3),
                       ("grid k=4 (ties)", np.array([[i % 9, i // 9] for i in range(81)],
                                                    dtype=np.float32), 4)]:
        n = x.shape[0]
        sets, D = knn_sets(x, k)
        # sklearn agrees with the exact tie-by-index ranking wherever there are no ties
        agree = sum(set(a) == set(b) for a, b in sets)
        check(agree >= n * 0.9 if "ties" not in name else True,
              f"{name}: sklearn NearestNeighbors agrees on {agree}/{n} neighbour sets")
        adj = np.zeros((n, n), dtype=bool)
        for i, (exact, _) in enumerate(sets):
            adj[i, exact] = True
        adj = adj | adj.T
        write_points(pts, x)
        for kind in ("knn-hops", "knn-weighted"):
            run(exe, "dist", kind, k, 0, pts, out)
            got = square_from_lower(np.fromfile(out, dtype=np.float32).astype(np.float64), n)
            W = np.where(adj, D if kind == "knn-weighted" else 1.0, 0.0)
            # Duplicate points give zero-length edges, which csgraph would read as
            # absent: none of these inputs have duplicates.
            ref = shortest_path(sp.csr_matrix(W), method="D", directed=False,
                                unweighted=(kind == "knn-hops"))
            np.fill_diagonal(ref, 0)
            inf_ok = np.array_equal(np.isinf(got), np.isinf(ref))
            fin = np.isfinite(ref)
            if kind == "knn-hops":
                ok = inf_ok and np.array_equal(got[fin], ref[fin])
            else:
                ok = inf_ok and np.allclose(got[fin], ref[fin], rtol=2e-7 * 4, atol=0)
            nunreach = int(np.isinf(ref).sum() // 2)
            check(ok, f"{name} {kind}: equals scipy shortest_path ({nunreach} unreachable pairs)")
        # normalisation of the weighted metric by the median k-th neighbour distance
        kth = np.sort(D + np.diag(np.full(n, np.inf)), axis=1)[:, k - 1]
        med = float(np.median(kth))
        got_med = float(run(exe, "median", k, pts))
        check(abs(got_med - med) <= 1e-12 * max(1, med), f"{name}: median k-th neighbour {got_med:.9g} vs numpy {med:.9g}")
        run(exe, "dist", "knn-weighted", k, 0, pts, out)
        plain = np.fromfile(out, dtype=np.float32)
        run(exe, "dist", "knn-weighted", k, 1, pts, out)
        normd = np.fromfile(out, dtype=np.float32)
        ref = (plain.astype(np.float64) / med).astype(np.float32)
        check(np.array_equal(normd, ref), f"{name}: knn-weighted normalised = plain / median")

    # ---------------------------------------------------------------- landmarks
    x = rng.standard_normal((500, 6)).astype(np.float32)
    x[10] = x[3]  # a duplicate
    write_points(pts, x)
    D = square_from_lower(ripser_euclid(x).astype(np.float32).astype(np.float64), 500)
    for first in (0, 123):
        run(exe, "landmarks", "maxmin", 40, 0, first, pts, out)
        raw = np.fromfile(out, dtype=np.int64)
        got, cover = raw[1:1 + raw[0]], np.frombuffer(raw[1 + raw[0]:].tobytes(), np.float64)[0]
        sel = [first]
        mind = D[first].copy()
        for _ in range(39):
            cand = mind.copy()
            cand[sel] = -1
            j = int(np.argmax(cand))  # first maximum: lowest index on ties
            sel.append(j)
            mind = np.minimum(mind, D[j])
        check(list(got) == sel, f"maxmin from {first}: same greedy permutation as numpy")
        check(cover == float(np.float32(mind.max())), f"maxmin from {first}: cover radius {cover:.7g} vs {mind.max():.7g}")
    run(exe, "landmarks", "random", 50, 7, 0, pts, out)
    a = np.fromfile(out, dtype=np.int64)
    run(exe, "landmarks", "random", 50, 7, 0, pts, out)
    b = np.fromfile(out, dtype=np.int64)
    run(exe, "landmarks", "random", 50, 8, 0, pts, out)
    c = np.fromfile(out, dtype=np.int64)
    ia = a[1:51]
    check(np.array_equal(a, b), "random landmarks: same seed, same sample and cover radius")
    check(not np.array_equal(a[1:51], c[1:51]), "random landmarks: another seed, another sample")
    check(np.all(np.diff(ia) > 0) and ia.min() >= 0 and ia.max() < 500,
          "random landmarks: sorted, distinct, in range")
    cover = np.frombuffer(a[51:].tobytes(), np.float64)[0]
    check(cover == float(np.float32(D[:, ia].min(axis=1).max())), f"random landmarks: cover radius {cover:.7g}")

    # ---------------------------------------------------------------- calibration (beta0)
    t = rng.random(3 * 120) * 2 * np.pi
    centres = np.repeat(np.array([[0, 0], [6, 0], [3, 5]]), 120, axis=0)
    x = (centres + np.c_[np.cos(t), np.sin(t)] + rng.normal(0, 0.05, (360, 2))).astype(np.float32)
    write_points(pts, x)
    for kind in ("knn-hops", "knn-weighted"):
        k, scale, lo, hi = run(exe, "calibrate", kind, 2, 20, 1, 3, pts).split()
        k, scale = int(k), float(scale)
        run(exe, "dist", kind, k, 0, pts, out)
        G = square_from_lower(np.fromfile(out, dtype=np.float32).astype(np.float64), 360)
        A = (G <= scale) & np.isfinite(G)
        ncomp, _ = connected_components(sp.csr_matrix(A), directed=False)
        check(ncomp == 3, f"calibrate {kind}: k = {k}, scale {scale:g} in [{lo}, {hi}) gives beta0 = {ncomp} (target 3)")
        # a smaller k must not have worked
        if k > 2:
            try:
                run(exe, "calibrate", kind, 2, k - 1, 1, 3, pts)
                check(False, f"calibrate {kind}: no k below {k} achieves beta0 = 3")
            except RuntimeError:
                check(True, f"calibrate {kind}: no k below {k} achieves beta0 = 3")

    if failures:
        print(f"FAIL: {len(failures)} checks failed")
        return 1
    print("all metric oracle checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
