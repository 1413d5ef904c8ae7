"""naitzat_grid: experiments/naitzat_grid.py, the homology protocol of Naitzat et al.'s
code (a grid, classes by the net's prediction, every 4th point, and the origin its
CSV files add), on a hand-made sweep of one ReLU net 2-2-2 whose answers are known:
hidden = (relu(x - 0.5), relu(-x - 0.5)), class a where either is positive, i.e.
two strips |x| > 0.5 of the grid (two components at the input); the origin lies
halfway between them, as near to one as to the other, so its neighbours join them
(one component). The data reading is the held-out points of class a: two clusters.
Then a directory that is not a sweep is refused."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "tests", "lib"))
from nervetest import NERVE, check, finish, tmpdir  # noqa: E402

script = os.path.join(root, "experiments", "naitzat_grid.py")
d = tmpdir("grid")
run = os.path.join(d, "sweep", "tasks", "0000", "run")
os.makedirs(os.path.join(run, "checkpoints"))
with open(os.path.join(d, "sweep", "tasks", "0000", "config.cfg"), "w") as f:
    f.write('seed = 1;\nmodels: {\n  activation = "relu";\n};\n')
with open(os.path.join(run, "summary.json"), "w") as f:
    json.dump({"models": {"expressive": {"widths": [2, 2, 2], "train_acc": 1.0}}}, f)
# W1 (2 x 2) row-major, b1, W2, b2 (netspec.h); logit0 = h1 + h2, logit1 = 0.01
params = np.array([1, 0, -1, 0, -0.5, -0.5, 1, 1, 0, 0, 0, 0.01], np.float32)
with h5py.File(os.path.join(run, "checkpoints", "expressive.h5"), "w") as f:
    f["params"] = params
rng = np.random.default_rng(1)
blobs = np.vstack([rng.normal((-0.8, 0), 0.02, (40, 2)), rng.normal((0.8, 0), 0.02, (40, 2)),
                   rng.normal((0, 0.8), 0.02, (40, 2))]).astype(np.float32)
with h5py.File(os.path.join(run, "data.h5"), "w") as f:
    f["test/x"] = blobs
    f["test/y"] = np.array([0] * 80 + [1] * 40, np.int32)  # the third blob is class b

p = subprocess.run(["/usr/bin/python3", script, NERVE, os.path.join(d, "sweep"), "--out", os.path.join(d, "t.md")],
                   capture_output=True, text=True)
check(p.returncode == 0, "naitzat_grid.py runs (%s)" % p.stderr.strip()[-300:])
rows = {}
for line in p.stdout.splitlines():
    cells = [c.strip() for c in line.strip("|").split("|")]
    if len(cells) > 4 and cells[0] == "ReLU":
        rows[cells[1]] = cells
check(set(rows) >= {"data", "grid", "code", "paper"}, "ReLU rows for the three readings and the paper: %s" % sorted(rows))
if {"data", "grid", "code"} <= set(rows):
    check(rows["data"][2] == "1", "one net qualifies")
    check(rows["data"][3] == "2.00", "data: the two held-out clusters of class a read 2 (%s)" % rows["data"][3])
    check(rows["grid"][3] == "2.00", "grid: the two predicted strips read 2 at the input (%s)" % rows["grid"][3])
    check(rows["code"][3] == "1.00", "code: the origin between the strips joins them (%s)" % rows["code"][3])
    check(rows["grid"][13] == "1.00", "logits: the strips meet (%s)" % rows["grid"][13])
    check(rows["grid"][5] == "", "no hidden2 in a net of one hidden layer (%r)" % rows["grid"][5])
check(os.path.exists(os.path.join(d, "t.md")), "--out writes the table")

p = subprocess.run(["/usr/bin/python3", script, NERVE, d], capture_output=True, text=True)
check(p.returncode != 0 and "not a sweep directory" in p.stderr, "a directory without tasks/ is refused: %s" %
      p.stderr.strip())
finish()
