#!/usr/bin/python3
"""metric_cli.py: `nerve ph --format point-cloud --metric ... [--landmarks ...]`
end to end: its barcodes equal Ripser 1.2.1's on the distance matrix that
analysis/metric/metric.c produces (written out by the metric_oracle.py driver, restricted
to the landmarks the same way), under the matching of docs/CONTRACTS.md.
So the CLI feeds the engine exactly the metric's matrix, for every kind.

Exit 0 pass, 77 skip (no nerve binary, no ripser), 1 fail.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import metric_oracle as mo
except ImportError as e:  # pragma: no cover
    print(f"SKIP metric_cli: {e} (run under /usr/bin/python3)")
    sys.exit(77)

NERVE = os.environ.get("NERVE", "")
if not NERVE or not os.access(NERVE, os.X_OK):
    print(f"SKIP metric_cli: no nerve binary at '{NERVE}'")
    sys.exit(77)
if not shutil.which("ripser"):
    print("SKIP metric_cli: ripser not installed (scripts/deps.sh --test)")
    sys.exit(77)

failures = []


def check(cond, what):
    print(f"  {'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


def tol(v):
    return 1e-6 + 1e-5 * abs(v)


def parse_ripser(text):
    """Ripser's output: 'persistence intervals in dim D:' then ' [b,d)' lines."""
    bars, dim = [], None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("persistence intervals in dim"):
            dim = int(line.split()[-1].rstrip(":"))
        elif line.startswith("[") and dim is not None:
            b, d = line.strip("[)").split(",")
            bars.append((dim, float(b), float(d) if d.strip() else float("inf")))
    return bars


def parse_pairs(text):
    bars = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split()
        bars.append((int(f[0]), float(f[1]), float(f[2])))
    return bars


def same_barcodes(a, b):
    """Greedy matching per dimension after sorting; enough for these small cases
    (exact bipartite matching is what tests/integration/ph_ripser.py does)."""
    for dim in sorted({x[0] for x in a} | {x[0] for x in b}):
        A = sorted((x[1], x[2]) for x in a if x[0] == dim and x[2] - x[1] > tol(x[2]))
        B = sorted((x[1], x[2]) for x in b if x[0] == dim and x[2] - x[1] > tol(x[2]))
        if len(A) != len(B):
            return False, f"dim {dim}: {len(A)} vs {len(B)} bars"
        for (b1, d1), (b2, d2) in zip(A, B):
            if abs(b1 - b2) > tol(b2) or not ((np.isinf(d1) and np.isinf(d2)) or abs(d1 - d2) <= tol(d2)):
                return False, f"dim {dim}: [{b1}, {d1}) vs [{b2}, {d2})"
    return True, ""


def main():
    tmp = tempfile.mkdtemp(prefix="nerve-metric-cli-")
    exe = mo.build_driver(tmp)
    rng = np.random.default_rng(11)
    t = rng.random(160) * 2 * np.pi
    x = np.c_[np.cos(t), np.sin(t), 0.3 * np.cos(3 * t)] + rng.normal(0, 0.05, (160, 3))
    x = x.astype(np.float32)
    n = x.shape[0]
    cloud = os.path.join(tmp, "x.csv")
    np.savetxt(cloud, x, delimiter=",", fmt="%.9g")
    # the driver reads the same floats the CLI parses from the text
    x = np.loadtxt(cloud, delimiter=",").astype(np.float32)
    pts = os.path.join(tmp, "x.bin")
    mo.write_points(pts, x)
    out = os.path.join(tmp, "d.bin")
    cases = [("euclidean", 0, 0, 0), ("cosine", 0, 0, 0), ("knn-hops", 8, 0, 0),
             ("knn-weighted", 8, 0, 0), ("knn-weighted", 8, 1, 0), ("euclidean", 5, 1, 0),
             ("knn-hops", 8, 0, 60), ("knn-weighted", 8, 0, 60), ("euclidean", 0, 0, 60)]
    for kind, k, norm, landmarks in cases:
        args = [NERVE, "ph", "--format", "point-cloud", "--metric", kind, "--output", "pairs"]
        if k:
            args += ["--k", str(k)]
        if norm:
            args += ["--normalize"]
        if landmarks:
            args += ["--landmarks", str(landmarks)]
        r = subprocess.run(args + [cloud], capture_output=True, text=True)
        what = f"{kind} k={k} normalize={norm} landmarks={landmarks}"
        if r.returncode != 0:
            check(False, f"{what}: nerve ph exit {r.returncode}: {r.stderr.strip()[:300]}")
            continue
        ours = parse_pairs(r.stdout)
        mo.run(exe, "dist", kind, k, norm, pts, out)
        lower = np.fromfile(out, dtype=np.float32)
        if landmarks:
            idx = None
            for line in r.stdout.splitlines():
                if line.startswith("# landmarks:"):
                    idx = [int(v) for v in line.split(":")[1].split()]
            if idx is None:
                check(False, f"{what}: no '# landmarks:' line in the output")
                continue
            D = mo.square_from_lower(lower.astype(np.float64), n)[np.ix_(idx, idx)]
            lower = D[np.tril_indices(len(idx), -1)].astype(np.float32)
        if not np.all(np.isfinite(lower)):
            check(False, f"{what}: the test data should give a connected kNN graph")
            continue
        mat = os.path.join(tmp, "lower.txt")
        with open(mat, "w") as f:
            f.write(",".join(repr(float(v)) for v in lower) + "\n")
        rr = subprocess.run(["ripser", "--format", "lower-distance", "--dim", "1", mat],
                            capture_output=True, text=True)
        ok, why = same_barcodes(ours, parse_ripser(rr.stdout))
        check(ok, f"{what}: nerve ph equals ripser on the metric's matrix "
                  f"({len(ours)} bars){'; ' + why if why else ''}")
    if failures:
        print(f"FAIL: {len(failures)} checks failed")
        return 1
    print("all metric CLI checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
