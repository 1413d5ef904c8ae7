#!/usr/bin/python3
"""phrun_circles.py: `nerve ph RUN` on circles in R^12 (spheres with sphere_dim = 1),
whose classes have beta0 = beta1 = 1. The calibration takes that target from the
run's config (no --target-betti), and summary.csv must show beta1 = 1 (and beta0 = 1)
for every class at the input layer of every model and epoch. The calibration file
must record the target and a scale inside the interval it found.

Exit 0 pass, 77 skip (`nerve ph RUN` not wired yet), 1 fail.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

NERVE = os.environ.get("NERVE", "build/nerve")
ROOT = os.environ.get("NERVE_ROOT", ".")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        p = subprocess.run([NERVE, "train", os.path.join(ROOT, "experiments/spheres.cfg"), "--out", run,
                            "--epochs", "2", "--set",
                            "data: { spheres: { dim = 12; sphere_dim = 1; points_per_class = 150; }; }; "
                            "models: { linear_baseline = false; };"],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            print("FAIL: nerve train: %s" % p.stderr)
            return 1
        p = subprocess.run([NERVE, "ph", run, "--landmarks", "100", "--no-figures"], capture_output=True,
                           text=True, timeout=300)
        if "not supported" in p.stderr:
            print("SKIP phrun_circles: this nerve does not hand run directories to `nerve ph RUN` yet")
            return 77
        if p.returncode != 0:
            print("FAIL: nerve ph RUN exited %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
            return 1
        cal = json.load(open(os.path.join(run, "analysis/ph/calibration.json")))
        if cal["target_betti"] != [1, 1]:
            print("FAIL: calibration target %s, expected [1, 1] for circles" % cal["target_betti"])
            return 1
        hi = cal["scale_hi"] if cal["scale_hi"] is not None else float("inf")
        if not (cal["scale_lo"] <= cal["scale"] < hi):
            print("FAIL: calibrated scale %s outside [%s, %s)" % (cal["scale"], cal["scale_lo"], hi))
            return 1
        rows = [r for r in csv.DictReader(open(os.path.join(run, "analysis/ph/summary.csv")))
                if r["layer"] == "input" and r["class"] != "all"]
        if len(rows) != 2 * 3 * 2 * 2:  # models x epochs x classes x dims
            print("FAIL: %d input-layer class rows in summary.csv, expected 24" % len(rows))
            return 1
        bad = [r for r in rows if r["betti_at_scale"] != "1"]
        if bad:
            print("FAIL: circles should show beta0 = beta1 = 1 at the input layer: %s" % bad[:3])
            return 1
        print("circles: k = %d, scale = %g; beta0 = beta1 = 1 for %d input-layer class rows"
              % (cal["k"], cal["scale"], len(rows)))
    print("PASS phrun_circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
