"""train_e2e: a tiny run end to end, its files read back by h5py and h5dump and
checked against the documented layout (README.md, include/nerve/snapshot.h), and
determinism: two runs of one config give identical datasets under h5diff -d 0."""
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import h5py  # noqa: E402
import numpy as np  # noqa: E402

from nervetest import check, finish, run, tiny_config, tmpdir  # noqa: E402

d = tmpdir("e2e")
cfg = tiny_config(d, pre=True)
out_a = os.path.join(d, "a")
rc, so, se = run(["train", cfg, "--out", out_a, "--device", "auto"])
check("resolved configuration" in so, "prints the resolved configuration table")
for f in ["config.cfg", "run.json", "log.txt", "data.h5", "metrics.h5", "summary.json",
          "metrics/expressive.csv", "metrics/bottleneck.csv", "metrics/linear.csv",
          "checkpoints/expressive.h5", "snapshots/manifest.json"]:
    check(os.path.exists(os.path.join(out_a, f)), "run directory has " + f)
check(not glob.glob(os.path.join(out_a, "**", "*.tmp*"), recursive=True), "no temporary files left")

man = json.load(open(os.path.join(out_a, "snapshots", "manifest.json")))
check(man["format"] == "nerve-manifest" and man["format_version"] == 1, "manifest format/version")
epochs = sorted({e["epoch"] for e in man["files"] if e["model"] == "expressive"})
check(epochs[0] == 0 and epochs[-1] == 4, "snapshot schedule includes 0 and the last epoch: %s" % epochs)
models = {e["model"] for e in man["files"]}
check(models == {"expressive", "bottleneck", "linear"}, "every model snapshotted: %s" % models)

summary = json.load(open(os.path.join(out_a, "summary.json")))
for m in ["expressive", "bottleneck", "linear"]:
    s = summary["models"][m]
    check(0 <= s["test_acc"] <= 1 and s["train_loss"] > 0, "summary has %s accuracy and loss" % m)

# --- layout of one snapshot, read with h5py -------------------------------------
data = h5py.File(os.path.join(out_a, "data.h5"), "r")
ntr, nte = data["train/x"].shape[0], data["test/x"].shape[0]
check(ntr + nte == 200 and nte == 50, "data.h5: 150 train + 50 test rows (%d, %d)" % (ntr, nte))
ent = [e for e in man["files"] if e["model"] == "bottleneck" and e["epoch"] == 4][0]
path = os.path.join(out_a, "snapshots", ent["path"])
f = h5py.File(path, "r")
check(f.attrs["format"] == "nerve-snapshot" and int(f.attrs["format_version"]) == 1, "snapshot format/version attrs")
check(f.attrs["model"] == "bottleneck" and int(f.attrs["epoch"]) == 4, "snapshot model/epoch attrs")
check("train:" in f.attrs["config"], "resolved config stored in the snapshot")
widths = {"input": 6, "hidden1": 2, "hidden2": 16, "logits": 2}
for name, w in widths.items():
    g = f["layers"][name]
    check(g["train"].shape == (ntr, w) and g["test"].shape == (nte, w), "%s shapes (%d wide)" % (name, w))
    allv = g["all"][...]
    check(np.array_equal(allv, np.concatenate([g["train"][...], g["test"][...]])),
          "%s/all is train rows then test rows" % name)
    check(g["train"].compression == "gzip" and g["train"].chunks is not None, "%s chunked + gzip" % name)
check(np.array_equal(f["layers/input/train"][...], data["train/x"][...]), "input layer = the training data")
check(np.array_equal(f["labels/train"][...], data["train/y"][...]), "labels match the dataset")
check(np.array_equal(f["ids/all"][...], np.concatenate([data["train/ids"][...], data["test/ids"][...]])),
      "ids/all = train ids then test ids")
check("pre_train" in f["layers/hidden1"], "pre-activations stored when asked")
h = f["layers/hidden1"]
check(np.array_equal(np.maximum(h["pre_train"][...], 0), h["train"][...]), "relu(pre-activation) = activation")

# logits: the model's predictions agree with the metrics' last test accuracy
logits = f["layers/logits/test"][...]
acc = float(np.mean(np.argmax(logits, 1) == f["labels/test"][...]))
check(abs(acc - summary["models"]["bottleneck"]["test_acc"]) < 1e-9, "logits reproduce the summary's test accuracy")

# the stored parameters reproduce the stored activations (a numpy forward pass)
m = f["model"]
widths = [int(v) for v in m.attrs["widths"]]
params = m["params"][...]
h, off = f["layers/input/all"][...].astype(np.float64), 0
for l in range(len(widths) - 1):
    W = params[off:off + widths[l + 1] * widths[l]].reshape(widths[l + 1], widths[l]); off += W.size
    b = params[off:off + widths[l + 1]]; off += b.size
    h = h @ W.T + b
    if l < len(widths) - 2:
        h = np.maximum(h, 0)
check(off == params.size and m.attrs["activation"] == "relu", "/model holds the spec and every parameter")
check(np.allclose(h, f["layers/logits/all"][...], rtol=1e-4, atol=1e-5), "/model/params reproduce the logits")

# h5dump reads it too
p = subprocess.run(["h5dump", "-H", path], capture_output=True, text=True)
check(p.returncode == 0 and "layers" in p.stdout, "h5dump reads the snapshot")

# --- determinism --------------------------------------------------------------------
out_b = os.path.join(d, "b")
run(["train", cfg, "--out", out_b])
files = sorted(glob.glob(os.path.join(out_a, "**", "*.h5"), recursive=True))
check(len(files) >= 17, "%d HDF5 files to compare" % len(files))
for fa in files:
    fb = fa.replace(out_a, out_b, 1)
    p = subprocess.run(["h5diff", "-d", "0", fa, fb], capture_output=True, text=True)
    check(p.returncode == 0 and not p.stdout.strip(), "h5diff -d 0 identical: " + os.path.relpath(fa, out_a))
for rel in ["summary.json", "metrics/expressive.csv", "config.cfg", "snapshots/manifest.json"]:
    check(open(os.path.join(out_a, rel), "rb").read() == open(os.path.join(out_b, rel), "rb").read(),
          "same bytes: " + rel)

# a different seed gives different weights
out_c = os.path.join(d, "c")
run(["train", cfg, "--out", out_c, "--seed", "2"])
p = subprocess.run(["h5diff", "-d", "0", os.path.join(out_a, "checkpoints/expressive.h5"),
                    os.path.join(out_c, "checkpoints/expressive.h5"), "/params", "/params"],
                   capture_output=True, text=True)
check(p.returncode == 1, "another seed gives other weights")

# nerve info describes the run and a file
rc, so, se = run(["info", out_a])
check("expressive" in so and "bottleneck" in so, "nerve info lists the models of the run")
rc, so, se = run(["info", path])
check("nerve-snapshot" in so, "nerve info names a snapshot file's format")
finish()
