#!/usr/bin/python3
"""ph_gudhi.py: `nerve ph` over Z/3 and Z/5 against GUDHI (python3-gudhi:
RipsComplex + persistence(homology_coeff_field=p)), the birth and death simplices
of --output pairs --simplices against GUDHI's persistence_pairs(), and torsion:
on a sample of the projective plane Z/2 and Z/3 must differ the way topology says.

Debian 12 has no ripser-coeff, so GUDHI is the Z/p oracle; where Z/2 and Z/3 must
agree (torsion-free clouds), nerve --modulus 3 is also compared with ripser (Z/2).
GUDHI gets the very float32 distances nerve reads (a lower-distance file), widened
to double, so filtration values agree exactly.
Exit 0 pass, 77 skip (no gudhi), 1 fail.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ph_ripser as pr  # noqa: E402

try:
    import gudhi
except ImportError:
    gudhi = None


def write_lower(path, D):
    n = len(D)
    with open(path, "w") as f:
        for i in range(1, n):
            f.write(" ".join("%.9g" % D[i, j] for j in range(i)) + "\n")


def gudhi_bars(D, maxdim, p, threshold=None):
    """{dim: [(birth, death)]} and the persistence pairs as vertex lists."""
    Dd = D.astype(float)
    kw = {"distance_matrix": Dd}
    if threshold is not None:
        kw["max_edge_length"] = threshold
    st = gudhi.RipsComplex(**kw).create_simplex_tree(max_dimension=maxdim + 1)
    # persistence_dim_max: below a threshold the complex may stop at dimension maxdim,
    # whose homology GUDHI skips by default
    st.compute_persistence(homology_coeff_field=p, min_persistence=0, persistence_dim_max=True)
    bars = {}
    for k in range(maxdim + 1):
        bars[k] = [(float(b), float(d)) for b, d in st.persistence_intervals_in_dimension(k)]
    return bars, st.persistence_pairs()


def diam(D, vs):
    vs = list(vs)
    if len(vs) < 2:
        return 0.0
    return max(float(D[a, b]) for a in vs for b in vs if a < b)


def f32(x):
    """nerve prints float32 values with 9 digits: equal as float32, not as double."""
    return float(pr.np.float32(x))


def check_case(tmp, name, D, maxdim, p, threshold=None, errors=None):
    path = os.path.join(tmp, name + ".txt")
    write_lower(path, D)
    args = [pr.NERVE, "ph", "--format", "lower-distance", "--dim", str(maxdim), "--modulus", str(p),
            "--output", "pairs", "--simplices"]
    if threshold is not None:
        args += ["--threshold", "%.9g" % threshold]
    rc, out, err = pr.run(args + [path], env=pr.NOPATH_ENV)
    if rc != 0:
        errors.append("%s: nerve failed: %s" % (name, err[-300:]))
        return None
    nb = pr.parse_pairs(out)
    gb, gpairs = gudhi_bars(D, maxdim, p, threshold)
    bad = None
    for k in range(maxdim + 1):
        e = pr.match([(b, d) for b, d, _, _ in nb.get(k, [])], gb.get(k, []))
        if e:
            bad = "%s Z/%d dim %d: %s" % (name, p, k, e)
            break
    # the simplices: right dimension, diameter = the bar's value
    if not bad:
        for k, rows in nb.items():
            for b, d, bs, ds in rows:
                if len(bs) != k + 1 or diam(D, bs) != f32(b):
                    bad = "%s: birth simplex %s of [%g,%g) in dim %d has diameter %g" % (name, bs, b, d, k, diam(D, bs))
                    break
                if d != float("inf") and (ds is None or len(ds) != k + 2 or diam(D, ds) != f32(d)):
                    bad = "%s: death simplex %s of [%g,%g) in dim %d" % (name, ds, b, d, k)
                    break
                if d == float("inf") and ds is not None:
                    bad = "%s: essential bar with a death simplex" % name
                    break
            if bad:
                break
    # against GUDHI's persistence pairs: the same (dim, birth, death) from the
    # simplices' diameters (ties may pick other simplices of equal diameter)
    same_simplices = total = 0
    if not bad:
        mine = sorted((len(bs) - 1, diam(D, bs), diam(D, ds) if ds else float("inf"))
                      for rows in nb.values() for _, _, bs, ds in rows)
        theirs = []
        ours = {(tuple(sorted(bs)), tuple(sorted(ds)) if ds else None) for rows in nb.values() for _, _, bs, ds in rows}
        for bs, ds in gpairs:
            k = len(bs) - 1
            if k > maxdim:
                continue
            b = diam(D, bs)
            d = diam(D, ds) if ds else float("inf")
            if d != float("inf") and d <= b:
                continue  # zero length
            theirs.append((k, b, d))
            total += 1
            same_simplices += (tuple(sorted(bs)), tuple(sorted(ds)) if ds else None) in ours
        theirs.sort()
        if len(mine) != len(theirs) or any(a[0] != b[0] or not pr.close(a[1], b[1]) or
                                           not (a[2] == b[2] or pr.close(a[2], b[2])) for a, b in zip(mine, theirs)):
            bad = "%s Z/%d: pair diameters differ from GUDHI's persistence_pairs (%d vs %d)" % (
                name, p, len(mine), len(theirs))
    if bad:
        errors.append(bad)
        print("FAIL", bad)
    else:
        print("ok   %-28s Z/%d dim<=%d%s  (%d/%d pairs with GUDHI's very simplices)" % (
            name, p, maxdim, "" if threshold is None else " threshold %g" % threshold, same_simplices, total))
    return nb


def main():
    if gudhi is None or pr.np is None:
        print("SKIP: python3-gudhi or numpy not available (run under /usr/bin/python3)")
        return 77
    np = pr.np
    rng = np.random.default_rng(7)
    tmp = tempfile.mkdtemp(prefix="ph_gudhi.")
    errors = []
    cases = [
        ("circle", pr.dist_matrix(pr.circle(rng, 60)), 1),
        ("crossing circles", pr.dist_matrix(pr.crossing_circles(rng, 70)), 1),
        ("2-sphere", pr.dist_matrix(pr.sphere(rng, 45)), 2),
        ("torus", pr.dist_matrix(pr.torus(rng, 60)), 2),
        ("R^8 n=50", pr.dist_matrix(rng.standard_normal((50, 8))), 2),
        ("grid 5x5 (ties)", pr.dist_matrix(np.array([(i, j) for i in range(5) for j in range(5)], float)), 2),
        ("coarse ints (ties)", pr.dist_matrix(rng.integers(0, 3, (30, 3)).astype(float)), 2),
    ]
    for name, D, k in cases:
        for p in (2, 3, 5):
            check_case(tmp, name.replace(" ", "_").replace("^", ""), D, k, p, errors=errors)
    # a threshold equal to a filtration value
    D = pr.dist_matrix(np.array([(i, j) for i in range(5) for j in range(4)], float))
    check_case(tmp, "grid_threshold", D, 2, 3, threshold=1.0, errors=errors)
    check_case(tmp, "grid_threshold2", D, 2, 3, threshold=float(np.float32(np.sqrt(2))), errors=errors)
    # torsion: RP^2 as the sphere mod antipodes (d = min(|x-y|, |x+y|)), Z/2 sees
    # H1 and H2, Z/3 sees neither
    x = pr.sphere(np.random.default_rng(11), 70).astype(np.float32)
    Dp = np.minimum(pr.dist_matrix(x), pr.dist_matrix(np.r_[x, -x])[:70, 70:]).astype(np.float32)
    np.fill_diagonal(Dp, 0)
    Dp = np.minimum(Dp, Dp.T)
    b2 = check_case(tmp, "RP2", Dp, 2, 2, errors=errors)
    b3 = check_case(tmp, "RP2", Dp, 2, 3, errors=errors)
    if b2 and b3:
        # the fundamental class of RP^2 exists over Z/2 only: a long H2 bar
        long2 = max((d - b for b, d, _, _ in b2.get(2, [])), default=0)
        long3 = max((d - b for b, d, _, _ in b3.get(2, [])), default=0)
        if not long2 > 2 * long3:
            errors.append("RP2: Z/2 H2 bar %g is not clearly longer than Z/3's %g" % (long2, long3))
            print("FAIL", errors[-1])
        else:
            print("ok   RP2 torsion: longest H2 bar %.3f over Z/2, %.3f over Z/3" % (long2, long3))
    # Z/3 = Z/2 on torsion-free clouds: nerve --modulus 3 against ripser
    if pr.RIPSER:
        for name, xx, k in (("circle", pr.circle(rng, 80), 1), ("torus", pr.torus(rng, 90), 2),
                            ("sphere", pr.sphere(rng, 60), 2)):
            path = os.path.join(tmp, name + "_pc.txt")
            pr.write_cloud(path, xx)
            rc, rout, _ = pr.run([pr.RIPSER, "--format", "point-cloud", "--dim", str(k), path])
            rc2, nout, nerr = pr.run([pr.NERVE, "ph", "--format", "point-cloud", "--dim", str(k), "--modulus", "3", path],
                                     env=pr.NOPATH_ENV)
            _, rb = pr.parse_ripser(rout)
            _, nb = pr.parse_ripser(nout)
            e = None if rc2 == 0 else nerr
            for dim in rb:
                e = e or pr.match([(b, d) for b, d, _ in nb.get(dim, [])], [(b, d) for b, d, _ in rb[dim]])
            if e:
                errors.append("%s Z/3 vs ripser Z/2: %s" % (name, e))
                print("FAIL", errors[-1])
            else:
                print("ok   %-28s nerve Z/3 = ripser Z/2" % name)
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
