#!/usr/bin/env python3
"""query_numpy.py: the straightforward numpy implementation of a whole-layer
top-samples (docs/queries.md), the baseline of bench/query.sh.

    python3 bench/query_numpy.py RUN MODEL LAYER EPOCH K [OUT.csv]

Reads the epoch's factors of the layer through the store's index with h5py (the rows
whose step lies in the epoch: a_i, d_i and the sample ids), forms every sample's
contribution to every weight of the layer, d_i a_i^T with the bias column, in float64
(the products are exact, as nerve's), then per weight the k samples with the largest
|contribution| (argpartition, then a sort of the k by |value| and sample id, nerve's
tie rule). Prints the wall time of the whole (reading included) to stderr; with OUT,
writes the answer as row,col,rank,sample_id,contribution for bench/query.sh to
compare with nerve's.
"""
import sys
import time

import h5py
import numpy as np

run, model, layer, epoch, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
with h5py.File(f"{run}/dynamics/{model}.h5", "r") as f:
    spe = int(f.attrs["steps_per_epoch"])
    step = f["factors/step"][:]
    rows = np.flatnonzero((step > (epoch - 1) * spe) & (step <= epoch * spe))
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    a = f[f"factors/{layer}/a"][r0:r1].astype(np.float64)
    d = f[f"factors/{layer}/d"][r0:r1].astype(np.float64)
    ids = f["factors/sample_id"][r0:r1]
a = np.concatenate([a, np.ones((a.shape[0], 1))], axis=1)          # the bias column
v = d[:, :, None] * a[:, None, :]                                   # (N, R, C + 1): every per-sample gradient
N, R, C1 = v.shape
v = v.reshape(N, R * C1)
top = np.argpartition(-np.abs(v), k - 1, axis=0)[:k]                # (k, R (C + 1)): the k largest, unordered
tv = np.take_along_axis(v, top, axis=0)
order = np.lexsort((ids[top], -np.abs(tv)), axis=0)                # by |value|, then sample id
top = np.take_along_axis(top, order, axis=0)
tv = np.take_along_axis(tv, order, axis=0)
dt = time.perf_counter() - t0
print(f"numpy: {dt:.3f} s", file=sys.stderr)
if len(sys.argv) > 6:
    with open(sys.argv[6], "w") as out:
        for w in range(R * C1):
            for i in range(k):
                out.write(f"{w // C1},{w % C1},{i + 1},{ids[top[i, w]]},{tv[i, w]!r}\n")
