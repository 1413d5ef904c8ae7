#!/usr/bin/env bash
# sweep_local.sh: a sweep run locally, end to end:
#   - expansion: 2 activations x 2 hidden (a list of lists) x 2 seeds = 8 tasks,
#     sweep.json, plain task configs; writing the same sweep again is a no-op;
#   - `--run` trains every task (hashes.json in each run), and a second `--run`
#     skips them all;
#   - same bytes: a task trained again into another directory gives the same
#     hashes.json, and the recorded XXH3-128 of every dataset equals Python's
#     xxhash over h5py's read of the same dataset (an independent reader and
#     binding); a format_version 1 record (SHA-256) equal to hashlib's still
#     verifies, and one that disagrees does not;
#   - `nerve verify` passes, then names a changed dataset (exit 2);
#   - `nerve collect`: means and sample standard deviations equal numpy's over the
#     summary.json files; an unfinished task is listed and left out; analysis
#     tables that exist are merged.
set -u
NERVE=${NERVE:-build/nerve}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d /tmp/nerve-sweep-local-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat > sweep.cfg <<'EOF'
experiment = "sweeptest";
data: { source = "spheres"; spheres: { dim = 5; points_per_class = 120; }; };
models: {
  activation = ["relu", "tanh"];
  hidden = ([12, 12], [8, 8, 8]);
};
train: { epochs = 6; batch_size = 16; };
snapshots: { count = 3; };
seeds = [1, 2];
EOF

"$NERVE" sweep sweep.cfg --out s > plan.txt 2>&1 || { cat plan.txt; fail "nerve sweep (expansion) failed"; }
cat plan.txt
grep -q '8 tasks (4 configurations x 2 seeds)' plan.txt || fail "expected 8 tasks in 4 configurations"
$PY - <<'EOF' || fail "sweep.json or the task configs are wrong"
import json
j = json.load(open("s/sweep.json"))
assert j["format"] == "nerve-sweep" and j["ntasks"] == 8 and j["nconfigs"] == 4, j
assert [a["key"] for a in j["axes"]] == ["models.activation", "models.hidden", "seed"]
assert j["axes"][1]["values"] == [[12, 12], [8, 8, 8]]
t5 = j["tasks"][5]
assert t5["name"] == "0005" and t5["config"] == 2 and t5["seed"] == 2, t5
assert t5["values"] == {"models.activation": "tanh", "models.hidden": [12, 12], "seed": 2}, t5
cfg = open("s/tasks/0005/config.cfg").read()
assert 'activation = "tanh";' in cfg and "hidden = [12, 12];" in cfg and "seed = 2;" in cfg, cfg
assert "seeds" not in cfg and "(" not in cfg
EOF
"$NERVE" sweep sweep.cfg --out s > /dev/null 2>&1 || fail "writing the same sweep again must be a no-op"

"$NERVE" sweep sweep.cfg --out s --run --jobs 2 > run.txt 2>&1 || { cat run.txt; fail "nerve sweep --run failed"; }
tail -2 run.txt
for t in 0 1 2 3 4 5 6 7; do
  [ -f s/tasks/000$t/run/hashes.json ] || fail "task 000$t has no hashes.json"
done
"$NERVE" sweep sweep.cfg --out s --run > rerun.txt 2>&1 || fail "a second --run failed"
[ "$(grep -c 'already trained' rerun.txt)" = 8 ] || { cat rerun.txt; fail "a second --run must skip the 8 finished tasks"; }

# Same bytes: task 3 again, elsewhere.
"$NERVE" train s/tasks/0003/config.cfg --out again --threads 1 > again.txt 2>&1 || { cat again.txt; fail "retraining task 3 failed"; }
cmp s/tasks/0003/run/hashes.json again/hashes.json || fail "task 3 trained twice: hashes.json differs"
echo "task 3 trained twice: the same hashes.json ($(grep -c '"/' again/hashes.json) datasets)"

# The recorded hashes against Python's xxhash over h5py (an independent reader);
# then the run's record rewritten as format_version 1 with hashlib's SHA-256 (what
# runs before version 2 hold), which `nerve verify` must still check.
cp -r s/tasks/0003/run v1
$PY - <<'EOF' || fail "hashes.json disagrees with xxhash over h5py"
import hashlib, json, h5py, numpy as np, xxhash
rec = json.load(open("s/tasks/0003/run/hashes.json"))
assert rec["format"] == "nerve-hashes" and rec["format_version"] == 2, rec["format_version"]
assert rec["algorithm"] == "xxh3-128 of each dataset's raw data as stored"
v1 = {"format": "nerve-hashes", "format_version": 1,
      "algorithm": "sha256 of each dataset's raw data as stored", "files": {}}
n = 0
for rel, dsets in rec["files"].items():
    with h5py.File("s/tasks/0003/run/" + rel, "r") as f:
        names = []
        f.visititems(lambda k, o: names.append("/" + k) if isinstance(o, h5py.Dataset) else None)
        assert sorted(names) == sorted(dsets), (rel, sorted(names), sorted(dsets))
        for name, want in dsets.items():
            d = f[name]
            if h5py.check_string_dtype(d.dtype) is not None:
                vals = d[()] if d.shape == () else d[...].ravel()
                vals = [vals] if d.shape == () else list(vals)
                raw = b"".join((v if isinstance(v, bytes) else v.encode()) + b"\0" for v in vals)
            else:
                raw = np.ascontiguousarray(d[()]).tobytes()
            got = xxhash.xxh3_128_hexdigest(raw)
            assert got == want, (rel, name, got, want)
            v1["files"].setdefault(rel, {})[name] = hashlib.sha256(raw).hexdigest()
            n += 1
json.dump(v1, open("v1/hashes.json", "w"), indent=2)
print("xxhash agrees on", n, "datasets")
EOF
"$NERVE" verify v1 >/dev/null || fail "nerve verify of a format_version 1 (SHA-256) record failed"
sed -i '0,/"[0-9a-f]\{64\}"/s//"'$(printf '0%.0s' $(seq 64))'"/' v1/hashes.json
"$NERVE" verify v1 2>v1.err && fail "a wrong SHA-256 in a version 1 record verified"
grep -q 'differs: sha256 ' v1.err || fail "version 1 mismatch message: $(cat v1.err)"
echo "a format_version 1 (SHA-256) record still verifies, and a wrong one is named"
sed -i 's/"format_version": 1/"format_version": 3/' v1/hashes.json
"$NERVE" verify v1 2>v3.err; rc=$?
[ $rc = 2 ] && grep -q 'format_version 3' v3.err || fail "an unknown hashes.json version: exit $rc, $(cat v3.err)"
echo "an unknown hashes.json version is refused (exit 2): $(head -c 120 v3.err)"

"$NERVE" verify s/tasks/0003/run || fail "nerve verify of an untouched run failed"
cp -r s/tasks/0003/run tampered
$PY -c "
import h5py
with h5py.File('tampered/snapshots/bottleneck/epoch_0006.h5', 'r+') as f:
    d = f['layers/hidden2/test']; d[1, 0] = d[1, 0] + 0.5
" || fail "could not change a dataset"
"$NERVE" verify tampered > verify.txt 2>&1
rc=$?
cat verify.txt
[ $rc = 2 ] || fail "nerve verify of a changed run: exit $rc, expected 2"
grep -q 'epoch_0006.h5: dataset /layers/hidden2/.* differs' verify.txt || fail "the message must name the file and the dataset"

# Analysis tables where they exist (two seeds of configuration 0), then collect.
for t in 0000 0001; do
  mkdir -p s/tasks/$t/run/analysis/stats
  printf 'model,epoch,layer,split,accuracy\nexpressive,0,hidden1,test,0.5\nexpressive,6,hidden1,test,0.%s\n' "${t: -1}8" \
    > s/tasks/$t/run/analysis/stats/probes.csv
done
# analysis/ph/summary.csv as `nerve ph RUN` writes it: only the last epoch counts
for t in 0000 0001; do
  mkdir -p s/tasks/$t/run/analysis/ph
  { echo "model,epoch,layer,split,class,dim,betti_at_scale,total_persistence,entropy,n_points,scale"
    echo "expressive,0,hidden1,all,0,1,7,0.1,0.1,50,0.5"
    echo "expressive,6,hidden1,all,0,1,${t: -1},0.1,0.1,50,0.5"
    echo "expressive,6,hidden1,all,all,0,2,0.1,0.1,50,0.5"; } > s/tasks/$t/run/analysis/ph/summary.csv
done
mv s/tasks/0007/run/hashes.json s/tasks/0007/run/hashes.json.off
"$NERVE" collect s > collect.txt 2>&1 || { cat collect.txt; fail "nerve collect failed"; }
cat collect.txt
grep -q 'unfinished tasks (left out of the table): 0007' collect.txt || fail "the unfinished task 0007 must be listed"
$PY - <<'EOF' || fail "the collected table is wrong"
import csv, json, numpy as np
rows = list(csv.DictReader(open("s/collect/results.csv")))
assert len(rows) == 4, rows
sweep = json.load(open("s/sweep.json"))
for r in rows:
    c = int(r["config"])
    tasks = [t for t in sweep["tasks"] if t["config"] == c and t["name"] != "0007"]
    assert int(r["seeds_done"]) == len(tasks) and int(r["seeds_total"]) == 2, r
    assert r["models.activation"] == tasks[0]["labels"][0] and r["models.hidden"] == tasks[0]["labels"][1]
    for m in ("expressive", "bottleneck", "linear"):
        acc = [json.load(open(f"s/tasks/{t['name']}/run/summary.json"))["models"][m]["test_acc"] for t in tasks]
        assert abs(float(r[m + "_test_acc_mean"]) - np.mean(acc)) < 1e-6, (r, acc)
        if len(acc) > 1:
            assert abs(float(r[m + "_test_acc_std"]) - np.std(acc, ddof=1)) < 1e-6, (r, acc)
        else:
            assert r[m + "_test_acc_std"] == "", r
a = list(csv.DictReader(open("s/collect/analysis.csv")))
q = {r["quantity"]: r for r in a}
assert sorted(q) == ["betti0", "betti1_class0", "probe_accuracy"], a
assert all(r["config"] == "0" and r["layer"] == "hidden1" and r["n"] == "2" for r in a), a
assert abs(float(q["probe_accuracy"]["mean"]) - 0.13) < 1e-9, a
assert float(q["betti1_class0"]["mean"]) == 0.5 and abs(float(q["betti1_class0"]["std"]) - 0.707107) < 1e-6, a
assert float(q["betti0"]["mean"]) == 2 and float(q["betti0"]["std"]) == 0, a
print("collect agrees with numpy")
EOF
[ -s s/collect/results.png ] || fail "no figure"
grep -q 'probe accuracy' s/collect/results.md && fail "probes were found: the note must not say skipped"
grep -q 'intrinsic dimension (analysis/stats/intrinsic_dimension.csv): not present' s/collect/results.md || fail "missing analyses must be noted"
echo "PASS"
