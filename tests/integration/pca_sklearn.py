#!/usr/bin/env python3
"""pca_sklearn.py: nerve's PCA (analysis/geometry/pca.c, via tests/tools/linalg_tool) against
sklearn.decomposition.PCA(svd_solver='full') in float64 on the same float32 inputs.

Covers the covariance form (n >= d), the Gram form (n < d), n == d, a rank-deficient
matrix (Gram completion), projections of another split, the sign convention and the
alignment to a reference. Tolerances (docs/CONTRACTS.md form |a - b| <= atol + rtol |b|):
  explained_variance_:        atol 1e-10 * ev[0], rtol 1e-8
  explained_variance_ratio_:  atol 1e-12, rtol 1e-8
  components (up to sign):    atol 1e-7, rtol 0   (spectra with gaps >= 5%)
  projections:                atol 1e-7 * sqrt(ev[0]), rtol 1e-7
Exit 0 pass, 77 skip (no sklearn or no tool), 1 fail.
"""
import os, subprocess, sys, tempfile

try:
    import numpy as np
    from sklearn.decomposition import PCA
except ImportError as e:
    print(f"SKIP: numpy/sklearn not importable ({e})"); sys.exit(77)

ROOT = os.environ.get("NERVE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "tools", "linalg_tool")
if not os.access(TOOL, os.X_OK):
    print(f"SKIP: {TOOL} not built"); sys.exit(77)

failures = 0
def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)

def close(a, b, atol, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    bad = np.abs(a - b) > atol + rtol * np.abs(b)
    return not bad.any(), (np.abs(a - b).max() if a.size else 0.0)

def run_tool(args):
    p = subprocess.run([TOOL] + args, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{args[0]} exit {p.returncode}: {p.stderr}")
    out = {}
    for line in p.stdout.splitlines():
        key, *vals = line.split()
        out.setdefault(key, []).append(vals)
    return out

def vec(out, key):
    return np.array(out[key][0], float)

def case(name, X, k, Y=None, ref_flip=False):
    n, d = X.shape
    with tempfile.TemporaryDirectory() as tmp:
        xf = os.path.join(tmp, "x.f32"); X.astype("<f4").tofile(xf)
        pf = os.path.join(tmp, "proj.f64")
        args = ["pca", xf, str(n), str(d), str(k), "--proj", pf]
        if Y is not None:
            yf = os.path.join(tmp, "y.f32"); Y.astype("<f4").tofile(yf)
            args += ["--project", yf, str(Y.shape[0]), os.path.join(tmp, "py.f64")]
        out = run_tool(args)
        proj = np.fromfile(pf, "<f8").reshape(n, k)
        py = np.fromfile(os.path.join(tmp, "py.f64"), "<f8").reshape(-1, k) if Y is not None else None
        comps = np.array([np.array(v, float) for v in out["component"]])
        # The same fit aligned to the negated components must flip every sign.
        if ref_flip:
            rf = os.path.join(tmp, "ref.f64"); (-comps).astype("<f8").tofile(rf)
            out2 = run_tool(["pca", xf, str(n), str(d), str(k), "--ref", rf])
            comps2 = np.array([np.array(v, float) for v in out2["component"]])
            check(np.array_equal(comps2, -comps), f"{name}: alignment to -components did not flip all")
    X64 = X.astype(np.float32).astype(np.float64)
    sk = PCA(svd_solver="full").fit(X64)
    ev, ratio = vec(out, "explained_variance"), vec(out, "explained_variance_ratio")
    form = out["form"][0][0]
    ok, err = close(ev, sk.explained_variance_, 1e-10 * sk.explained_variance_[0], 1e-8)
    check(ok and ev.shape == sk.explained_variance_.shape, f"{name}: explained_variance max err {err}")
    ok, err = close(ratio, sk.explained_variance_ratio_, 1e-12, 1e-8)
    check(ok, f"{name}: explained_variance_ratio max err {err}")
    ok, err = close(vec(out, "mean"), sk.mean_, 1e-6, 1e-7)
    check(ok, f"{name}: mean max err {err}")
    skc = sk.components_[:k]
    # Components up to sign; then the sign convention: largest |loading| positive.
    signs = np.sign((comps * skc).sum(axis=1))
    ok, cerr = close(comps, skc * signs[:, None], 1e-7, 0)
    check(ok, f"{name}: components max err {cerr}")
    for j in range(k):
        c = comps[j]; i = int(np.argmax(np.abs(c)))
        check(c[i] > 0, f"{name}: component {j} largest-|loading| entry is negative")
    skp = sk.transform(X64)[:, :k] * signs
    patol = 1e-7 * np.sqrt(sk.explained_variance_[0])
    ok, perr = close(proj, skp, patol, 1e-7)
    check(ok, f"{name}: projections max err {perr}")
    if Y is not None:
        sky = sk.transform(Y.astype(np.float32).astype(np.float64))[:, :k] * signs
        ok, yerr = close(py, sky, patol, 1e-7)
        check(ok, f"{name}: projections of another split max err {yerr}")
    print(f"{name}: n={n} d={d} k={k} form={form} max|dev| ev {np.abs(ev - sk.explained_variance_).max():.3g}"
          f" comps {cerr:.3g} proj {perr:.3g}")

rng = np.random.default_rng(20260521)
def aniso(n, d, decay=0.9):
    # Distinct, well-separated variances (ratio 1/decay between neighbours), rotated.
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = 3.0 * decay ** np.arange(d)
    return (rng.standard_normal((n, d)) * s) @ q.T + rng.standard_normal(d) * 5

X = aniso(2000, 32)
case("covariance 2000x32", X, 5, Y=aniso(300, 32), ref_flip=True)
case("covariance 600x256", aniso(600, 256, 0.95), 3)
case("square 64x64", aniso(64, 64, 0.9), 4)
# Gram form: fewer points than features; the spectrum keeps min(n, d) entries.
G = aniso(40, 300, 0.8)[:, :300]
case("gram 40x300", G, 6, Y=aniso(10, 300, 0.8), ref_flip=True)
# Gram form over several 1024-column blocks (and covariance over 1024-row blocks above).
W = rng.standard_normal((70, 2500)) * np.repeat(0.97 ** np.arange(50), 50) + 1.0
case("gram 70x2500 (3 column blocks)", W, 4)
# Activation-like: ReLU of a low-rank map, plus a constant (dead) unit.
Z = np.maximum(rng.standard_normal((1500, 4)) @ rng.standard_normal((4, 48)) * 2.0, 0)
Z[:, 7] = 0.0
case("relu low-rank 1500x48", Z, 3)

# Rank-deficient Gram form: 12 points in R^50 on a 3-plane, k = 6 > rank: completion.
with tempfile.TemporaryDirectory() as tmp:
    R = (rng.standard_normal((12, 3)) @ rng.standard_normal((3, 50))).astype("<f4")
    xf = os.path.join(tmp, "r.f32"); R.tofile(xf); pf = os.path.join(tmp, "p.f64")
    out = run_tool(["pca", xf, "12", "50", "6", "--proj", pf])
    comps = np.array([np.array(v, float) for v in out["component"]])
    check(np.allclose(comps @ comps.T, np.eye(6), atol=1e-10), "rank-deficient: components not orthonormal")
    proj = np.fromfile(pf, "<f8").reshape(12, 6)
    check(np.abs(proj[:, 3:]).max() < 1e-4, f"rank-deficient: projections on the completion {np.abs(proj[:, 3:]).max()}")
    ev = vec(out, "explained_variance")
    check(np.all(ev[3:] < 1e-9 * ev[0]) and np.all(ev >= 0), "rank-deficient: spectrum tail not ~0 or negative")
    print(f"rank-deficient 12x50 k=6: orthonormal, tail ev {ev[3:].max():.3g}")

# Bad input: NaN named by row and column, k too large.
with tempfile.TemporaryDirectory() as tmp:
    B = rng.standard_normal((10, 4)).astype("<f4"); B[3, 2] = np.nan
    xf = os.path.join(tmp, "b.f32"); B.tofile(xf)
    p = subprocess.run([TOOL, "pca", xf, "10", "4", "2"], capture_output=True, text=True)
    check(p.returncode == 2 and "row 3, column 2" in p.stderr, f"NaN: exit {p.returncode} {p.stderr!r}")
    B[3, 2] = 0; B.tofile(xf)
    p = subprocess.run([TOOL, "pca", xf, "10", "4", "5"], capture_output=True, text=True)
    check(p.returncode == 2 and "k = 5" in p.stderr, f"k > d: exit {p.returncode} {p.stderr!r}")

print(f"{'FAILED' if failures else 'PASSED'}: {failures} failure(s)")
sys.exit(1 if failures else 0)
