"""train_resume: a run killed (SIGKILL) in the middle of an epoch leaves every
earlier snapshot, checkpoint and manifest readable, and `nerve train --resume`
then ends with the same bytes as a run that was never killed (h5diff -d 0 on every
HDF5 file, byte equality of the CSV and JSON results). Also SIGINT: a clean stop."""
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

d = tmpdir("resume")
# Big enough that an epoch takes a noticeable time, small enough for the suite.
cfg = write(os.path.join(d, "r.cfg"), """experiment = "resume";
data: { spheres: { dim = 12; points_per_class = 3000; }; };
models: { hidden = [64, 64, 64]; };
train: { epochs = 8; batch_size = 4; };
snapshots: { epochs = [0, 1, 2, 3, 5, 8]; };
""")
ref = os.path.join(d, "ref")
run(["train", cfg, "--out", ref])

def ckpt_epoch(out, model):
    p = os.path.join(out, "checkpoints", model + ".h5")
    try:
        with h5py.File(p, "r") as f:
            return int(f.attrs["epochs_completed"])
    except Exception:
        return -1

def kill_when(out, model, epoch, sig, config=cfg):
    """Starts a run and kills it once `model` has checkpointed `epoch`, at a moment
    that is (almost surely) inside a later epoch."""
    p = subprocess.Popen([NERVE, "train", config, "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.time()
    while ckpt_epoch(out, model) < epoch and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    time.sleep(0.05)
    p.send_signal(sig)
    _, err = p.communicate()
    return p.returncode, err.decode()

# 1. SIGKILL in the middle of the expressive model's training, after its epoch-2
# checkpoint (batch 4 makes each epoch long enough that the signal lands in one)
k = os.path.join(d, "killed")
rc, err = kill_when(k, "expressive", 2, signal.SIGKILL)
check(rc == -signal.SIGKILL, "the run was killed (rc %s)" % rc)
man = json.load(open(os.path.join(k, "snapshots", "manifest.json")))
check(len(man["files"]) >= 3, "manifest readable after the kill, %d files listed" % len(man["files"]))
ok = True
for e in man["files"]:
    try:
        with h5py.File(os.path.join(k, "snapshots", e["path"]), "r") as f:
            f["layers/input/train"][0]
    except Exception as ex:
        ok = False
        print("unreadable:", e, ex)
check(ok, "every snapshot the manifest lists opens after the kill")
check(2 <= ckpt_epoch(k, "expressive") < 8, "checkpoints readable after the kill (expressive at epoch %d)"
      % ckpt_epoch(k, "expressive"))
rc, so, se = run(["train", cfg, "--out", k, "--resume"])
check("resuming" in so, "--resume says it resumes")
files = sorted(glob.glob(os.path.join(ref, "**", "*.h5"), recursive=True))
same = True
for fa in files:
    fb = fa.replace(ref, k, 1)
    p = subprocess.run(["h5diff", "-d", "0", fa, fb], capture_output=True, text=True)
    if p.returncode != 0:
        same = False
        print("differs:", os.path.relpath(fa, ref), p.stdout[:500], p.stderr[:500])
check(same, "killed + resumed run = uninterrupted run on all %d HDF5 files (h5diff -d 0)" % len(files))
for rel in ["summary.json", "metrics/expressive.csv", "metrics/bottleneck.csv", "metrics/linear.csv",
            "snapshots/manifest.json", "config.cfg"]:
    check(open(os.path.join(ref, rel), "rb").read() == open(os.path.join(k, rel), "rb").read(), "same bytes: " + rel)
check(not glob.glob(os.path.join(k, "**", "*.tmp*"), recursive=True), "no temporary files left after resume")

# 2. SIGINT: a clean stop with a message, then resume
# (a longer run, so the signal surely lands in the middle of training)
long_cfg = write(os.path.join(d, "long.cfg"), open(cfg).read().replace("epochs = 8", "epochs = 40"))
k2 = os.path.join(d, "interrupted")
rc, err = kill_when(k2, "expressive", 1, signal.SIGINT, long_cfg)
check(rc == 130 and "--resume" in err, "SIGINT stops (exit 130) with a message that says how to continue: %r"
      % err.strip()[-200:])
check(ckpt_epoch(k2, "expressive") >= 1, "the checkpoints before the interruption are kept")

# 3. a run directory of another config is refused, and --resume of a finished run changes nothing
other = write(os.path.join(d, "o.cfg"), open(cfg).read().replace("epochs = 8", "epochs = 9"))
rc, so, se = run(["train", other, "--out", ref], expect=2)
check("different config" in se, "a directory holding another config is refused: " + se.strip()[-160:])
rc, so, se = run(["train", cfg, "--out", ref], expect=2)
check("--resume" in se, "an existing run is not overwritten without --resume/--force")
before = open(os.path.join(ref, "summary.json"), "rb").read()
run(["train", cfg, "--out", ref, "--resume"])
check(open(os.path.join(ref, "summary.json"), "rb").read() == before, "resuming a finished run changes nothing")
finish()
