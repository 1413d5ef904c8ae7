#!/usr/bin/env python3
"""query_events.py: the pre-explosion and weight-to-zero presets find events planted
in runs built to have them (docs/queries.md).

pre-explosion: a data set of 256 points in R^6 (two classes by the sign of a
projection, all of them training samples) in which one sample is scaled by 1000. The
step that feeds it (labelled so that its loss is large) has gradients far above the
alarm threshold (their entries are d_i a_i / b with every layer's a_i ~ 1000 times
the usual), while every earlier step is calm. The preset must name that step, and
list that sample among the last k fed, at its position in the batch counted from the
end, with the largest gradient norm; the same with --alarm abs.

weight-to-zero: two trainings of the same config and seed, one saving only step 0's
weights (the preset replays the weight from the factors) and one saving every step's
weights (the ground truth). A weight whose saved trajectory changes sign at a known
step after the first epoch is chosen; the preset on the first run must find that
step, with w_before and w_after equal to the saved weights bit for bit; with a
tolerance, the first step at which |w| falls to it.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover
    print(f"SKIP: numpy/h5py not importable ({e}); run under /usr/bin/python3")
    sys.exit(77)
from querylib import NERVE, check, finish, flat_index, layer_names, query, train  # noqa: E402

tmp = tempfile.mkdtemp(prefix="nerve-qev-")

# --- pre-explosion: one sample far outside the data --------------------------------------
rng = np.random.default_rng(7)
x = rng.standard_normal((256, 6)).astype(np.float32)
y = (x @ np.array([1, -1, 0.5, 0, 0, 0.3]) > 0).astype(np.int32)
OUT = 173
x[OUT] *= 1000.0
src = os.path.join(tmp, "outlier.h5")
cfg = os.path.join(tmp, "outlier.cfg")
run = os.path.join(tmp, "outlier")


def train_outlier(label):
    """Trains on the data with the outlier labelled `label`; returns its loss where fed."""
    y[OUT] = label
    with h5py.File(src, "w") as h:
        h["x"] = x
        h["y"] = y
    with open(cfg, "w") as h:
        h.write(f"""experiment = "outlier";
seed = 3;
data: {{ source = "hdf5"; test_fraction = 0.0; hdf5: {{ path = "{src}"; x = "/x"; y = "/y"; }}; }};
models: {{ hidden = [16, 12]; bottleneck_width = 2; linear_baseline = false; }};
train: {{ epochs = 2; batch_size = 32; optimizer = "sgd"; lr = 0.01; momentum = 0.0; }};
snapshots: {{ epochs = [2]; layers = ["logits"]; }};
dynamics: {{ enabled = true; models = ["expressive"]; samples: {{ every = 1; }}; factors: {{ every = 1; }}; }};
""")
    subprocess.run(["rm", "-rf", run])
    p = subprocess.run([NERVE, "train", cfg, "--out", run], capture_output=True, text=True)
    check(f"the outlier run trains (label {label})", p.returncode == 0, p.stderr[-800:])
    with h5py.File(os.path.join(run, "dynamics", "expressive.h5"), "r") as h:
        return float(h["samples/loss"][int(np.flatnonzero(h["samples/sample_id"][:] == OUT)[0])])


# the outlier's logits are ~1000 times a normal sample's: one label makes its loss (and
# its delta, and the first layer's gradient through a_i ~ 1000) huge, the other ~0.
# The steps before it are the same either way, so the other label is the planted one.
if train_outlier(int(y[OUT])) < 10:
    check("the outlier, relabelled, has a huge loss where it is fed", train_outlier(1 - int(y[OUT])) > 10)
f = h5py.File(os.path.join(run, "dynamics", "expressive.h5"), "r")
fid, fstep = f["factors/sample_id"][:], f["factors/step"][:]
first = int(np.flatnonzero(fid == OUT)[0])
s_out = int(fstep[first])
pos_from_end = int(np.flatnonzero(fstep == s_out)[-1]) - first  # 0 = the last of its batch
check(f"the outlier (sample {OUT}) is fed at step {s_out}, after a calm start", s_out >= 2)
for alarm in ("any", "abs"):
    res = query([run, "--preset", "pre-explosion", "--alarm", alarm, "-k", "40"])
    ev = res["tables"]["event"]
    check(f"pre-explosion --alarm {alarm}: the event is the outlier's step ({s_out})",
          len(ev) == 1 and ev[0]["step"] == s_out, str(ev))
    check(f"pre-explosion --alarm {alarm}: an explosion (more than half of a layer's entries alarmed)",
          len(ev) == 1 and ev[0]["alarm_fraction"] > 0.5, str(ev))
    sm = res["tables"]["samples"]
    hit = [r for r in sm if r["sample_id"] == OUT]
    check(f"pre-explosion --alarm {alarm}: the outlier is among the last 40 samples, rank {pos_from_end + 1}",
          len(hit) == 1 and hit[0]["rank"] == pos_from_end + 1 and hit[0]["step"] == s_out, str(hit))
    check(f"pre-explosion --alarm {alarm}: its loss and gradient norm are the largest listed",
          len(hit) == 1 and hit[0]["grad_norm"] == max(r["grad_norm"] for r in sm))
res = query([run, "--preset", "pre-explosion", "--layer", "logits", "--alarm", "abs", "--fraction", "0.999"])
check("pre-explosion: no event in the logits above 0.999: an empty answer", not res["tables"]["event"])

# --- weight-to-zero: a sign change at a known step -------------------------------------------
sparse = train(tmp, "sparse", epochs=5, wevery=1000)
dense = train(tmp, "dense", epochs=5, wevery=1)
fd = h5py.File(os.path.join(dense, "dynamics", "expressive.h5"), "r")
L = layer_names(fd)
widths = [int(w) for w in fd.attrs["widths"]]
spe = int(fd.attrs["steps_per_epoch"])
W = fd["weights/params"][:]
found = 0
for k in (1, 0, 2):
    for r in range(widths[k + 1]):
        for c in range(widths[k] + 1):
            t = W[:, flat_index(widths, k, r, c)]
            flips = np.flatnonzero(((t[:-1] > 0) & (t[1:] < 0)) | ((t[:-1] < 0) & (t[1:] > 0))) + 1
            if not len(flips) or flips[0] <= spe + 1 or np.abs(t[1:flips[0]]).min() < 1e-5:
                continue
            s0 = int(flips[0])
            res = query([sparse, "--preset", "weight-to-zero", "--layer", L[k], "--weight", f"{r},{c}", "-k", "5"])
            ev = res["tables"]["event"]
            tag = f"weight-to-zero {L[k]}[{r},{c}]"
            check(f"{tag}: the sign change at step {s0}", len(ev) == 1 and ev[0]["step"] == s0, str(ev))
            check(f"{tag}: w before and after = the saved weights, bit for bit",
                  len(ev) == 1 and ev[0]["w_before"] == float(t[s0 - 1]) and ev[0]["w_after"] == float(t[s0]))
            check(f"{tag}: 5 samples listed, from the steps before it",
                  len(res["tables"]["samples"]) == 5 and all(s0 - spe < x["step"] <= s0 for x in res["tables"]["samples"]))
            # with a tolerance: the first step at which |w| <= tol
            tol = float(np.abs(t[1:s0]).min()) * 1.5
            s1 = int(np.flatnonzero(np.abs(t[1:].astype(np.float64)) <= tol)[0]) + 1
            res = query([sparse, "--preset", "weight-to-zero", "--layer", L[k], "--weight", f"{r},{c}", "--tolerance",
                         repr(tol)])
            ev = res["tables"]["event"]
            check(f"{tag} --tolerance {tol:.3g}: the first step with |w| <= tolerance ({s1})",
                  len(ev) == 1 and ev[0]["step"] == min(s1, s0), str(ev))
            found += 1
            break
        if found:
            break
    if found:
        break
check("a weight of the run changes sign after the first epoch (the planted event)", found == 1)
finish()
