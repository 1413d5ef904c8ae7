#!/usr/bin/python3
"""snapshot_h5py.py: the snapshot files as outsiders read them (h5py, the way a
notebook or the viewer would). Checks the layout of include/nerve/snapshot.h: string
attributes come back as str, the virtual `all` datasets equal train rows followed by
test rows, activations are chunked with shuffle + gzip, the manifest lists every
finished file; and, while a writer process keeps adding epochs, every file the
manifest lists opens and reads completely (no half-written file is ever listed).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

root = os.environ.get("NERVE_ROOT", os.getcwd())
build = os.environ.get("BUILD", "build")
tool = os.path.join(root, build, "tests/tools/snapshot_write") if not os.path.isabs(build) \
    else os.path.join(build, "tests/tools/snapshot_write")
if not os.path.exists(tool):
    print(f"FAIL: {tool} not built (make BUILD={build} test builds it)")
    sys.exit(1)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


tmp = tempfile.mkdtemp(prefix="nerve-snap-h5py-")
sdir = os.path.join(tmp, "snapshots")
subprocess.run([tool, sdir, "expressive", "3", "--train", "50", "--test", "20",
                "--widths", "4,9,7,2", "--pre", "--seed", "11"], check=True)
path = os.path.join(sdir, "expressive", "epoch_0003.h5")
with h5py.File(path, "r") as f:
    a = f.attrs
    check(a["format"] == "nerve-snapshot" and isinstance(a["format"], str), "format attr is str")
    check(int(a["format_version"]) == 1, "format_version 1")
    check(a["model"] == "expressive" and int(a["epoch"]) == 3, "model/epoch attrs")
    check(isinstance(a["config"], str) and "seed" in a["config"], "config text attr")
    check(list(a["layer_names"]) == ["input", "hidden1", "hidden2", "logits"], "layer_names")
    for what, dt in (("labels", np.int32), ("ids", np.int64)):
        tr, te, al = (f[what][s] for s in ("train", "test", "all"))
        check(tr.dtype == dt and tr.shape == (50,) and te.shape == (20,), f"{what} shapes/dtype")
        check(al.is_virtual, f"{what}/all is virtual")
        check(np.array_equal(al[()], np.concatenate([tr[()], te[()]])), f"{what}/all = train ++ test")
    widths = [4, 9, 7, 2]
    for i, name in enumerate(a["layer_names"]):
        g = f["layers"][name]
        check(int(g.attrs["index"]) == i and int(g.attrs["width"]) == widths[i], f"{name} attrs")
        check(g.attrs["kind"] == ("input" if i == 0 else "logits" if i == 3 else "hidden"), f"{name} kind")
        prefixes = [""] + (["pre_"] if name.startswith("hidden") else [])
        check(("pre_train" in g) == name.startswith("hidden"), f"{name}: pre_* only for hidden layers")
        for p in prefixes:
            tr, te, al = g[p + "train"], g[p + "test"], g[p + "all"]
            check(tr.shape == (50, widths[i]) and te.shape == (20, widths[i]), f"{name}/{p}train,test shapes")
            check(tr.dtype == np.float32 and al.dtype == np.float32, f"{name} float32")
            check(tr.compression == "gzip" and tr.compression_opts == 4 and tr.shuffle, f"{name} gzip4+shuffle")
            check(tr.chunks is not None, f"{name} chunked")
            check(al.is_virtual and al.shape == (70, widths[i]), f"{name}/{p}all virtual (70, w)")
            whole = al[()]
            check(np.array_equal(whole, np.concatenate([tr[()], te[()]])), f"{name}/{p}all = train ++ test")
            # a partial read across the train/test seam goes through both sources
            check(np.array_equal(al[45:55], whole[45:55]), f"{name}/{p}all slice across the seam")
        if name.startswith("hidden"):
            check(not np.array_equal(g["train"][()], g["pre_train"][()]), f"{name}: pre differs from post")

# The manifest lists exactly the finished files, with paths relative to it.
man = json.load(open(os.path.join(sdir, "manifest.json")))
check(man["format"] == "nerve-manifest" and man["format_version"] == 1, "manifest format")
check(man["files"] == [{"model": "expressive", "epoch": 3, "path": "expressive/epoch_0003.h5"}],
      "manifest entries")

# Readable while a writer continues: a second process writes 12 epochs of two
# models; meanwhile read every listed file completely, again and again.
writer = subprocess.Popen(["bash", "-c", " ".join(
    f"{tool} {sdir} {m} {e} --train 2000 --test 500 --widths 16,64,64,2 --pre &&"
    for e in range(12) for m in ("bottleneck", "expressive")) + " true"])
reads = 0
seen_max = 0
while True:
    done = writer.poll() is not None
    try:
        listed = json.load(open(os.path.join(sdir, "manifest.json")))["files"]
    except (OSError, ValueError) as e:  # the manifest is replaced by rename, never torn
        check(False, f"manifest unreadable while the writer runs: {e}")
        break
    seen_max = max(seen_max, len(listed))
    for ent in listed:
        with h5py.File(os.path.join(sdir, ent["path"]), "r") as f:
            x = f["layers/hidden1/all"][()]
            check(x.shape[0] == f.attrs["n_train"] + f.attrs["n_test"], f"{ent['path']} complete")
            reads += 1
    if done:
        break
check(writer.returncode == 0, "background writer succeeded")
final = json.load(open(os.path.join(sdir, "manifest.json")))["files"]
# 12 epochs of each model; expressive epoch 3 was rewritten, not added twice
check(len(final) == 24, f"24 files listed at the end (found {len(final)})")
keys = [(e["model"], e["epoch"]) for e in final]
check(keys == sorted(keys), "manifest sorted by model then epoch")
leftovers = [n for d, _, fs in os.walk(sdir) for n in fs if ".tmp-" in n]
check(not leftovers, f"no temporary files left ({leftovers})")
print(f"{reads} complete reads of listed files while the writer ran (manifest grew to {seen_max})")

# A writer killed (SIGKILL) in the middle of a large file: whatever the manifest
# lists still opens and reads completely, and every visible (non-hidden) file is
# complete too; the killed file is at most a hidden temporary.
kdir = os.path.join(tmp, "killed")
big = ["--train", "20000", "--test", "5000", "--widths", "64,256,2"]
for i, delay in enumerate((0.05, 0.3, 0.8)):
    subprocess.run([tool, kdir, "m", str(2 * i)] + big, check=True)
    w = subprocess.Popen([tool, kdir, "m", str(2 * i + 1)] + big)
    time.sleep(delay)
    w.kill()
    w.wait()
    listed = json.load(open(os.path.join(kdir, "manifest.json")))["files"]
    check(len(listed) >= i + 1, f"kill after {delay}s: earlier files still listed")
    visible = [n for n in os.listdir(os.path.join(kdir, "m")) if not n.startswith(".")]
    check(set(os.path.basename(e["path"]) for e in listed) <= set(visible),
          f"kill after {delay}s: every listed file exists")
    for n in visible:
        with h5py.File(os.path.join(kdir, "m", n), "r") as f:
            d = f["layers/hidden1/all"]
            check(d.shape == (25000, 256) and d[-3:].shape == (3, 256), f"killed run: {n} complete")
print("killed writers left earlier files listed and every visible file complete")

if failures:
    print(f"{len(failures)} check(s) failed; files in {tmp}")
    sys.exit(1)
subprocess.run(["rm", "-rf", tmp])
print("snapshot_h5py: all checks passed")
