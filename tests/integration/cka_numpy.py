#!/usr/bin/env python3
"""cka_numpy.py: nerve's linear CKA (analysis/geometry/cka.c, via tests/tools/linalg_tool)
against numpy implementations of both forms of Kornblith et al. 2019 (feature space:
||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred X, Y; Gram: HSIC of centred
linear kernels), in float64 on the same float32 inputs, for shapes that take either
form inside nerve, and the layer matrix. Tolerance: |a - b| <= 1e-6 (the issue's
"exact to 1e-6"; the observed differences are ~1e-15). Exit 0 pass, 77 skip, 1 fail.
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

def cka_feature(X, Y):
    X = X - X.mean(0); Y = Y - Y.mean(0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))

def cka_gram(X, Y):
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = H @ (X @ X.T) @ H, H @ (Y @ Y.T) @ H
    return (K * L).sum() / (np.linalg.norm(K) * np.linalg.norm(L))

fail = 0
rng = np.random.default_rng(7)
def layer_pair(n, dx, dy, noise):
    X = rng.standard_normal((n, dx)) * np.linspace(2, 0.2, dx) + 3
    Y = np.maximum(X @ rng.standard_normal((dx, dy)), 0) + noise * rng.standard_normal((n, dy))
    return X.astype(np.float32), Y.astype(np.float32)

with tempfile.TemporaryDirectory() as tmp:
    def save(a, name):
        p = os.path.join(tmp, name); a.astype("<f4").tofile(p); return p
    cases = [("feature form", 1000, 16, 32, 0.5), ("Gram form", 50, 300, 400, 1.0),
             ("mixed", 200, 10, 900, 0.1), ("independent", 500, 20, 20, None)]
    for name, n, dx, dy, noise in cases:
        if noise is None:
            X = rng.standard_normal((n, dx)).astype(np.float32)
            Y = rng.standard_normal((n, dy)).astype(np.float32)
        else:
            X, Y = layer_pair(n, dx, dy, noise)
        p = subprocess.run([TOOL, "cka", save(X, "x"), save(Y, "y"), str(n), str(dx), str(dy)],
                           capture_output=True, text=True)
        got = float(p.stdout.split()[1])
        Xd, Yd = X.astype(np.float64), Y.astype(np.float64)
        f, g = cka_feature(Xd, Yd), cka_gram(Xd, Yd)
        ok = abs(got - f) <= 1e-6 and abs(got - g) <= 1e-6
        fail += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name} n={n} {dx}/{dy}: nerve {got:.15f} numpy feature "
              f"{f:.15f} gram {g:.15f} (|diff| {max(abs(got - f), abs(got - g)):.2e})")
    # The layer matrix: 4 layers of a random ReLU net on 300 points.
    widths = [10, 64, 64, 3]
    Ls = [rng.standard_normal((300, widths[0]))]
    for w in widths[1:]:
        Ls.append(np.maximum(Ls[-1] @ rng.standard_normal((Ls[-1].shape[1], w)), 0) + 0.01)
    Ls = [l.astype(np.float32) for l in Ls]
    args = [TOOL, "ckamat", "300"]
    for i, l in enumerate(Ls):
        args += [save(l, f"l{i}"), str(l.shape[1])]
    p = subprocess.run(args, capture_output=True, text=True)
    M = np.array([[float(v) for v in line.split()[1:]] for line in p.stdout.splitlines()])
    R = np.array([[cka_feature(a.astype(float), b.astype(float)) for b in Ls] for a in Ls])
    err = np.abs(M - R).max()
    ok = M.shape == (4, 4) and err <= 1e-6
    fail += not ok
    print(f"{'ok  ' if ok else 'FAIL'} layer matrix 4x4: max |diff| {err:.2e}\n{np.array2string(M, precision=4)}")
print(f"{'FAILED' if fail else 'PASSED'}: {fail} failure(s)")
sys.exit(1 if fail else 0)
