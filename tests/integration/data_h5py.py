#!/usr/bin/python3
"""data_h5py.py: the dataset file as other tools see it, and the generator's
geometry checked by an independent oracle (numpy).

- h5py reads every `nerve data` output: attributes come back as str / int, the
  arrays have the documented dtypes and shapes, ids are a permutation.
- Circles in R^12 (--sphere-dim 1) really are circles: per class the centred points
  have PCA rank 2 and a constant distance to the centre; 2-spheres have rank 3.
- Full spheres (the default) have full rank and points at the stated radii.
- CSV and HDF5 import keep every value and label (matched back through the ids).
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

NERVE = os.environ.get("NERVE")
if not NERVE:
    print("NERVE must point at the nerve binary")
    sys.exit(1)

failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def nerve(*args):
    r = subprocess.run([NERVE, *args], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"nerve {' '.join(args)} failed with exit {r.returncode}")
    return r.stdout


def read(path):
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)
        sets = {g: (f[g]["x"][()], f[g]["y"][()], f[g]["ids"][()]) for g in ("train", "test")}
        dtypes = {g: (f[g]["x"].dtype, f[g]["y"].dtype, f[g]["ids"].dtype) for g in ("train", "test")}
    return attrs, sets, dtypes


def check_file_layout(path, n_total, d, nclasses):
    attrs, sets, dtypes = read(path)
    check(attrs.get("format") == "nerve-dataset" and isinstance(attrs["format"], str),
          f"{os.path.basename(path)}: format is the str 'nerve-dataset'")
    check(int(attrs.get("format_version", -1)) == 1, "format_version 1")
    check(int(attrs.get("nclasses", -1)) == nclasses, f"nclasses {nclasses}")
    check(isinstance(attrs.get("source"), str) and len(attrs["source"]) > 0, "source is a str")
    for g in ("train", "test"):
        check(dtypes[g] == (np.float32, np.int32, np.int64), f"/{g} dtypes f32, i32, i64")
        x, y, ids = sets[g]
        check(x.ndim == 2 and x.shape[1] == d and y.shape == (x.shape[0],) and ids.shape == (x.shape[0],),
              f"/{g} shapes {x.shape}")
        check(bool(np.all(np.isfinite(x))), f"/{g} finite")
    ids = np.concatenate([sets["train"][2], sets["test"][2]])
    check(len(ids) == n_total and np.array_equal(np.sort(ids), np.arange(n_total)), "ids are a permutation")
    return sets


def by_class(sets, c):
    x = np.concatenate([sets["train"][0], sets["test"][0]]).astype(np.float64)
    y = np.concatenate([sets["train"][1], sets["test"][1]])
    return x[y == c]


def sphere_check(path, d, m, npc, radii, offset):
    sets = check_file_layout(path, 2 * npc, d, 2)
    for c in (0, 1):
        xc = by_class(sets, c)
        centre = np.zeros(d)
        centre[0] = (0.5 if c else -0.5) * offset
        r = np.linalg.norm(xc - centre, axis=1)
        check(np.max(np.abs(r - radii[c])) < 1e-5,
              f"m={m}: class {c} radius {radii[c]} constant (max error {np.max(np.abs(r - radii[c])):.2e})")
        s = np.linalg.svd(xc - centre, compute_uv=False)
        rank = int(np.sum(s > 1e-4 * s[0]))
        check(rank == m + 1, f"m={m}: class {c} spans {rank} dimensions (expected {m + 1})")
        if m < d - 1:
            # the plane is randomly rotated: not the coordinate plane of e_0, e_1
            check(np.linalg.norm(xc[:, m + 1:]) > 1e-3, f"m={m}: class {c} is rotated out of the axes")


with tempfile.TemporaryDirectory(prefix="nerve-data-h5py-") as tmp:
    circles = os.path.join(tmp, "circles.h5")
    nerve("data", "spheres", "--out", circles, "--dim", "12", "--sphere-dim", "1", "--points", "400",
          "--radius", "1,1.3", "--offset", "0.4", "--seed", "3")
    sphere_check(circles, 12, 1, 400, (1.0, 1.3), 0.4)

    two = os.path.join(tmp, "two.h5")
    nerve("data", "spheres", "--out", two, "--dim", "12", "--sphere-dim", "2", "--points", "300",
          "--radius", "2", "--offset", "1.5")
    sphere_check(two, 12, 2, 300, (2.0, 2.0), 1.5)

    full = os.path.join(tmp, "full.h5")
    nerve("data", "spheres", "--out", full, "--points", "500")
    sphere_check(full, 12, 11, 500, (1.0, 1.3), 0.4)
    # stratified split: round(0.2 * 500) = 100 per class in test
    _, sets, _ = read(full)
    check(np.array_equal(np.bincount(sets["test"][1]), [100, 100]), "test set 100 + 100")

    # CSV import keeps values and labels, matched through ids
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(57, 5)).astype(np.float32)
    ys = rng.integers(0, 4, size=57)
    csv = os.path.join(tmp, "u.csv")
    with open(csv, "w") as f:
        f.write("a,b,c,d,e,label\n")
        for row, lab in zip(xs, ys):
            f.write(",".join(repr(float(v)) for v in row) + f",{lab}\n")
    out = os.path.join(tmp, "csv.h5")
    nerve("data", "csv", csv, "--out", out, "--test-fraction", "0.3", "--seed", "5")
    sets = check_file_layout(out, 57, 5, int(ys.max()) + 1)
    for g in ("train", "test"):
        x, y, ids = sets[g]
        check(np.array_equal(x, xs[ids]) and np.array_equal(y, ys[ids]), f"csv /{g} rows match the source by id")

    # HDF5 import from float64 / uint8 arrays written by h5py
    src = os.path.join(tmp, "user.h5")
    xh = rng.normal(size=(80, 3))
    yh = rng.integers(0, 3, size=80).astype(np.uint8)
    with h5py.File(src, "w") as f:
        f["feat/x"] = xh
        f["feat/y"] = yh
    out = os.path.join(tmp, "h5.h5")
    nerve("data", "hdf5", src, "--x", "feat/x", "--y", "feat/y", "--out", out)
    sets = check_file_layout(out, 80, 3, int(yh.max()) + 1)
    for g in ("train", "test"):
        x, y, ids = sets[g]
        check(np.array_equal(x, xh[ids].astype(np.float32)) and np.array_equal(y, yh[ids]),
              f"hdf5 /{g} rows match the source by id")

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
