#!/usr/bin/python3
"""ph_landmarks.py: the point-cloud options of `nerve ph` that go beyond Ripser:
--landmarks (maxmin, random) must give exactly ripser's barcode of the chosen rows
(which --output pairs names in its '# landmarks:' line), and the metrics of
include/nerve/metric.h (cosine, knn-hops, knn-weighted, --normalize) must run and
see a noisy circle as one long H1 bar.
Exit 0 pass, 77 skip (no ripser / numpy), 1 fail.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ph_ripser as pr  # noqa: E402


def main():
    if pr.RIPSER is None or pr.np is None:
        print("SKIP: ripser or numpy not available")
        return 77
    np = pr.np
    tmp = tempfile.mkdtemp(prefix="ph_landmarks.")
    errors = []
    x = pr.circle(np.random.default_rng(5), 300, 0.03)
    path = os.path.join(tmp, "c.txt")
    pr.write_cloud(path, x)
    rows = open(path).read().splitlines()
    for method, extra in (("maxmin", []), ("random", ["--seed", "9"])):
        base = [pr.NERVE, "ph", "--format", "point-cloud", "--landmarks", "60", "--landmark-method", method] + extra
        rc, out, err = pr.run(base + ["--output", "pairs", path], env=pr.NOPATH_ENV)
        lm = [ln for ln in out.splitlines() if ln.startswith("# landmarks:")]
        if rc or not lm:
            errors.append("%s: no landmarks line (rc %d): %s" % (method, rc, err[-200:]))
            continue
        idx = [int(v) for v in lm[0].split(":")[1].split()]
        if len(idx) != 60 or len(set(idx)) != 60 or not all(0 <= i < 300 for i in idx):
            errors.append("%s: bad landmark list %s" % (method, idx[:10]))
            continue
        sub = os.path.join(tmp, "sub_%s.txt" % method)
        with open(sub, "w") as f:
            f.write("\n".join(rows[i] for i in idx) + "\n")
        rc, rout, _ = pr.run([pr.RIPSER, "--format", "point-cloud", sub])
        rc2, nout, nerr = pr.run(base + [path], env=pr.NOPATH_ENV)
        _, rb = pr.parse_ripser(rout)
        _, nb = pr.parse_ripser(nout)
        e = None if rc2 == 0 else nerr
        for dim in rb:
            e = e or pr.match([(b, d) for b, d, _ in nb.get(dim, [])], [(b, d) for b, d, _ in rb[dim]])
        if e:
            errors.append("%s landmarks vs ripser on the same rows: %s" % (method, e))
        else:
            print("ok   --landmarks 60 --landmark-method %s = ripser on those rows" % method)
    for metric in (["--metric", "cosine"], ["--metric", "knn-hops", "--k", "8"],
                   ["--metric", "knn-weighted", "--k", "8"], ["--normalize", "--k", "8"],
                   ["--metric", "knn-hops", "--k", "8", "--landmarks", "80"]):
        rc, out, err = pr.run([pr.NERVE, "ph", "--format", "point-cloud", "--output", "pairs"] + metric + [path],
                              env=pr.NOPATH_ENV)
        bars = pr.parse_pairs(out).get(1, [])
        lengths = sorted((d - b) / max(d, 1e-12) for b, d, _, _ in bars if d != float("inf"))
        # one bar much longer, relative to its death, than every other
        if rc or not lengths or (len(lengths) > 1 and not lengths[-1] > 2 * lengths[-2]):
            errors.append("%s: expected one dominant H1 bar, rc %d, relative lengths %s %s" % (
                " ".join(metric), rc, lengths[-3:], err[-200:]))
        else:
            print("ok   %s: one dominant H1 bar" % " ".join(metric))
    shutil.rmtree(tmp, ignore_errors=True)
    for e in errors:
        print("FAIL", e)
    print("%d failed" % len(errors))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
