#!/usr/bin/env python3
"""statsrun_oracle.py: `nerve stats RUN` on a tiny run against numpy/sklearn.

Recomputes from the stored activations (h5py), independently of nerve:
  - TwoNN (Ansuini et al.'s variant: distinct rows, exact neighbours, ties r1 == r2
    dropped, 10% largest mu discarded, slope through the origin) on the same strided
    subsample (rows floor(i n / m), m = --twonn-points): within 1e-6;
  - the number of PCA components for 90% of the variance of each split: equal;
  - linear CKA (feature form) between layers of a net, between epochs of a layer and
    between the expressive and bottlenecked nets: within 1e-6;
  - the linear probe against sklearn (StandardScaler on train + multinomial
    LogisticRegression(C=1), the same softmax objective as nerve's, also for 2 classes):
    train and test accuracy within 2 points;
and checks the CSV tables against stats.h5, the figures, idempotence (a second run does
nothing) and that the thread count does not change a byte (h5diff -d 0).
Exit 0 pass, 77 skip, 1 fail.
"""
import csv, json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import numpy as np
    import h5py
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
except ImportError as e:
    print(f"SKIP: numpy/h5py/sklearn not importable ({e})"); sys.exit(77)
import nervetest as nt
from nervetest import check

TWONN_POINTS = 150
tmp = nt.tmpdir("statsrun")
run = os.path.join(tmp, "run")
nt.run(["train", nt.tiny_config(tmp, ppc=200, epochs=5), "--out", run])
man = json.load(open(os.path.join(run, "snapshots", "manifest.json")))["files"]
rc, out, err = nt.run(["stats", run, "--twonn-points", str(TWONN_POINTS)])
print(out.strip())


def strided(n, m):
    m = min(n, m)
    return (np.arange(m, dtype=np.int64) * n) // m


def twonn(X):
    X = np.unique(X.astype(np.float64), axis=0)
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(D, np.inf)
    s = np.sort(D, axis=1)
    r1, r2 = s[:, 0], s[:, 1]
    keep = r1 != r2
    mu = np.sort(r2[keep] / r1[keep])
    N = len(mu)
    F = np.arange(1, N + 1) / N
    m = int(np.floor(N * 0.9))
    x, y = np.log(mu[:m]), -np.log(1 - F[:m])
    return (x * y).sum() / (x * x).sum()


def cka(X, Y):
    X = X.astype(np.float64) - X.mean(0)
    Y = Y.astype(np.float64) - Y.mean(0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def pca90(X):
    w = np.clip(np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False).reshape(X.shape[1], -1))[::-1], 0, None)
    return int(np.searchsorted(np.cumsum(w / w.sum()), 0.9 - 1e-12) + 1)


S = h5py.File(os.path.join(run, "analysis", "stats", "stats.h5"), "r")
check(S.attrs["format"] == "nerve-stats" and S.attrs["format_version"] == 1, "format nerve-stats v1")
check(S.attrs["twonn_max_points"] == TWONN_POINTS, "the subsample size is recorded")
acts = {}  # (model, epoch, layer) -> (train, test, ytr, yte)
for e in man:
    with h5py.File(os.path.join(run, "snapshots", e["path"]), "r") as f:
        ytr, yte = f["labels/train"][...], f["labels/test"][...]
        for layer in [x.decode() if isinstance(x, bytes) else x for x in f.attrs["layer_names"]]:
            acts[(e["model"], e["epoch"], layer)] = (f[f"layers/{layer}/train"][...], f[f"layers/{layer}/test"][...], ytr, yte)

worst = dict(twonn=0.0, cka=0.0, probe=0.0)
probe_rows = {(r["model"], int(r["epoch"]), r["layer"]): r for r in csv.DictReader(open(os.path.join(run, "analysis", "stats", "probes.csv")))}
id_rows = {(r["model"], int(r["epoch"]), r["layer"], r["split"]): r for r in csv.DictReader(open(os.path.join(run, "analysis", "stats", "intrinsic_dimension.csv")))}
for model in S["models"]:
    g = S["models"][model]
    epochs = list(g.attrs["epochs"])
    layers = [x.decode() if isinstance(x, bytes) else x for x in g.attrs["layer_names"]]
    ok_id = ok_pca = ok_probe = ok_cka = ok_csv = True
    for ei, ep in enumerate(epochs):
        for li, layer in enumerate(layers):
            tr, te, ytr, yte = acts[(model, ep, layer)]
            al = np.vstack([tr, te])
            for si, X in enumerate((tr, te, al)):
                ref = twonn(X[strided(len(X), TWONN_POINTS)])
                got = g["twonn"][ei, li, si]
                worst["twonn"] = max(worst["twonn"], abs(got - ref) / abs(ref))
                ok_id &= abs(got - ref) <= 1e-6 * abs(ref)
                ok_pca &= g["pca90"][ei, li, si] == pca90(X)
                row = id_rows[(model, ep, layer, ("train", "test", "all")[si])]
                ok_csv &= abs(float(row["twonn"]) - got) <= 1e-8 * abs(got) and int(row["pca90"]) == g["pca90"][ei, li, si]
            sc = StandardScaler().fit(tr)
            clf = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10, multi_class="multinomial").fit(sc.transform(tr), ytr)
            a_tr, a_te = clf.score(sc.transform(tr), ytr), clf.score(sc.transform(te), yte)
            n_tr, n_te = g["probe_train_acc"][ei, li], g["probe_test_acc"][ei, li]
            worst["probe"] = max(worst["probe"], abs(a_tr - n_tr), abs(a_te - n_te))
            ok_probe &= abs(a_tr - n_tr) <= 0.02 and abs(a_te - n_te) <= 0.02
            ok_csv &= abs(float(probe_rows[(model, ep, layer)]["test_acc"]) - n_te) < 1e-9
            for lj, layer2 in enumerate(layers):
                ref = cka(al, np.vstack(acts[(model, ep, layer2)][:2]))
                got = g["cka_layers"][ei, li, lj]
                worst["cka"] = max(worst["cka"], abs(got - ref))
                ok_cka &= abs(got - ref) <= 1e-6
    for li, layer in enumerate(layers):
        for a, ea in enumerate(epochs):
            for b, eb in enumerate(epochs):
                ref = cka(np.vstack(acts[(model, ea, layer)][:2]), np.vstack(acts[(model, eb, layer)][:2]))
                got = g["cka_epochs"][li, a, b]
                worst["cka"] = max(worst["cka"], abs(got - ref))
                ok_cka &= abs(got - ref) <= 1e-6
    check(ok_id, f"{model}: TwoNN equals the numpy estimator within 1e-6 (every epoch, layer, split)")
    check(ok_pca, f"{model}: PCA-90 counts equal numpy's")
    check(ok_probe, f"{model}: probe accuracies within 2 points of sklearn")
    check(ok_cka, f"{model}: CKA between layers and between epochs within 1e-6 of numpy")
    check(ok_csv, f"{model}: the CSV tables hold the numbers of stats.h5")

x = S["cross/expressive_vs_bottleneck"]
la = [v.decode() if isinstance(v, bytes) else v for v in x.attrs["layers_a"]]
lb = [v.decode() if isinstance(v, bytes) else v for v in x.attrs["layers_b"]]
ok = True
for ei, ep in enumerate(x.attrs["epochs"]):
    for i, a in enumerate(la):
        for j, b in enumerate(lb):
            ref = cka(np.vstack(acts[("expressive", ep, a)][:2]), np.vstack(acts[("bottleneck", ep, b)][:2]))
            worst["cka"] = max(worst["cka"], abs(x["cka"][ei, i, j] - ref))
            ok &= abs(x["cka"][ei, i, j] - ref) <= 1e-6
check(ok, "CKA expressive vs bottleneck within 1e-6 of numpy")
n_models_rows = sum(1 for _ in open(os.path.join(run, "analysis", "stats", "cka_models.csv"))) - 1
check(n_models_rows == x["cka"].size, "cka_models.csv has a row per (epoch, layer_a, layer_b)")
print("worst deviations:", worst)
S.close()

last = max(e["epoch"] for e in man)
for stem in ("id_probe", "cka_expressive_e%04d" % last, "cka_bottleneck_e%04d" % last,
             "cka_expressive_vs_bottleneck_e%04d" % last):
    for ext in ("png", "svg"):
        f = os.path.join(run, "analysis", "figures", f"{stem}.{ext}")
        check(os.path.exists(f) and os.path.getsize(f) > 1000, f"figure {stem}.{ext}")

stats_h5 = os.path.join(run, "analysis", "stats", "stats.h5")
mt = os.stat(stats_h5).st_mtime_ns
rc, out, err = nt.run(["stats", run, "--twonn-points", str(TWONN_POINTS)])
check("nothing to do" in out and os.stat(stats_h5).st_mtime_ns == mt, "second run does nothing")
rc, out, err = nt.run(["stats", run, "--no-figures"])
check("analysed" in out, "other parameters (default --twonn-points) recompute")

# The thread count changes no byte.
other = os.path.join(tmp, "other")
shutil.copytree(run, other, ignore=shutil.ignore_patterns("analysis"))
nt.run(["stats", other, "--threads", "1", "--no-figures"])
nt.run(["stats", run, "--threads", "2", "--no-figures", "--force"])
p = subprocess.run(["h5diff", "-d", "0", stats_h5, os.path.join(other, "analysis", "stats", "stats.h5")],
                   capture_output=True, text=True)
check(p.returncode == 0, "--threads 1 and 2 give the same stats.h5 (h5diff -d 0) " + p.stdout[-300:])

shutil.rmtree(tmp, ignore_errors=True)
nt.finish()
