#!/usr/bin/env python3
"""pcarun_matrix.py: `nerve pca FILE` on plain matrices against numpy, and the bad
input of both `nerve pca` forms and of `nerve stats` (exit 2, one clear message).

Matrix mode: a CSV with a header, a headerless CSV with blanks, and an HDF5 dataset
(FILE.h5:/group/x): mean, the full explained variance and its ratios to 1e-9 relative,
components equal numpy's eigenvectors up to sign (|dot| = 1 to 1e-9) with the largest
entry positive, n_components_90, and --out proj.csv equal to (x - mean) @ V.T.
Bad input: NaN (the message names line and column), a non-number, ragged rows, fewer
points than components, an HDF5 file without a dataset path, a missing dataset; for a
run: an unknown layer, epoch or model (the message lists what exists), a directory
without snapshots, a listed snapshot that is missing, a snapshot with an unknown
format_version. Exit 0 pass, 77 skip, 1 fail.
"""
import os, shutil, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import numpy as np
    import h5py
except ImportError as e:
    print(f"SKIP: numpy/h5py not importable ({e})"); sys.exit(77)
import nervetest as nt
from nervetest import check

tmp = nt.tmpdir("pcamatrix")
rng = np.random.default_rng(7)
X = (rng.standard_normal((60, 5)) @ rng.standard_normal((5, 5)) + 3.0).astype(np.float32)


def parse(out):
    r = {}
    for line in out.strip().splitlines():
        key, *vals = line.split()
        r[key] = np.array([float(v) for v in vals]) if len(vals) != 1 or key.startswith(("explained", "mean", "component")) else vals[0]
    return r


def check_against_numpy(out, X, what, k=3):
    r = parse(out)
    Xd = X.astype(np.float64)
    w, V = np.linalg.eigh(np.cov(Xd, rowvar=False))
    w, V = w[::-1], V[:, ::-1].T
    ok = int(r["rows"]) == X.shape[0] and int(r["cols"]) == X.shape[1]
    ok &= np.allclose(r["mean"], Xd.mean(0), rtol=1e-9, atol=1e-12)
    ok &= np.allclose(r["explained_variance"], w, rtol=1e-9, atol=1e-12 * w[0])
    ok &= np.allclose(r["explained_variance_ratio"], w / w.sum(), atol=1e-9)
    ok &= int(r["n_components_90"]) == int(np.searchsorted(np.cumsum(w / w.sum()), 0.9 - 1e-12) + 1)
    comps = np.array([r[f"component_{j + 1}"] for j in range(k)])
    ok &= np.allclose(np.abs(np.sum(comps * V[:k], axis=1)), 1, atol=1e-9)
    ok &= all(c[np.argmax(np.abs(c))] > 0 for c in comps)
    check(ok, f"{what}: spectrum, ratios, mean, components and n90 equal numpy's")
    return r, comps


# CSV with a header and --out
p = os.path.join(tmp, "x.csv")
with open(p, "w") as f:
    f.write("a,b,c,d,e\n")
    for row in X:
        f.write(",".join("%.9g" % v for v in row) + "\n")
proj = os.path.join(tmp, "proj.csv")
rc, out, err = nt.run(["pca", p, "--out", proj])
r, comps = check_against_numpy(out, X, "CSV with header")
P = np.loadtxt(proj, delimiter=",", skiprows=1)
check(np.allclose(P, (X.astype(np.float64) - r["mean"]) @ comps.T, atol=1e-9), "--out holds the projections")
check(open(proj).readline().strip() == "PC1,PC2,PC3", "--out has a header PC1,PC2,PC3")

# Blank-separated, no header, --k 2
p2 = os.path.join(tmp, "x.txt")
np.savetxt(p2, X, fmt="%.9g")
rc, out, err = nt.run(["pca", p2, "--k", "2", "--device", "cpu"])
check_against_numpy(out, X, "blank-separated text, --k 2", k=2)

# HDF5 dataset
h = os.path.join(tmp, "m.h5")
with h5py.File(h, "w") as f:
    f.create_dataset("group/x", data=X)
    f.create_dataset("vec", data=X[:, 0])
rc, out, err = nt.run(["pca", h + ":/group/x"])
check_against_numpy(out, X, "FILE.h5:/group/x")


def bad(args, *needles, what):
    rc, out, err = nt.run(args, expect=None)
    ok = rc == 2 and all(n in err for n in needles)
    check(ok, f"{what}: exit 2 and a message naming {needles}" + ("" if ok else f" (rc {rc}, stderr {err.strip()[:300]!r})"))


def csv_file(name, text):
    return nt.write(os.path.join(tmp, name), text)


bad(["pca", csv_file("nan.csv", "x,y\n1,2\n3,nan\n4,5\n")], "line 3", "column 2", what="NaN in a CSV")
bad(["pca", csv_file("word.csv", "1,2\n3,abc\n4,5\n")], "line 2", "column 2", "not a number", what="a word in a CSV")
bad(["pca", csv_file("ragged.csv", "1,2,3\n4,5\n")], "line 2", "2 fields", what="ragged rows")
# fewer points than components: k is capped at min(points - 1, columns), as a run's
# narrow layer keeps its width (issue 20: FILE mode refused where RUN mode capped)
few = csv_file("few.csv", "1,2,3,4\n5,6,7,8\n1,0,0,1\n")
rc, out, err = nt.run(["pca", few], expect=None)
check(rc == 0 and "\nk 2\n" in out and "component_3" not in out,
      "default k on 3 points of 4 columns: capped at 2 without a note (rc %d, %r)" % (rc, err[-200:]))
rc, out, err = nt.run(["pca", few, "--k", "4"], expect=None)
check(rc == 0 and "\nk 2\n" in out and "--k 4 is capped at 2" in err,
      "--k 4 on 3 points: capped at 2, and a note says so (rc %d, %r)" % (rc, err[-300:]))
bad(["pca", csv_file("empty.csv", "a,b\n")], "no data rows", what="a CSV without data")
bad(["pca", h], "FILE.h5:/path", what="an HDF5 file without a dataset path")
bad(["pca", h + ":/nope"], "no dataset", what="a missing HDF5 dataset")
bad(["pca", h + ":/vec"], "vec", what="a 1-D dataset")
bad(["pca", os.path.join(tmp, "missing.csv")], "missing.csv", what="a missing file")

# Runs
run = os.path.join(tmp, "run")
nt.run(["train", nt.tiny_config(tmp, ppc=60, epochs=2), "--out", run])
for verb in ("pca", "stats"):
    bad([verb, run, "--layer", "hidden9"], "hidden9", "hidden1", what=f"{verb}: an unknown layer")
    bad([verb, run, "--epoch", "77"], "epoch 77", what=f"{verb}: an unknown epoch")
    bad([verb, run, "--model", "nosuch"], "nosuch", "expressive", what=f"{verb}: an unknown model")
    empty = os.path.join(tmp, "empty_run")
    os.makedirs(empty, exist_ok=True)
    bad([verb, empty], "no snapshots", what=f"{verb}: a directory without snapshots")
v9 = os.path.join(tmp, "v9")
shutil.copytree(run, v9)
with h5py.File(os.path.join(v9, "snapshots", "expressive", "epoch_0000.h5"), "r+") as f:
    f.attrs["format_version"] = 9
gone = os.path.join(tmp, "gone")
shutil.copytree(run, gone)
os.remove(os.path.join(gone, "snapshots", "bottleneck", "epoch_0001.h5"))
for verb in ("pca", "stats"):
    bad([verb, gone], "bottleneck/epoch_0001.h5", what=f"{verb}: a snapshot listed in the manifest but missing")
    bad([verb, v9], "format_version 9", what=f"{verb}: a snapshot of an unknown format version")
    check(not os.path.exists(os.path.join(v9, "analysis", "stats", "stats.h5")), f"{verb}: nothing half-written")

shutil.rmtree(tmp, ignore_errors=True)
nt.finish()
