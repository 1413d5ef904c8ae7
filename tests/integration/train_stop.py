"""train_stop: train.stop_at_train_accuracy and train.lr_half_life (docs/training.md).

A model stops at the end of the first epoch whose training accuracy reaches the
bar: its metrics end there, that epoch is snapshotted (though not in the
schedule), summary.json says so, and a model that never reaches it trains every
epoch. A run killed (SIGKILL) and resumed ends with the same bytes as one that was
not, and --resume of a finished run changes nothing. The decaying rate is in the
resolved config and changes the training (its numerics are checked against
PyTorch in train_torch_parity.py)."""
import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import h5py  # noqa: E402

from nervetest import NERVE, check, finish, run, tmpdir, write  # noqa: E402

d = tmpdir("stop")
BAR = 0.99
base = """experiment = "stop";
data: { spheres: { dim = 12; points_per_class = 3000; }; };
models: { hidden = [64, 64, 64]; };
snapshots: { epochs = [0, 2, 4, 40]; };
"""
cfg = write(os.path.join(d, "s.cfg"), base + """
train: { epochs = 40; batch_size = 4; lr_half_life = 3000; stop_at_train_accuracy = %s; };
""" % BAR)
ref = os.path.join(d, "ref")
rc, so, se = run(["train", cfg, "--out", ref])


def rows(run_dir, model):
    with open(os.path.join(run_dir, "metrics", model + ".csv")) as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


summary = json.load(open(os.path.join(ref, "summary.json")))
man = json.load(open(os.path.join(ref, "snapshots", "manifest.json")))
snaps = {}
for e in man["files"]:
    snaps.setdefault(e["model"], []).append(int(e["epoch"]))
stopped = []
for model, m in summary["models"].items():
    r = rows(ref, model)
    accs = [x["train_acc"] for x in r]
    first = next((i for i, a in enumerate(accs) if a >= BAR), None)
    if first is not None:
        stopped.append(model)
        check(len(r) == first + 1, "%s: the metrics end at epoch %d, the first with train accuracy >= %g "
              "(%d rows)" % (model, first, BAR, len(r)))
        check(m["epochs_trained"] == first and m["stopped_at_train_accuracy"] is True,
              "%s: summary.json says it stopped at epoch %d" % (model, m["epochs_trained"]))
        check(max(snaps[model]) == first and first in snaps[model],
              "%s: the stop epoch %d is snapshotted, nothing after it (%s)" % (model, first, snaps[model]))
        with h5py.File(os.path.join(ref, "snapshots", model, "epoch_%04d.h5" % first), "r") as f:
            check(f["layers/hidden1/train"].shape[0] == summary["n_train"], "%s: the stop snapshot is complete" % model)
        check("model '%s' stopped at epoch %d" % (model, first) in se, "%s: the run says where it stopped" % model)
    else:
        check(len(r) == 41 and m["epochs_trained"] == 40 and m["stopped_at_train_accuracy"] is False,
              "%s: never reaches %g, trains all 40 epochs (best %.4f)" % (model, BAR, max(accs)))
        check(40 in snaps[model], "%s: its last scheduled snapshot is written" % model)
check("expressive" in stopped and "bottleneck" not in stopped,
      "the expressive net stops early and the bottleneck does not (stopped: %s)" % stopped)
text = open(os.path.join(ref, "config.cfg")).read()
check("lr_half_life = 3000;" in text and "stop_at_train_accuracy = 0.99;" in text,
      "the resolved config keeps both keys")

# --resume of a finished run: nothing changes
def digest(run_dir):
    out = {}
    for p in sorted(glob.glob(os.path.join(run_dir, "**", "*"), recursive=True)):
        if os.path.isfile(p) and not p.endswith(("log.txt", "run.json")):
            out[os.path.relpath(p, run_dir)] = open(p, "rb").read()
    return out


before = digest(ref)
rc, so, se = run(["train", cfg, "--out", ref, "--resume"])
after = digest(ref)
check(before == after, "--resume of a finished run leaves every file as it was (%d files)" % len(before))
check("stopped at epoch" in se, "--resume says the model had stopped")

# SIGKILL after the expressive net's epoch-2 checkpoint, then --resume: same bytes
def ckpt_epoch(out, model):
    try:
        with h5py.File(os.path.join(out, "checkpoints", model + ".h5"), "r") as f:
            return int(f.attrs["epochs_completed"])
    except Exception:
        return -1


k = os.path.join(d, "killed")
p = subprocess.Popen([NERVE, "train", cfg, "--out", k], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
t0 = time.time()
while ckpt_epoch(k, "expressive") < 2 and p.poll() is None and time.time() - t0 < 120:
    time.sleep(0.01)
p.send_signal(signal.SIGKILL)
p.wait()
check(p.returncode == -signal.SIGKILL, "the run was killed (expressive checkpoint at epoch %d)" % ckpt_epoch(k, "expressive"))
run(["train", cfg, "--out", k, "--resume"])
resumed = digest(k)
check(resumed.keys() == after.keys(), "the resumed run has the same files")
diff = []
for rel in after:
    if rel.endswith(".h5"):
        q = subprocess.run(["h5diff", "-d", "0", os.path.join(ref, rel), os.path.join(k, rel)], capture_output=True)
        if q.returncode != 0:
            diff.append(rel)
    elif rel.endswith((".csv", ".json", ".cfg")) and after[rel] != resumed.get(rel):
        diff.append(rel)
check(not diff, "killed + resumed = uninterrupted (h5diff -d 0 and byte equality): %s" % (diff or "all equal"))

# train.stop_check_every: the bar is checked only at multiples of it
ev = os.path.join(d, "every")
run(["train", cfg, "--out", ev, "--set", "train: { stop_check_every = 4; };"])
accs = [x["train_acc"] for x in rows(ev, "expressive")]
first4 = next((e for e in range(0, 41, 4) if e < len(accs) and accs[e] >= BAR), None)
check(first4 is not None and len(accs) == first4 + 1,
      "stop_check_every = 4: the expressive net stops at epoch %s, the first multiple of 4 at the bar "
      "(metrics end at %d)" % (first4, len(accs) - 1))
check(accs[:6] == [x["train_acc"] for x in rows(ref, "expressive")][:6], "... after the same training")

# the rate's decay changes the training: the same run at a constant rate differs
const = os.path.join(d, "const")
run(["train", cfg, "--out", const, "--set", "train: { lr_half_life = 0; };"])
check(rows(const, "expressive")[2] != rows(ref, "expressive")[2], "lr_half_life changes the training")
finish()
