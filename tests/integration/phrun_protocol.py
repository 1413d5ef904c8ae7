#!/usr/bin/python3
"""phrun_protocol.py: the options of `nerve ph RUN` that Naitzat et al.'s protocol needs
(docs/naitzat-di.md, docs/ph-runs.md), on a tiny run of the paper's D-I data
(data.source = "disks", a 2-15-15-2 net, 2 epochs; about 20 s):

1. --landmarks all --dedup --splits test --k 13, the target from the data: the
   calibration (on the test split, per class (9, 0) for class a and (1, 9) for
   class b) finds the paper's 2 hops inside its interval, and the input layer reads
   those Betti numbers; every point of a class is used (n_points = landmarks =
   n_unique on the input, where no two grid points coincide).
2. --dedup: a copy of the run whose hidden2 repeats one row of class a 60 times:
   n_unique equals numpy's count of distinct rows, and the diagram's points are that
   many (and without --dedup, every row).
3. --models expressive: only the expressive net's diagram files; --no-distances: no
   distances.csv; --target-betti 9,0/1,9 given explicitly reads the same.
4. Bad input exits 2: --target-betti lists of different lengths, --landmarks 1,
   --models with a model the run lacks.

Exit 0 pass, 77 skip (no numpy or h5py), 1 fail."""
import csv
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print("SKIP phrun_protocol: %s" % e)
    sys.exit(77)
from nervetest import check, finish, run, tmpdir, write

CFG = """experiment = "di"; seed = 1; device = "cpu";
data: { source = "disks"; test_fraction = 0.22; };
models: { hidden = [15, 15]; activation = "relu"; bottleneck_layer = 1; bottleneck_width = 3;
          linear_baseline = false; };
train: { epochs = 2; batch_size = 64; lr = 0.01; };
snapshots: { epochs = [2]; layers = "all"; };
"""


def main():
    tmp = tmpdir("phrun-protocol")
    rundir = os.path.join(tmp, "run")
    run(["train", write(os.path.join(tmp, "di.cfg"), CFG), "--out", rundir])
    common = ["--splits", "test", "--landmarks", "all", "--dedup", "--k", "13", "--no-figures", "--label-k", "0"]
    _, out, _ = run(["ph", rundir, "--models", "expressive", "--no-distances", "--layer", "input"] + common)
    cal = json.load(open(os.path.join(rundir, "analysis/ph/calibration.json")))
    print(out.strip())
    check(cal["target_betti"] == [[9, 0], [1, 9]], "the target comes from the data, per class: %s" % cal["target_betti"])
    check(cal["k"] == 13 and cal["reference"]["split"] == "test", "calibrated at k = 13 on the test split")
    check(cal["scale_lo"] <= 2 < (cal["scale_hi"] if cal["scale_hi"] is not None else 1e9),
          "the paper's 2 hops lie in the calibrated interval [%s, %s)" % (cal["scale_lo"], cal["scale_hi"]))
    rows = list(csv.DictReader(open(os.path.join(rundir, "analysis/ph/summary.csv"))))
    b = {(r["layer"], r["class"], r["dim"]): int(r["betti_at_scale"]) for r in rows}
    check((b[("input", "0", "0")], b[("input", "0", "1")]) == (9, 0), "class a at the input: (9, 0)")
    check((b[("input", "1", "0")], b[("input", "1", "1")]) == (1, 9), "class b at the input: (1, 9)")
    check({r["model"] for r in rows} == {"expressive"}, "--models expressive: only the expressive net")
    check(not os.path.exists(os.path.join(rundir, "analysis/ph/bottleneck")), "no bottleneck diagram files")
    check(not os.path.exists(os.path.join(rundir, "analysis/ph/distances.csv")), "--no-distances: no distances.csv")

    with h5py.File(os.path.join(rundir, "analysis/ph/expressive/epoch_0002.h5"), "r") as d:
        for c, n in ((0, 296), (1, 1915)):
            g = d["input/test/class_%d" % c]
            check(g.attrs["n_points"] == n and g.attrs["n_unique"] == n and g.attrs["landmarks"] == n
                  and g.attrs["landmark_method"] == "all", "input class %d: all %d points in the complex" % (c, n))
    # --dedup on a layer with repeated rows
    dup = os.path.join(tmp, "dup")
    shutil.copytree(rundir, dup, ignore=shutil.ignore_patterns("analysis"))
    with h5py.File(os.path.join(dup, "snapshots/expressive/epoch_0002.h5"), "r+") as s:
        y = s["labels/test"][...]
        ds = s["layers/hidden2/test"]
        x = ds[...]
        rows = np.where(y == 0)[0]
        x[rows[1:61]] = x[rows[0]]
        ds[...] = x
    for dedup in (True, False):
        flags = ["--splits", "test", "--landmarks", "all", "--k", "13", "--scale", "2", "--no-figures",
                 "--label-k", "0", "--no-distances", "--models", "expressive", "--layer", "hidden2", "--force"]
        run(["ph", dup] + flags + (["--dedup"] if dedup else []))
        with h5py.File(os.path.join(dup, "analysis/ph/expressive/epoch_0002.h5"), "r") as d:
            g = d["hidden2/test/class_0"]
            uniq = len(np.unique(x[y == 0] + 0.0, axis=0))  # + 0.0: -0 and +0 are one row
            want = uniq if dedup else (y == 0).sum()
            check(g.attrs["n_points"] == (y == 0).sum() and g.attrs["n_unique"] == want
                  and g.attrs["landmarks"] == want,
                  "%s: %d rows, %d distinct: the complex has %d points (stored %d, %d, %d)"
                  % ("--dedup" if dedup else "no --dedup", (y == 0).sum(), uniq, want, g.attrs["n_points"],
                     g.attrs["n_unique"], g.attrs["landmarks"]))
    # the same target given explicitly, per class
    again = os.path.join(tmp, "again")
    shutil.copytree(rundir, again, ignore=shutil.ignore_patterns("analysis"))
    run(["ph", again, "--models", "expressive", "--no-distances", "--target-betti", "9,0/1,9", "--layer", "input"]
        + common)
    cal2 = json.load(open(os.path.join(again, "analysis/ph/calibration.json")))
    check((cal2["k"], cal2["scale"]) == (cal["k"], cal["scale"]), "--target-betti 9,0/1,9 calibrates the same")
    # bad input
    for bad in (["--target-betti", "9,0/1"], ["--landmarks", "1"], ["--models", "nosuch"]):
        rc, _, err = run(["ph", rundir] + bad, expect=None)
        check(rc == 2, "%s exits 2 (%d: %s)" % (" ".join(bad), rc, err.strip().splitlines()[-1] if err.strip() else ""))
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
