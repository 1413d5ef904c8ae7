"""docs_match: what the README says about set-up and storage is what the code does
(issue 20, items 1 and 5):
- the README's package lists (build, and "for the tests") are exactly what
  `scripts/deps.sh --list` and `--test --list` check;
- `scripts/deps.sh --check` says "all found" when nothing is missing;
- every config key is in the README's config table (snapshots.compression was not);
- the HDF5 layout the README and docs/snapshots.md describe is what a snapshot holds:
  contiguous and uncompressed by default, chunked with shuffle + gzip N with
  snapshots.compression = N."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import h5py  # noqa: E402

from nervetest import ROOT, check, finish, run, tmpdir, write  # noqa: E402

readme = open(os.path.join(ROOT, "README.md")).read()
snapdoc = open(os.path.join(ROOT, "docs", "snapshots.md")).read()
deps = os.path.join(ROOT, "scripts", "deps.sh")


def listed(*args):
    p = subprocess.run(["bash", deps, "--list"] + list(args), capture_output=True, text=True)
    return p.stdout.split()


# --- the package lists ------------------------------------------------------------
m = re.search(r"Dependencies \(Debian 12 packages\): `([^`]*)`, and for the tests[^`]*"
              r"(?:`scripts/deps.sh --test`[^`]*)?`([^`]*)`", readme, re.S)
check(m is not None, "README has the two package lists")
if m:
    build = m.group(1).split()
    tests = m.group(2).split()
    check(sorted(build) == sorted(listed()), "README's build packages = deps.sh --list: %s vs %s"
          % (sorted(build), sorted(listed())))
    want = sorted(set(listed("--test")) - set(listed()))
    check(sorted(tests) == want, "README's test packages = what deps.sh --test adds: %s vs %s"
          % (sorted(tests), want))
p = subprocess.run(["bash", deps, "--test", "--check"], capture_output=True, text=True)
if p.returncode == 0:
    check("all found" in p.stdout, "deps.sh --test --check says 'all found': %r" % p.stdout)
else:
    check("missing" in p.stderr, "deps.sh --check names what is missing: %r" % p.stderr)

# --- every config key in the README's table --------------------------------------------
src = open(os.path.join(ROOT, "src", "train", "config.c")).read()
keys = [k for k, kind in re.findall(r'\{"([a-z_.]+)", (K_\w+)\}', src) if kind != "K_GROUP"]
documented = set()


def expand(name):
    """`a.{b, c}.{d, e}` -> a.b.d, a.b.e, a.c.d, a.c.e (a cell may group keys)."""
    m = re.search(r"\{([^}]*)\}", name)
    if not m:
        return [name]
    return [x for alt in m.group(1).split(",") for x in expand(name[:m.start()] + alt.strip() + name[m.end():])]


for row in re.findall(r"^\| `([^|]+)` \|", readme, re.M):
    for part in re.findall(r"`?([a-z_.]+(?:\{[^}]*\}[a-z_.]*)*)`?", row):
        documented.update(expand(part))
missing = [k for k in keys if k not in documented]
check(len(keys) > 30 and not missing, "every config key is in the README's table (missing: %s)" % missing)

# --- the HDF5 layout: docs and files agree ------------------------------------------------
check("contiguous and uncompressed by" in readme and "chunked, shuffle + gzip\n" not in readme,
      "the README's layout says contiguous and uncompressed by default")
check("gzip 4 |" not in snapdoc, "docs/snapshots.md no longer lists gzip 4 as the storage")
d = tmpdir("docs")
cfg = write(os.path.join(d, "c.cfg"), """data: { spheres: { dim = 4; points_per_class = 50; }; };
models: { hidden = [8]; };
train: { epochs = 1; };
snapshots: { epochs = [1]; };
""")
for level in (0, 1):
    out = os.path.join(d, "run%d" % level)
    run(["train", cfg, "--out", out, "--set", "snapshots: { compression = %d; };" % level])
    with h5py.File(os.path.join(out, "snapshots", "expressive", "epoch_0001.h5"), "r") as f:
        x = f["layers/hidden1/train"]
        if level == 0:
            check(x.chunks is None and x.compression is None and not x.shuffle,
                  "default: /layers/hidden1/train is contiguous and uncompressed")
        else:
            check(x.chunks is not None and x.compression == "gzip" and x.compression_opts == 1 and x.shuffle,
                  "compression = 1: chunked, shuffle + gzip 1")
finish()
