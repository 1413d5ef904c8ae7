#!/usr/bin/env python3
"""probe_sklearn.py: nerve's linear probe (analysis/geometry/probe.c, via tests/tools/linalg_tool)
against sklearn: StandardScaler fitted on the train split, then
LogisticRegression(C=1, lbfgs, multinomial for > 2 classes, max_iter 10000, tol 1e-10).

Checks, per dataset: train and test accuracy within 2 points of sklearn's (the issue's
"within a point or two"); for multi-class sets, where both minimise the same objective
sum_i CE_i + |W|^2/(2C), nerve's objective is at most sklearn's (evaluated here with
sklearn's coefficients) plus 1e-6 relative. Datasets: sklearn's digits (8x8 images,
10 classes, bundled with sklearn), a 5-class make_classification, an activation-like
ReLU layer on 3 classes, and a binary set (accuracy only: sklearn's binary model is
parametrised differently). Exit 0 pass, 77 skip, 1 fail.
"""
import os, subprocess, sys, tempfile
try:
    import numpy as np
    from sklearn.datasets import load_digits, make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
except ImportError as e:
    print(f"SKIP: numpy/sklearn not importable ({e})"); sys.exit(77)

ROOT = os.environ.get("NERVE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(ROOT, os.environ.get("BUILD", "build"), "tests", "tools", "linalg_tool")
if not os.access(TOOL, os.X_OK):
    print(f"SKIP: {TOOL} not built"); sys.exit(77)

def sklearn_objective(clf, Xs, y, C):
    P = clf.predict_proba(Xs)
    ce = -np.log(P[np.arange(len(y)), np.searchsorted(clf.classes_, y)]).sum()
    return ce + (clf.coef_ ** 2).sum() / (2 * C)

def run(name, X, y, ntr, C=1.0):
    X = X.astype(np.float32); y = y.astype(np.int32)
    Xtr, ytr, Xte, yte = X[:ntr], y[:ntr], X[ntr:], y[ntr:]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for a, nm, dt in ((Xtr, "xtr", "<f4"), (ytr, "ytr", "<i4"), (Xte, "xte", "<f4"), (yte, "yte", "<i4")):
            p = os.path.join(tmp, nm); a.astype(dt).tofile(p); paths.append(p)
        p = subprocess.run([TOOL, "probe", paths[0], paths[1], str(ntr), paths[2], paths[3],
                            str(len(yte)), str(X.shape[1]), str(C)], capture_output=True, text=True)
        if p.returncode:
            print(f"FAIL {name}: {p.stderr}"); return 1
        r = {l.split()[0]: float(l.split()[1]) for l in p.stdout.splitlines()}
    sc = StandardScaler().fit(Xtr.astype(np.float64))
    Xs, Xts = sc.transform(Xtr.astype(np.float64)), sc.transform(Xte.astype(np.float64))
    clf = LogisticRegression(C=C, max_iter=10000, tol=1e-10).fit(Xs, ytr)
    tr, te = clf.score(Xs, ytr), clf.score(Xts, yte)
    ok = abs(r["train_accuracy"] - tr) <= 0.02 and abs(r["test_accuracy"] - te) <= 0.02
    multi = len(np.unique(ytr)) > 2
    extra = ""
    if multi:
        obj = sklearn_objective(clf, Xs, ytr, C)
        ok &= r["objective"] <= obj * (1 + 1e-6)
        extra = f", objective nerve {r['objective']:.6f} sklearn {obj:.6f}"
    print(f"{'ok  ' if ok else 'FAIL'} {name}: train {r['train_accuracy']:.4f} vs {tr:.4f}, test "
          f"{r['test_accuracy']:.4f} vs {te:.4f} ({int(r['iterations'])} iterations, converged "
          f"{int(r['converged'])}{extra})")
    return 0 if ok else 1

fail = 0
d = load_digits()
perm = np.random.default_rng(0).permutation(len(d.target))
fail += run("digits 1797x64, 10 classes", d.data[perm], d.target[perm], 1200)
X, y = make_classification(n_samples=2000, n_features=30, n_informative=12, n_classes=5,
                           n_clusters_per_class=2, class_sep=0.8, random_state=1)
fail += run("make_classification 2000x30, 5 classes", X, y, 1400)
rng = np.random.default_rng(2)
Z = rng.standard_normal((1500, 6)); lab = (Z[:, 0] + 0.5 * Z[:, 1] > 0).astype(int) + (Z[:, 2] > 0.8)
H = np.maximum(Z @ rng.standard_normal((6, 40)), 0)
fail += run("ReLU layer 1500x40, 3 classes", H, lab, 1000)
X, y = make_classification(n_samples=1000, n_features=15, n_informative=5, random_state=3)
fail += run("binary 1000x15", X, y, 700)
fail += run("digits, C = 0.05", d.data[perm], d.target[perm], 1200, C=0.05)
print(f"{'FAILED' if fail else 'PASSED'}: {fail} failure(s)")
sys.exit(1 if fail else 0)
