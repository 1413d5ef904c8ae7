#!/usr/bin/python3
"""gen_clouds.py OUTDIR: writes the point clouds of the `nerve ph` benchmarks
(bench/ph.sh), deterministically (fixed numpy seeds), one point per line.

  sphere2_400.txt   400 points uniform on the 2-sphere in R^3   (run with --dim 2)
  torus_600.txt     600 points on a torus in R^3 (R=2, r=0.8)   (--dim 2)
  r8_1000.txt       1000 standard normal points in R^8         (--dim 1 and --dim 2)
  r8_2000.txt       2000 standard normal points in R^8         (--dim 1)
  o3_1024.txt       1024 random rotations (Haar) as points in R^9, the o3 data set
                    of Ripser's benchmarks                      (--dim 3 --threshold 1.8)
"""
import os
import sys

import numpy as np


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 3))
    np.savetxt(os.path.join(out, "sphere2_400.txt"), x / np.linalg.norm(x, axis=1, keepdims=True), fmt="%.7f")
    rng = np.random.default_rng(2)
    u, v = rng.uniform(0, 2 * np.pi, (2, 600))
    t = np.c_[(2 + 0.8 * np.cos(v)) * np.cos(u), (2 + 0.8 * np.cos(v)) * np.sin(u), 0.8 * np.sin(v)]
    np.savetxt(os.path.join(out, "torus_600.txt"), t, fmt="%.7f")
    rng = np.random.default_rng(3)
    np.savetxt(os.path.join(out, "r8_1000.txt"), rng.standard_normal((1000, 8)), fmt="%.7f")
    rng = np.random.default_rng(4)
    np.savetxt(os.path.join(out, "r8_2000.txt"), rng.standard_normal((2000, 8)), fmt="%.7f")
    rng = np.random.default_rng(5)
    mats = []
    while len(mats) < 1024:
        q, r = np.linalg.qr(rng.standard_normal((3, 3)))
        q = q * np.sign(np.diag(r))  # Haar measure on O(3)
        mats.append(q.reshape(-1))
    np.savetxt(os.path.join(out, "o3_1024.txt"), np.array(mats), fmt="%.7f")


if __name__ == "__main__":
    main()
