#!/usr/bin/python3
"""data_fashion.py: `nerve data fashion-mnist --limit 1000` reads Debian's
Fashion-MNIST files, and the dataset file holds exactly what an independent decoder
(numpy over gzip, written here from the IDX format) finds in them: pixels / 255 and
the labels, in file order, test ids offset by the 60000 training images.
Skips (exit 77) where the dataset-fashion-mnist package is not installed.
"""
import gzip
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

NERVE = os.environ.get("NERVE")
DIR = "/usr/share/datasets/fashion-mnist"
files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
if not all(os.path.exists(os.path.join(DIR, f)) for f in files):
    print(f"SKIP: Fashion-MNIST not found in {DIR} (Debian package dataset-fashion-mnist)")
    sys.exit(77)


def idx(path, magic, n):
    """The first n records of an IDX file, decoded from the format directly."""
    with gzip.open(path, "rb") as f:
        head = np.frombuffer(f.read(4), dtype=">u4")[0]
        assert head == magic, hex(head)
        ndims = magic & 0xFF
        dims = np.frombuffer(f.read(4 * ndims), dtype=">u4")
        per = int(np.prod(dims[1:])) if ndims > 1 else 1
        return dims, np.frombuffer(f.read(n * per), dtype=np.uint8).reshape(n, per)


failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += 0 if cond else 1


with tempfile.TemporaryDirectory(prefix="nerve-data-fashion-") as tmp:
    out = os.path.join(tmp, "fm.h5")
    r = subprocess.run([NERVE, "data", "fashion-mnist", "--out", out, "--limit", "1000",
                        "--test-limit", "300"], capture_output=True, text=True)
    print(r.stdout, r.stderr)
    check(r.returncode == 0, "nerve data fashion-mnist --limit 1000 exits 0")
    if r.returncode == 0:
        _, xi = idx(os.path.join(DIR, files[0]), 0x803, 1000)
        _, yi = idx(os.path.join(DIR, files[1]), 0x801, 1000)
        _, xt = idx(os.path.join(DIR, files[2]), 0x803, 300)
        _, yt = idx(os.path.join(DIR, files[3]), 0x801, 300)
        with h5py.File(out, "r") as f:
            check(f.attrs["format"] == "nerve-dataset", "format attribute")
            check(int(f.attrs["nclasses"]) == 10, "10 classes")
            x, y, ids = f["train/x"][()], f["train/y"][()], f["train/ids"][()]
            check(x.shape == (1000, 784), f"train x shape {x.shape}")
            check(np.array_equal(ids, np.arange(1000)), "train ids in file order")
            check(np.array_equal(x, xi.astype(np.float32) / np.float32(255)), "train pixels / 255")
            check(np.array_equal(y, yi[:, 0].astype(np.int32)), "train labels")
            x, y, ids = f["test/x"][()], f["test/y"][()], f["test/ids"][()]
            check(x.shape == (300, 784), f"test x shape {x.shape}")
            check(np.array_equal(ids, 60000 + np.arange(300)), "test ids follow the 60000 train ids")
            check(np.array_equal(x, xt.astype(np.float32) / np.float32(255)), "test pixels / 255")
            check(np.array_equal(y, yt[:, 0].astype(np.int32)), "test labels")
            check(float(x.min()) >= 0.0 and float(x.max()) <= 1.0, "pixels in [0, 1]")

print(f"{failures} failure(s)")
sys.exit(1 if failures else 0)
