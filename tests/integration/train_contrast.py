"""train_contrast: the default spheres experiment shows the contrast it exists for,
averaged over 3 seeds: the expressive net reaches >= 97% test accuracy, the
bottlenecked one is at least 10 points lower, and the linear baseline says what
"cannot solve" means. Runs the real experiments/spheres.cfg (snapshots off to save
time: they do not change training)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from nervetest import ROOT, check, finish, run, tmpdir  # noqa: E402

d = tmpdir("contrast")
acc = {"expressive": [], "bottleneck": [], "linear": []}
for seed in (1, 2, 3):
    out = os.path.join(d, "s%d" % seed)
    run(["train", os.path.join(ROOT, "experiments", "spheres.cfg"), "--out", out, "--seed", str(seed),
         "--set", 'snapshots: { epochs = [60]; layers = ["logits"]; };'])
    s = json.load(open(os.path.join(out, "summary.json")))["models"]
    for m in acc:
        acc[m].append(s[m]["test_acc"])
    print("seed %d: %s" % (seed, {m: round(s[m]["test_acc"], 4) for m in acc}))
mean = {m: sum(v) / len(v) for m, v in acc.items()}
print("mean test accuracy over 3 seeds:", {m: round(v, 4) for m, v in mean.items()})
check(mean["expressive"] >= 0.97, "expressive net >= 97%% test accuracy (%.4f)" % mean["expressive"])
check(mean["bottleneck"] <= mean["expressive"] - 0.10,
      "bottlenecked net at least 10 points lower (%.4f vs %.4f)" % (mean["bottleneck"], mean["expressive"]))
check(mean["linear"] < mean["expressive"] - 0.10, "the linear baseline cannot solve it either (%.4f)" % mean["linear"])
finish()
