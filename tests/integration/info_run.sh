#!/usr/bin/env bash
# info_run.sh: `nerve info` on what the writers produce: a run directory (models,
# snapshot epochs, layer shapes, sizes), a snapshots directory, a snapshot file
# (format line, tree, virtual datasets marked, attributes shortened), a checkpoint,
# the --json forms (parsed by Python), and the refusals: a non-HDF5 file, a missing
# path, a directory that is not a run, bad flags -- all exit 2 with one message.
set -u
cd "${NERVE_ROOT:-.}"
BUILD=${BUILD:-build}
case "$BUILD" in /*) tool=$BUILD/tests/tools/snapshot_write ;; *) tool=$PWD/$BUILD/tests/tools/snapshot_write ;; esac
NERVE=${NERVE:-$PWD/$BUILD/nerve}
[ -x "$tool" ] || { echo "FAIL: $tool not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect WHAT PATTERN FILE
  grep -qE -- "$2" "$3" || { echo "FAIL: $1: no line matching /$2/ in:"; sed 's/^/    | /' "$3"; fail=1; }
}
status() { # status WANT CMD...
  local want=$1; shift
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  [ "$rc" = "$want" ] || { echo "FAIL: '$*' exited $rc, expected $want"; sed 's/^/    | /' "$tmp/err"; fail=1; }
}

"$tool" --run "$tmp/run" --pre --train 30 --test 10 --widths 3,8,2 || exit 1
"$tool" "$tmp/run/snapshots" expressive 1 --pre --train 30 --test 10 --widths 3,8,2 || exit 1

# A run directory.
status 0 "$NERVE" info "$tmp/run"
expect "run: experiment" '^  experiment +tiny$' "$tmp/out"
expect "run: model line" '^  expressive +3-8-2 relu, 2 epochs, train_acc 0\.7000, test_acc 0\.6500' "$tmp/out"
expect "run: snapshot epochs" '^  expressive +3 files, .*; epochs 0-2$' "$tmp/out"
expect "run: bottleneck epochs" '^  bottleneck +2 files, .*; epochs 0, 2$' "$tmp/out"
expect "run: layer shapes" '^    hidden1 +hidden +train \(30, 8\)  test \(10, 8\)  all \(40, 8\)  \+ pre-activations$' "$tmp/out"
expect "run: sizes" '^  total +[0-9.]+ KiB$' "$tmp/out"

status 0 "$NERVE" info --json "$tmp/run"
/usr/bin/python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "run" and d["experiment"] == "tiny", d
assert d["models"]["expressive"]["widths"] == [3, 8, 2]
assert d["models"]["bottleneck"]["epochs_completed"] == 2
s = d["snapshots"]["expressive"]
assert s["epochs"] == [0, 1, 2], s["epochs"]
lay = {l["name"]: l for l in s["layers"]}
assert lay["logits"]["all"] == [40, 2] and lay["hidden1"]["pre"] is True and lay["input"]["pre"] is False
assert d["sizes"]["total"] > d["sizes"]["snapshots"] > 0
PY

# summary.json (written at the end of a run) is preferred for the final metrics.
cat > "$tmp/run/summary.json" <<'JSON'
{"experiment": "tiny", "seed": 7, "epochs": 2, "n_train": 30, "n_test": 10,
 "models": {"expressive": {"widths": [3, 8, 2], "train_acc": 0.975, "test_acc": 0.9,
                           "train_loss": 0.1, "test_loss": 0.2}}}
JSON
status 0 "$NERVE" info "$tmp/run"
expect "summary: metrics" '^  expressive +3-8-2 relu, 2 epochs, train_acc 0\.9750, test_acc 0\.9000, train_loss 0\.1000, test_loss 0\.2000$' "$tmp/out"
expect "summary: data" '^  data +30 train, 10 test$' "$tmp/out"

# A snapshots directory (manifest.json and model folders only).
status 0 "$NERVE" info "$tmp/run/snapshots"
expect "snapshots dir" 'snapshots directory$' "$tmp/out"

# A snapshot file: format line, virtual datasets, chunking, shortened config.
f=$tmp/run/snapshots/expressive/epoch_0002.h5
status 0 "$NERVE" info "$f"
expect "file: format" "^$f: nerve-snapshot version 1, " "$tmp/out"
expect "file: virtual" '^      all  \(40, 8\) float32  virtual: /layers/hidden1/train \+ /layers/hidden1/test$' "$tmp/out"
expect "file: chunked" '^      train  \(30, 8\) float32  chunked \(30, 8\), shuffle\+gzip\(4\), ' "$tmp/out"
expect "file: attrs" '^  @layer_names = \["input", "hidden1", "logits"\]$' "$tmp/out"
expect "file: long strings shortened" '^  @config = ".*"\.\.\. \([0-9]+ chars\)$' "$tmp/out"
status 0 "$NERVE" info --full "$f"
expect "file: --full" '^  @config = ".*\\n"$' "$tmp/out"
status 0 "$NERVE" info --json "$f"
/usr/bin/python3 - "$tmp/out" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
assert d["format"] == "nerve-snapshot" and d["format_version"] == 1 and d["supported"] is True
al = d["root"]["members"]["layers"]["members"]["input"]["members"]["all"]
assert al["layout"] == "virtual" and [s["dataset"] for s in al["sources"]] == ["/layers/input/train", "/layers/input/test"]
assert al["sources"][1]["offset"] == [30, 0] and al["sources"][1]["count"] == [10, 3]
tr = d["root"]["members"]["layers"]["members"]["input"]["members"]["train"]
assert tr["filters"] == ["shuffle", "gzip(4)"] and tr["dtype"] == "float32"
assert d["root"]["attrs"]["config"].startswith("experiment")
PY

# A checkpoint.
status 0 "$NERVE" info "$tmp/run/checkpoints/bottleneck.h5"
expect "checkpoint: format" 'nerve-checkpoint version 1' "$tmp/out"
expect "checkpoint: columns" '@columns = \["epoch", "train_loss", "train_acc", "test_loss", "test_acc"\]' "$tmp/out"

# Refusals: exit 2 and one message naming the path.
echo "not hdf5" > "$tmp/junk.h5"
status 2 "$NERVE" info "$tmp/junk.h5"
expect "junk: message" "junk.h5: not an HDF5 file" "$tmp/err"
head -c 4000 "$f" > "$tmp/truncated.h5"   # an HDF5 signature, but cut short
status 2 "$NERVE" info "$tmp/truncated.h5"
expect "truncated: message" "truncated.h5: cannot open as HDF5 \(HDF5: truncated file" "$tmp/err"
status 2 "$NERVE" info "$tmp/nonexistent"
mkdir "$tmp/empty"
status 2 "$NERVE" info "$tmp/empty"
expect "empty dir: message" "not a run directory" "$tmp/err"
printf '{"format": "nerve-manifest", "format_version": 7, "files": []}\n' > "$tmp/run/snapshots/manifest.json"
status 2 "$NERVE" info "$tmp/run"
expect "future manifest" "format_version 7 is not supported \(this nerve reads 1\)" "$tmp/err"
status 2 "$NERVE" info
status 2 "$NERVE" info --bogus "$f"
status 0 "$NERVE" info --help
expect "help" '^usage: nerve info' "$tmp/out"

[ $fail = 0 ] && echo "info_run: all checks passed"
exit $fail
