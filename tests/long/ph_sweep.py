#!/usr/bin/python3
"""ph_sweep.py (make test-long): `nerve ph` against ripser on a few hundred random
inputs: clouds of 5..400 points in R^1..R^9, dimensions 1..3, with and without
thresholds and ratios, rounded coordinates (ties), duplicates, 1 and 2 threads;
every output must be ripser's byte for byte (values printed with %g), and must at
least match under docs/CONTRACTS.md's rule. About 5 minutes on 2 cores.
Exit 0 pass, 77 skip, 1 fail.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import ph_ripser as pr  # noqa: E402


def main():
    if pr.RIPSER is None or pr.np is None:
        print("SKIP: ripser or numpy not available")
        return 77
    np = pr.np
    rng = np.random.default_rng(int(os.environ.get("PH_SWEEP_SEED", "424242")))
    cases = int(os.environ.get("PH_SWEEP_CASES", "300"))
    tmp = tempfile.mkdtemp(prefix="ph_sweep.")
    errors, identical = [], 0
    for k in range(cases):
        dim = int(rng.integers(1, 4))
        nmax = {1: 400, 2: 120, 3: 45}[dim]
        n = int(rng.integers(5, nmax))
        d = int(rng.integers(1, 10))
        x = rng.standard_normal((n, d))
        kind = k % 5
        if kind == 1:
            x = np.round(x * 2) / 2  # ties
        elif kind == 2:
            x = np.r_[x, x[: max(1, n // 10)]]  # duplicates
        path = os.path.join(tmp, "c%d.txt" % k)
        pr.write_cloud(path, x, "%.4f")
        args = ["--dim", str(dim)]
        if k % 4 == 1:
            args += ["--threshold", "%.2f" % rng.uniform(0.5, 3.0)]
        if k % 7 == 3:
            args += ["--ratio", "%.2f" % rng.uniform(1.0, 2.0)]
        threads = 1 + k % 2
        e = pr.compare(path, "point-cloud", args, "case %d n=%d d=%d %s" % (k, n, d, " ".join(args)), threads=threads)
        if e:
            errors.append(e)
            print("FAIL", e)
            continue
        rc, rout, _ = pr.run([pr.RIPSER, "--format", "point-cloud"] + args + [path])
        rc, nout, _ = pr.run([pr.NERVE, "ph", "--format", "point-cloud", "--threads", str(threads)] + args + [path],
                             env=pr.NOPATH_ENV)
        identical += rout == nout
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d cases: %d failed, %d printed ripser's very bytes" % (cases, len(errors), identical))
    return 1 if errors or identical != cases else 0


if __name__ == "__main__":
    sys.exit(main())
