"""cli_messages: what nerve tells a new user is true and points the way (issue 20,
items 1 and 3). Each check below failed before the fix:
- a --set error blames the --set text, not config.cfg:1;
- a resume with another config names the key, both values and the flag that makes
  them agree (and that flag works);
- `nerve verify` names the stored dataset that changed, not the virtual /all;
- `nerve ph RUN` (and every RUN verb) on an unfinished run warns that training has not
  finished;
- an unknown option prints the verb's usage line, in every verb;
- `nerve ph FILE` on a point cloud without --format suggests --format point-cloud;
  `nerve ph --help` points at `nerve ph RUN --help`, which works as written;
- a sweep config given to `nerve train` says to use `nerve sweep`;
- `nerve train` ends with each model's final test accuracy (summary.json's);
- `nerve sweep --epochs N` trains every task for N epochs;
- the resolved config holds values as written (0.001, not 0.00100000005) and still
  reproduces the run (the same hashes.json when trained from it);
- no line of spaces under a table's title; no doubled prefix ("nerve pca: pca: ...");
- `nerve data` takes every data source a config takes (disks and file too), with
  the config's bytes."""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import h5py  # noqa: E402
import numpy as np  # noqa: E402

from nervetest import ROOT, check, finish, run, tmpdir, write  # noqa: E402

d = tmpdir("messages")
cfg = write(os.path.join(d, "m.cfg"), """experiment = "messages";
data: { spheres: { dim = 5; points_per_class = 60; }; };
models: { hidden = [8, 8]; bottleneck_width = 2; };
train: { epochs = 3; batch_size = 32; };
snapshots: { epochs = [0, 1, 3]; };
""")
out = os.path.join(d, "run")
rc, so, se = run(["train", cfg, "--out", out])
allout = so + se

# --- train: final accuracy, table without a line of spaces, values as written ------
summary = json.load(open(os.path.join(out, "summary.json")))
for model, m in summary["models"].items():
    want = "%s  %.2f%%" % (model, 100 * m["test_acc"])
    check(re.search(r"^  %s +%.2f%%" % (model, 100 * m["test_acc"]), so, re.M) is not None,
          "nerve train ends with %s's final test accuracy (%s)" % (model, want))
check(not re.search(r"^ +$", so, re.M), "no line of spaces under the table's title")
check(re.search(r"^  optimiser +adam lr 0\.001 ", so, re.M) is not None, "the table shows lr 0.001")
text = open(os.path.join(out, "config.cfg")).read()
check("lr = 0.001;" in text and "eps = 1e-08;" in text and "test_fraction = 0.2;" in text
      and "beta2 = 0.999;" in text and "radius = [1.0, 1.3];" in text,
      "config.cfg holds values as written (lr = 0.001, eps = 1e-08, test_fraction = 0.2)")
check("0.00100000005" not in text and "0.20000000000000001" not in text, "no float noise in config.cfg")
again = os.path.join(d, "again")
run(["train", os.path.join(out, "config.cfg"), "--out", again])
check(open(os.path.join(out, "hashes.json")).read() == open(os.path.join(again, "hashes.json")).read(),
      "training from the stored config.cfg gives the same hashes.json")

# --- --set blame and the resume of another config ------------------------------------
rc, so, se = run(["train", cfg, "--out", os.path.join(d, "x"), "--set", "train: { lr = -1; };"], expect=2)
check("--set 'train: { lr = -1; };'" in se and "key 'train.lr'" in se and "m.cfg:1" not in se,
      "a --set error blames the --set text: " + se.strip())
rc, so, se = run(["train", cfg, "--out", out, "--resume", "--set", "train: { lr = 0.01; };"], expect=2)
check("key 'train.lr' is 0.001 there and 0.01 here" in se, "resume with another lr names the key and both values: "
      + se.strip()[-300:])
check("--set 'train: { lr = 0.001; };'" in se and "--force" in se, "and suggests the flag that makes them agree")
rc, so, se = run(["train", cfg, "--out", out, "--resume", "--set", "train: { lr = 0.01; };",
                  "--set", "train: { lr = 0.001; };"], expect=0)
check(rc == 0, "the suggested --set makes the resume go through")
rc, so, se = run(["train", cfg, "--out", out, "--resume", "--epochs", "5"], expect=2)
check("key 'train.epochs' is 3 there and 5 here" in se, "resume with --epochs 5 names train.epochs 3 vs 5")

# --- verify names the stored dataset ----------------------------------------------
bad = os.path.join(d, "changed")
shutil.copytree(out, bad)
snap = os.path.join(bad, "snapshots", "expressive", "epoch_0003.h5")
with h5py.File(snap, "r+") as f:
    x = f["layers/hidden2/train"]
    v = x[...]
    v[0, 0] += 1.0
    x[...] = v
rc, so, se = run(["verify", bad], expect=2)
check("/layers/hidden2/train differs" in se, "verify names /layers/hidden2/train: " + se.strip())
check("/layers/hidden2/all differs" not in se, "and not the virtual /layers/hidden2/all as the one that changed")

# --- RUN verbs on an unfinished run warn ------------------------------------------
unf = os.path.join(d, "unfinished")
shutil.copytree(out, unf)
os.remove(os.path.join(unf, "hashes.json"))
rj = json.load(open(os.path.join(unf, "run.json")))
rj["status"] = "interrupted"
json.dump(rj, open(os.path.join(unf, "run.json"), "w"))
rc, so, se = run(["ph", unf, "--landmarks", "20", "--no-figures"])
check(rc == 0 and "has not finished" in se and "interrupted" in se and "--resume" in se,
      "nerve ph RUN on an unfinished run warns that training has not finished: " + se.strip()[-300:])
rc, so, se = run(["ph", out, "--landmarks", "20", "--no-figures"])
check("has not finished" not in se, "and a finished run gets no such warning")

# --- unknown options print the verb's usage line ------------------------------------
for verb, args in [("train", [cfg]), ("info", [out]), ("ph", [out]), ("ph", ["x.txt"]), ("pca", [out]),
                   ("stats", [out]), ("features", [out]), ("analyze", [out]), ("report", [out]),
                   ("sweep", [cfg]), ("collect", [d]), ("verify", [out]), ("data", ["spheres"]),
                   ("query", [out]), ("serve", [out])]:
    av = [verb] + (args if verb == "data" else []) + ["--colour", "red"] + ([] if verb == "data" else args)
    rc, so, se = run(av, expect=None)
    check(rc == 2 and "unknown option '--colour'" in se and re.search(r"^usage: nerve %s" % verb, se, re.M),
          "nerve %s --colour: exit 2, names the option and prints the usage line (rc %d: %r)"
          % (" ".join(av[:1] + args[:1] if verb == "data" else av[:1]), rc, se[:200]))

# --- ph FILE and ph --help ----------------------------------------------------------
rng = np.random.default_rng(1)
cloud = os.path.join(d, "cloud.txt")
np.savetxt(cloud, rng.random((30, 3)), fmt="%.5f")
rc, so, se = run(["ph", cloud], expect=2)
check("--format point-cloud" in se, "ph FILE on a point cloud without --format suggests --format point-cloud: "
      + se.strip())
rc, so, se = run(["ph", "--help"])
check("nerve ph RUN --help" in so, "nerve ph --help points at nerve ph RUN --help")
rc, so, se = run(["ph", "RUN", "--help"])
check(so.startswith("usage: nerve ph RUN"), "nerve ph RUN --help, as written, prints the run mode's help")

# --- a sweep config to train; sweep --epochs ------------------------------------------
sweep_cfg = os.path.join(ROOT, "experiments", "sweep_spheres.cfg")
rc, so, se = run(["train", sweep_cfg, "--out", os.path.join(d, "sw")], expect=2)
check("nerve sweep" in se and "sweep config" in se, "a sweep config given to nerve train says to use nerve sweep: "
      + se.strip())
scfg = write(os.path.join(d, "s.cfg"), """experiment = "s";
data: { spheres: { dim = 4; points_per_class = 40; }; };
models: { hidden = [8, 8]; bottleneck_width = 2; activation = ["relu", "tanh"]; };
train: { epochs = 40; };
""")
rc, so, se = run(["sweep", scfg, "--out", os.path.join(d, "sweep"), "--epochs", "2"])
check("2 epochs (--epochs)" in so, "sweep --epochs says what it does")
tasks = sorted(os.listdir(os.path.join(d, "sweep", "tasks")))
check(len(tasks) == 2 and all("epochs = 2;" in open(os.path.join(d, "sweep", "tasks", t, "config.cfg")).read()
                              for t in tasks), "every task of sweep --epochs 2 trains 2 epochs")

# --- no doubled prefixes ---------------------------------------------------------------
nanrun = os.path.join(d, "nan")
shutil.copytree(out, nanrun)
with h5py.File(os.path.join(nanrun, "snapshots", "expressive", "epoch_0001.h5"), "r+") as f:
    x = f["layers/hidden1/train"]
    v = x[...]
    v[0, 0] = np.nan
    x[...] = v
rc, so, se = run(["pca", nanrun], expect=None)
check(rc == 2 and "is nan" in se and not re.search(r"nerve (\w+): (.*: )?\1: ", se),
      "pca RUN on a NaN: exit 2, no doubled prefix in: " + se.strip()[-300:])
one = write(os.path.join(d, "one.csv"), "1,2,3\n")
rc, so, se = run(["pca", one], expect=2)
check(not re.search(r"nerve (\w+): (.*: )?\1: ", se), "no doubled prefix in: " + se.strip())
rc, so, se = run(["features", out, "--steps", "-1"], expect=2)
check(not re.search(r"nerve (\w+): (.*: )?\1: ", se), "no doubled prefix in: " + se.strip())
rc, so, se = run(["features", out, "--lr", "99"], expect=2)
check(not re.search(r"nerve (\w+): (.*: )?\1: ", se), "no doubled prefix in: " + se.strip())

# --- nerve data takes every source a config takes -------------------------------------
disks = os.path.join(d, "disks.h5")
run(["data", "disks", "--points", "50", "--radius", "0.15", "--out", disks])
dcfg = write(os.path.join(d, "disks.cfg"), 'data: { source = "disks"; disks: { points_per_class = 50; radius = 0.15; }; };\n')
run(["data", "config", dcfg, "--out", os.path.join(d, "disks_cfg.h5")])
with h5py.File(disks, "r") as a, h5py.File(os.path.join(d, "disks_cfg.h5"), "r") as b:
    same = all(np.array_equal(a[s][k][...], b[s][k][...]) for s in ("train", "test") for k in ("x", "y", "ids"))
check(same, "nerve data disks gives the bytes of a config's disks source")
run(["data", "file", disks, "--out", os.path.join(d, "copy.h5")])
with h5py.File(disks, "r") as a, h5py.File(os.path.join(d, "copy.h5"), "r") as b:
    same = all(np.array_equal(a[s][k][...], b[s][k][...]) for s in ("train", "test") for k in ("x", "y", "ids"))
check(same, "nerve data file reads a dataset file as a config's file source does")
for src in ("spheres", "disks", "fashion-mnist", "idx", "csv", "hdf5", "file", "config"):
    rc, so, se = run(["data", src, "--help"], expect=None)
    check(rc == 0 and so.startswith("usage: nerve data " + src), "nerve data %s --help" % src)
finish()
