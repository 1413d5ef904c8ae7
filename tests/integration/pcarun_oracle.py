#!/usr/bin/env python3
"""pcarun_oracle.py: `nerve pca RUN` on a tiny run against numpy/sklearn, plus the
stage's bookkeeping.

Checks, for every model x epoch x layer of the run:
  - mean, full spectrum and ratios equal numpy's (float64 eigh of the covariance of
    the `all` split, n - 1 normalisation) to 1e-8 relative; n_components_90 equals the
    numpy count; components are unit vectors spanning sklearn PCA's (|dot| = 1 to 1e-7);
  - projections of train, test and all equal (x - mean) @ components.T (1e-7) with the
    stored signs, and the train/test projections are the rows of `all` (same axes);
  - alignment: epoch 0 follows the max-|entry|-positive rule, and every later epoch's
    component j has a positive dot product with the previous snapshot epoch's j;
  - idempotence: a second run writes nothing and leaves the files untouched;
  - task slicing: --tasks 3 (three calls) gives the same files as one run (h5diff -d 0),
    and so does --epoch LAST alone (earlier epochs are fitted for alignment, not written);
  - --k 2 is a different parameter set: the files are remade with 2 components;
  - the figure pca_grid_<model>.png/.svg exists for each model.
Exit 0 pass, 77 skip, 1 fail.
"""
import json, os, shutil, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import numpy as np
    import h5py
    from sklearn.decomposition import PCA
except ImportError as e:
    print(f"SKIP: numpy/h5py/sklearn not importable ({e})"); sys.exit(77)
import nervetest as nt
from nervetest import check

tmp = nt.tmpdir("pcarun")
run = os.path.join(tmp, "run")
nt.run(["train", nt.tiny_config(tmp, ppc=150, epochs=5), "--out", run])
man = json.load(open(os.path.join(run, "snapshots", "manifest.json")))["files"]

rc, out, err = nt.run(["pca", run])
print(out.strip())
check(f"{len(man)} written" in out, "first run writes every snapshot file")


def snap(entry):
    return h5py.File(os.path.join(run, "snapshots", entry["path"]), "r")


def outp(entry, base=run):
    return os.path.join(base, "analysis", "pca", entry["model"], "epoch_%04d.h5" % entry["epoch"])


prev = {}
worst = dict(spec=0.0, comp=0.0, proj=0.0)
flips = 0
for entry in man:
    with snap(entry) as s, h5py.File(outp(entry), "r") as o:
        check(o.attrs["format"] == "nerve-pca" and o.attrs["format_version"] == 1,
              f"{entry['path']}: format nerve-pca v1")
        for layer in [x.decode() if isinstance(x, bytes) else x for x in s.attrs["layer_names"]]:
            tr = s[f"layers/{layer}/train"][...].astype(np.float64)
            te = s[f"layers/{layer}/test"][...].astype(np.float64)
            X = np.vstack([tr, te])
            n, d = X.shape
            g = o[f"layers/{layer}"]
            k = g["components"].shape[0]
            check(k == min(3, d), f"{entry['path']} {layer}: k = min(3, width) = {k}")
            mean = X.mean(axis=0)
            C = np.cov(X, rowvar=False).reshape(d, d)
            w = np.clip(np.linalg.eigvalsh(C)[::-1], 0, None)
            spec, ratios = g["spectrum"][...], g["ratios"][...]
            scale = max(w[0], 1e-300)
            e_spec = np.max(np.abs(spec - w)) / scale
            worst["spec"] = max(worst["spec"], e_spec)
            ok = np.allclose(g["mean"][...], mean, rtol=1e-8, atol=1e-10) and e_spec < 1e-8 and \
                np.allclose(ratios, w / w.sum(), atol=1e-8)
            n90 = int(np.searchsorted(np.cumsum(w / w.sum()), 0.9 - 1e-12) + 1)
            ok &= g.attrs["n_components_90"] == n90
            V = g["components"][...]
            ref = PCA(n_components=k, svd_solver="full").fit(X).components_
            dots = np.abs(np.sum(V * ref, axis=1))
            # Components of (nearly) repeated eigenvalues are not unique; compare where the gap is clear.
            gaps = [min(abs(w[j] - w[j - 1]) if j > 0 else np.inf, abs(w[j] - w[j + 1]) if j + 1 < len(w) else np.inf)
                    for j in range(k)]
            for j in range(k):
                if gaps[j] > 1e-6 * scale:
                    worst["comp"] = max(worst["comp"], abs(1 - dots[j]))
                    ok &= abs(1 - dots[j]) < 1e-7
            ok &= np.allclose(V @ V.T, np.eye(k), atol=1e-10)
            P = (X - g["mean"][...]) @ V.T
            pall, ptr, pte = (g[f"projections/{sp}"][...] for sp in ("all", "train", "test"))
            e_proj = np.max(np.abs(pall - P)) / max(np.sqrt(scale), 1e-300)
            worst["proj"] = max(worst["proj"], e_proj)
            ok &= e_proj < 1e-7 and np.array_equal(ptr, pall[:len(tr)]) and np.array_equal(pte, pall[len(tr):])
            check(ok, f"{entry['model']} e{entry['epoch']} {layer}: spectrum, ratios, n90, components, projections")
            key = (entry["model"], layer)
            if key in prev:
                dp = np.sum(V * prev[key], axis=1)
                if np.any(dp <= 0):
                    flips += 1
                    print("  flip:", key, entry["epoch"], dp)
                check(g.attrs["reference_epoch"] >= 0, f"{key} e{entry['epoch']}: aligned to a reference")
            else:
                big = V[np.arange(k), np.argmax(np.abs(V), axis=1)]
                check(np.all(big > 0), f"{key} epoch {entry['epoch']}: first epoch, largest entry positive")
            prev[key] = V
print("worst relative deviations:", worst)
check(flips == 0, "no sign flips between consecutive epochs (dot products of matching components > 0)")
for model in sorted({e["model"] for e in man}):
    for ext in ("png", "svg"):
        f = os.path.join(run, "analysis", "figures", f"pca_grid_{model}.{ext}")
        check(os.path.getsize(f) > 1000 if os.path.exists(f) else False, f"figure {os.path.basename(f)}")

# Idempotence: nothing is rewritten.
mt = {e["path"]: os.stat(outp(e)).st_mtime_ns for e in man}
rc, out, err = nt.run(["pca", run])
check("0 written" in out and f"{len(man)} already done" in out and "0 fits" in out, "second run does nothing: " + out.strip())
check(all(os.stat(outp(e)).st_mtime_ns == mt[e["path"]] for e in man), "second run leaves the files untouched")


def fresh(name):
    d = os.path.join(tmp, name)
    shutil.copytree(run, d, ignore=shutil.ignore_patterns("analysis"))
    return d


def same_files(other, what, entries=man):
    bad = []
    for e in entries:
        p = subprocess.run(["h5diff", "-d", "0", outp(e), outp(e, other)], capture_output=True, text=True)
        if p.returncode != 0:
            bad.append((e["path"], p.stdout[-500:]))
    check(not bad, what + (f" (differ: {bad[:2]})" if bad else ""))


# Task slicing: three tasks give the files of one run.
sliced = fresh("sliced")
total = 0
for t in range(3):
    rc, out, err = nt.run(["pca", sliced, "--tasks", "3", "--task", str(t), "--threads", "1"])
    total += int(out.split(" written")[0].split()[-1])
check(total == len(man), f"the three tasks together write every file once ({total})")
same_files(sliced, "--tasks 3 gives the same files as one run (h5diff -d 0)")

# Only the last epoch: its file is that of the full run (alignment walks the chain).
last = max(e["epoch"] for e in man)
only = fresh("only")
rc, out, err = nt.run(["pca", only, "--epoch", str(last)])
lastentries = [e for e in man if e["epoch"] == last]
check(f"{len(lastentries)} written" in out, "--epoch LAST writes only that epoch's files")
check(not os.path.exists(outp(man[0], only)) or man[0]["epoch"] == last, "earlier epochs are not written")
same_files(only, "--epoch LAST gives the same file as the full run", lastentries)

# A different k is a different parameter set: remade.
rc, out, err = nt.run(["pca", only, "--k", "2", "--no-figures"])
check(f"{len(man)} written" in out, "--k 2 remakes every file")
with h5py.File(outp(lastentries[0], only), "r") as o:
    check(o.attrs["k"] == 2 and o["layers/hidden1/components"].shape[0] == 2, "--k 2 stored")

shutil.rmtree(tmp, ignore_errors=True)
nt.finish()
