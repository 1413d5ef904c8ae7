#!/usr/bin/python3
"""ph_ripser.py: `nerve ph` against Debian's ripser (1.2.1) over Z/2, barcode for
barcode, on clouds of known topology, inputs with ties, thresholds, ratios, every
input format, and random clouds.

Matching rule (docs/CONTRACTS.md): per dimension an exact bipartite matching
where endpoints agree within 1e-6 + 1e-5*|v|; a finite interval may stay unmatched
only if it lies on the diagonal; essential intervals match only essential ones. We
also require the header lines ("value range", "distance matrix with ...") to be
ripser's, and report when the printed intervals are the very same text.

nerve runs with a PATH that holds no ripser: it never calls it. The helpers here are
imported by ph_gudhi.py and tests/long/ph_sweep.py.
Exit 0 pass, 77 skip (no ripser / no numpy), 1 fail.
"""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # pragma: no cover
    np = None

NERVE = os.environ.get("NERVE", "build/nerve")
RIPSER = shutil.which("ripser") or ("/usr/bin/ripser" if os.path.exists("/usr/bin/ripser") else None)
NOPATH_ENV = dict(os.environ, PATH="/nonexistent")  # nerve must not find ripser


def parse_ripser(text):
    """Returns (header lines, {dim: [(birth, death or inf, raw text)]})."""
    bars, header, dim = {}, [], None
    for line in text.splitlines():
        if line.startswith("persistence intervals in dim "):
            dim = int(line.split()[-1].rstrip(":"))
            bars[dim] = []
        elif line.startswith(" [") and dim is not None:
            b, d = line.strip()[1:-1].split(",")
            bars[dim].append((float(b), float("inf") if d.strip() == "" else float(d), line))
        else:
            header.append(line)
    return header, bars


def parse_pairs(text):
    """--output pairs [--simplices]: {dim: [(birth, death, birth_vertices, death_vertices)]}."""
    bars = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split()
        dim, b, d = int(f[0]), float(f[1]), float(f[2])
        bs = ds = None
        if len(f) >= 5:
            bs = [int(v) for v in f[3].split(",")]
            ds = None if f[4] == "-" else [int(v) for v in f[4].split(",")]
        bars.setdefault(dim, []).append((b, d, bs, ds))
    return bars


def close(a, b):
    if a == b:
        return True
    return abs(a - b) <= 1e-6 + 1e-5 * abs(b)


def match(xs, ys):
    """docs/CONTRACTS.md's matching of two lists of (birth, death); returns an error string or None."""
    fx = [(b, d) for b, d in xs if d != float("inf")]
    fy = [(b, d) for b, d in ys if d != float("inf")]
    ex = sorted(b for b, d in xs if d == float("inf"))
    ey = sorted(b for b, d in ys if d == float("inf"))
    if len(ex) != len(ey) or any(not close(a, b) for a, b in zip(ex, ey)):
        return "essential bars differ: %s vs %s" % (ex[:10], ey[:10])
    if sorted(fx) == sorted(fy):
        return None
    # exact bipartite matching, diagonal bars may stay unmatched
    from scipy.optimize import linear_sum_assignment
    n, m = len(fx), len(fy)
    big = 1e9
    cost = np.full((n + m, m + n), big)
    for i, (b, d) in enumerate(fx):
        for j, (c, e) in enumerate(fy):
            if close(b, c) and close(d, e):
                cost[i, j] = 0
        if close(b, d):
            cost[i, m + i] = 0  # to the diagonal
    for j, (c, e) in enumerate(fy):
        if close(c, e):
            cost[n + j, j] = 0
    cost[n:, m:] = 0
    r, c = linear_sum_assignment(cost)
    if cost[r, c].sum() > 0:
        bad = [fx[i] for i, j in zip(r, c) if cost[i, j] > 0 and i < n][:5]
        return "finite bars differ (%d vs %d); unmatched e.g. %s" % (n, m, bad)
    return None


def run(cmd, stdin=None, env=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env, timeout=600)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def compare(path, fmt, args=(), label="", check_header=True, threads=None, rpath=None, rfmt=None):
    """Runs ripser and nerve on one file (ripser on rpath/rfmt when given: its binary
    reader is broken); returns an error string or None."""
    rc, rout, rerr = run([RIPSER, "--format", rfmt or fmt] + list(args) + [rpath or path])
    if rc != 0:
        return "%s: ripser failed (%d): %s" % (label, rc, rerr[-300:])
    targs = [] if threads is None else ["--threads", str(threads)]
    rc, nout, nerr = run([NERVE, "ph", "--format", fmt] + list(args) + targs + [path], env=NOPATH_ENV)
    if rc != 0:
        return "%s: nerve failed (%d): %s" % (label, rc, nerr[-300:])
    rh, rb = parse_ripser(rout)
    nh, nb = parse_ripser(nout)
    if check_header and rh != nh:
        return "%s: header lines differ:\n  ripser %s\n  nerve  %s" % (label, rh, nh)
    if sorted(rb) != sorted(nb):
        return "%s: dimensions differ: %s vs %s" % (label, sorted(rb), sorted(nb))
    for dim in rb:
        e = match([(b, d) for b, d, _ in nb[dim]], [(b, d) for b, d, _ in rb[dim]])
        if e:
            return "%s: dim %d: %s" % (label, dim, e)
    return None


# --- clouds ---------------------------------------------------------------------------
def circle(rng, n, noise=0.05):
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + noise * rng.standard_normal((n, 2))


def crossing_circles(rng, n):
    a = circle(rng, n // 2, 0.02)
    b = circle(rng, n - n // 2, 0.02)
    return np.r_[np.c_[a, np.zeros(len(a))], np.c_[np.zeros(len(b)), b]]


def sphere(rng, n, d=3):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def torus(rng, n, R=2.0, r=0.8):
    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    return np.c_[(R + r * np.cos(v)) * np.cos(u), (R + r * np.cos(v)) * np.sin(u), r * np.sin(v)]


def write_cloud(path, x, fmt="%.6f"):
    np.savetxt(path, x, fmt=fmt)


def dist_matrix(x):
    """Ripser's float Euclidean distances (for writing distance files)."""
    x = x.astype(np.float32)
    diff = x[:, None, :] - x[None, :, :]
    s = np.zeros(diff.shape[:2], np.float32)
    for k in range(x.shape[1]):
        s = (s + diff[:, :, k] * diff[:, :, k]).astype(np.float32)
    return np.sqrt(s).astype(np.float32)


def main():
    if RIPSER is None or np is None:
        print("SKIP: ripser (Debian package) or numpy not available")
        return 77
    rng = np.random.default_rng(20240611)
    tmp = tempfile.mkdtemp(prefix="ph_ripser.")
    errors, count = [], 0

    def check(path, fmt, args=(), label="", **kw):
        nonlocal count
        count += 1
        e = compare(path, fmt, args, label or os.path.basename(path), **kw)
        if e:
            errors.append(e)
            print("FAIL", e)
        else:
            print("ok  ", label or os.path.basename(path), fmt, " ".join(args))

    def cloud(name, x, fmt="%.6f"):
        p = os.path.join(tmp, name + ".txt")
        write_cloud(p, x, fmt)
        return p

    # clouds of known topology
    check(cloud("circle", circle(rng, 120)), "point-cloud", ["--dim", "1"], "noisy circle")
    check(cloud("circles", crossing_circles(rng, 160)), "point-cloud", ["--dim", "1"], "crossing circles")
    check(cloud("sphere", sphere(rng, 120)), "point-cloud", ["--dim", "2"], "2-sphere")
    check(cloud("torus", torus(rng, 150)), "point-cloud", ["--dim", "2"], "torus")
    for n in (60, 150, 300):
        p = cloud("r8_%d" % n, rng.standard_normal((n, 8)))
        check(p, "point-cloud", ["--dim", "2" if n <= 150 else "1"], "R^8 n=%d" % n)
        check(p, "point-cloud", ["--dim", "1"], "R^8 n=%d 1 thread" % n, threads=1)
    check(cloud("r8_3", rng.standard_normal((40, 8))), "point-cloud", ["--dim", "3"], "R^8 n=40 dim 3")
    # ties: integer grids, repeated distances, duplicates, a threshold at a value
    g = np.array([(i, j) for i in range(7) for j in range(6)], float)
    pg = cloud("grid", g, "%d")
    check(pg, "point-cloud", ["--dim", "2"], "grid 7x6")
    check(pg, "point-cloud", ["--dim", "2", "--threshold", "1"], "grid threshold = 1 (a value)")
    check(pg, "point-cloud", ["--dim", "2", "--threshold", "2"], "grid threshold = 2")
    g3 = np.array([(i, j, k) for i in range(4) for j in range(4) for k in range(3)], float)
    check(cloud("grid3", g3, "%d"), "point-cloud", ["--dim", "2"], "grid 4x4x3")
    dup = np.r_[circle(rng, 40), circle(rng, 10)]
    dup = np.r_[dup, dup[:7]]
    check(cloud("dups", dup), "point-cloud", ["--dim", "2"], "duplicate points")
    q = rng.integers(0, 4, (40, 3)).astype(float)
    check(cloud("coarse", q, "%d"), "point-cloud", ["--dim", "2"], "coarse integer cloud (many ties)")
    # thresholds and ratios
    x = circle(rng, 100, 0.1)
    p = cloud("circle2", x)
    for a in (["--threshold", "0.5"], ["--threshold", "1.2", "--dim", "2"], ["--ratio", "1.5"],
              ["--ratio", "2", "--threshold", "0.8"]):
        check(p, "point-cloud", a, "circle " + " ".join(a))
    # the distance formats, on one matrix with repeated distances
    y = np.round(rng.uniform(0, 3, (45, 3)), 1)
    D = dist_matrix(y)
    n = len(D)
    il = np.tril_indices(n, -1)
    pd = os.path.join(tmp, "full.txt")
    np.savetxt(pd, D, fmt="%.9g")
    check(pd, "distance", ["--dim", "2"], "distance")
    pl = os.path.join(tmp, "lower.txt")
    with open(pl, "w") as f:
        for i in range(1, n):
            f.write(",".join("%.9g" % D[i, j] for j in range(i)) + "\n")
    check(pl, "lower-distance", ["--dim", "2"], "lower-distance")
    check(pl, "lower-distance", ["--dim", "2", "--threshold", "1.5"], "lower-distance threshold")
    pu = os.path.join(tmp, "upper.txt")
    with open(pu, "w") as f:
        for i in range(n - 1):
            f.write(" ".join("%.9g" % D[i, j] for j in range(i + 1, n)) + "\n")
    check(pu, "upper-distance", ["--dim", "2"], "upper-distance")
    pb = os.path.join(tmp, "lower.bin")
    D[il].astype("<f4").tofile(pb)
    # ripser 1.2.1's binary reader pushes one value too many at the end of the file
    # (an eof() loop) and aborts, so it reads the same matrix as text here
    check(pb, "binary", ["--dim", "2"], "binary", rpath=pl, rfmt="lower-distance")
    pdip = os.path.join(tmp, "m.dipha")
    with open(pdip, "wb") as f:
        np.array([8067171840, 7, n], "<i8").tofile(f)
        D.astype("<f8").tofile(f)
    check(pdip, "dipha", ["--dim", "2"], "dipha")
    ps = os.path.join(tmp, "sparse.txt")
    with open(ps, "w") as f:
        for i in range(n):
            for j in range(i):
                if D[i, j] <= 1.6:
                    f.write("%d %d %.9g\n" % (i, j, D[i, j]))
    check(ps, "sparse", ["--dim", "2"], "sparse")
    check(ps, "sparse", ["--dim", "2", "--threshold", "1.2"], "sparse threshold")
    # random clouds
    for k in range(12):
        n = int(rng.integers(5, 70))
        d = int(rng.integers(1, 6))
        xr = rng.standard_normal((n, d))
        dim = int(rng.integers(1, 4))
        a = ["--dim", str(dim)]
        if k % 3 == 1:
            a += ["--threshold", "%.3f" % rng.uniform(0.5, 2.0)]
        check(cloud("rand%d" % k, xr), "point-cloud", a, "random n=%d d=%d" % (n, d))
    # stdin, like ripser < file
    rc, out1, _ = run([NERVE, "ph", "--format", "point-cloud", os.path.join(tmp, "circle.txt")], env=NOPATH_ENV)
    with open(os.path.join(tmp, "circle.txt"), "rb") as f:
        rc2, out2, _ = run([NERVE, "ph", "--format", "point-cloud"], stdin=f.read(), env=NOPATH_ENV)
    count += 1
    if rc or rc2 or out1 != out2:
        errors.append("stdin output differs from file output")
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (count - len(errors), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
