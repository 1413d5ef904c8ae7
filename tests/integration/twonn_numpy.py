#!/usr/bin/env python3
"""twonn_numpy.py: nerve's TwoNN (analysis/geometry/twonn.c, via tests/tools/linalg_tool)
against an independent numpy implementation of the estimator of Ansuini et al. 2019
(mu = r2/r1, drop r1 = r2 ties, sort, F_i = i/N, fit the first floor(0.9 N) points
through the origin), on the same float32 points: spheres S^2..S^20, a Gaussian blob,
a ReLU activation-like cloud, and a set with duplicates (nerve collapses copies, so
the oracle runs on np.unique rows). Tolerance: |a - b| <= 1e-9 |b| (both in double;
only summation order differs). Also prints the sphere estimates next to the issue's
targets (1.9, 4.8, 9.5, 15.8) for numpy seed 0. Exit 0 pass, 77 skip, 1 fail.
"""
import os, subprocess, sys, tempfile
try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: numpy not importable ({e})"); sys.exit(77)

ROOT = os.environ.get("NERVE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "tools", "linalg_tool")
if not os.access(TOOL, os.X_OK):
    print(f"SKIP: {TOOL} not built"); sys.exit(77)

def oracle(X, fraction=0.9):
    X = X.astype(np.float64)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    Y = np.sort(D, axis=1)
    r1, r2 = Y[:, 0], Y[:, 1]
    good = (r1 > 0) & (r1 != r2)
    mu = np.sort(r2[good] / r1[good])
    N = len(mu)
    F = np.arange(1, N + 1) / N
    n = int(np.floor(N * fraction))
    x, y = np.log(mu[:n]), -np.log(1 - F[:n])
    return (x * y).sum() / (x * x).sum()

def nerve(X):
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "x.f32"); X.astype("<f4").tofile(f)
        p = subprocess.run([TOOL, "twonn", f, str(X.shape[0]), str(X.shape[1])],
                           capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(p.stderr)
        return {l.split()[0]: float(l.split()[1]) for l in p.stdout.splitlines()}

fail = 0
rng = np.random.default_rng(0)
targets = {2: 1.9, 5: 4.8, 10: 9.5, 20: 15.8}
cases = []
for m in (2, 5, 10, 20):
    X = rng.standard_normal((1000, m + 1)); X /= np.linalg.norm(X, axis=1, keepdims=True)
    cases.append((f"S^{m} (target {targets[m]})", X.astype(np.float32)))
cases.append(("gaussian 800x7", rng.standard_normal((800, 7)).astype(np.float32)))
A = np.maximum(rng.standard_normal((900, 3)) @ rng.standard_normal((3, 40)), 0).astype(np.float32)
cases.append(("relu 900x40 (rank 3)", A))
B = rng.standard_normal((500, 4)).astype(np.float32)
B = np.vstack([B, B[:60], B[100:110]])  # 70 exact copies
cases.append(("duplicates 570x4", B))
for name, X in cases:
    r = nerve(X)
    ref = oracle(np.unique(X, axis=0))
    ok = abs(r["twonn"] - ref) <= 1e-9 * abs(ref)
    fail += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: nerve {r['twonn']:.12f} numpy {ref:.12f} "
          f"(dup {int(r['n_duplicates'])}, ties {int(r['n_ties'])}, PCA-90% {int(r['pca90'])})")
print(f"{'FAILED' if fail else 'PASSED'}: {fail} failure(s)")
sys.exit(1 if fail else 0)
