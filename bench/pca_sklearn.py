#!/usr/bin/env python3
"""pca_sklearn.py: the sklearn side of bench/pca_bench.sh, and the data generator.

  pca_sklearn.py gen FILE n d        write activation-like float32 data (ReLU of a
                                     low-rank map plus noise), numpy seed 0
  pca_sklearn.py fit FILE n d k [f64]  one warm-up, then one timed
                                     PCA(n_components=k, svd_solver='full').fit_transform
                                     on the float32 matrix (sklearn then computes in
                                     float32), or with f64 on a float64 copy made
                                     before timing (double, like nerve); prints
                                     "time_s T ev0 V"
Run under /usr/bin/python3 (Debian's numpy and sklearn).
"""
import sys, time
import numpy as np

if sys.argv[1] == "gen":
    path, n, d = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((n, 32)) @ rng.standard_normal((32, d))
    X = np.maximum(Z, 0) + 0.1 * rng.standard_normal((n, d))
    X.astype("<f4").tofile(path)
elif sys.argv[1] == "fit":
    from sklearn.decomposition import PCA
    path, n, d, k = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    X = np.fromfile(path, "<f4").reshape(n, d)
    if len(sys.argv) > 6 and sys.argv[6] == "f64":
        X = X.astype(np.float64)
    PCA(n_components=k, svd_solver="full").fit_transform(X)  # warm-up (page-in, BLAS init)
    t0 = time.perf_counter()
    p = PCA(n_components=k, svd_solver="full")
    p.fit_transform(X)
    t = time.perf_counter() - t0
    print(f"time_s {t:.6f} ev0 {p.explained_variance_[0]:.10g}")
