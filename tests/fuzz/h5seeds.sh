#!/usr/bin/env bash
# h5seeds.sh [NERVE]: the HDF5 seeds of tests/fuzz/corpus/h5_*/: a tiny run made by
# nerve itself (3-d spheres, 12 points per class, one hidden layer of 4, 2 epochs),
# its dataset, snapshot, checkpoint, diagram, PCA and features files and an
# imported array file. Run from the project root after `make`; the files are a
# few kilobytes each, so they fit the targets' -max_len (tests/fuzz/run.sh).
set -eu
NERVE=${1:-build/nerve}
out=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/tiny.cfg" <<'CFG'
experiment = "tiny";
data: { source = "spheres"; spheres: { dim = 3; points_per_class = 12; }; };
models: { hidden = [4]; bottleneck_width = 2; linear_baseline = false; };
train: { epochs = 2; batch_size = 8; };
snapshots: { epochs = [0, 2]; };
CFG
export NERVE_THREADS=1
"$NERVE" train "$tmp/tiny.cfg" --out "$tmp/run" >/dev/null
"$NERVE" ph "$tmp/run" --k 5 --scale 1 --no-figures >/dev/null
"$NERVE" pca "$tmp/run" >/dev/null
"$NERVE" features "$tmp/run" --steps 5 --no-figures >/dev/null
r=$tmp/run
mkdir -p $out/h5_dataset $out/h5_snapshot $out/h5_checkpoint $out/h5_diagrams $out/h5_pca $out/h5_features $out/h5_info $out/matrix
cp $r/data.h5 $out/h5_dataset/seed-data.h5
cp $r/snapshots/expressive/epoch_0000.h5 $out/h5_snapshot/seed-expressive-0.h5
cp $r/snapshots/bottleneck/epoch_0002.h5 $out/h5_snapshot/seed-bottleneck-2.h5
cp $r/checkpoints/expressive.h5 $out/h5_checkpoint/seed-expressive.h5
cp $r/analysis/ph/expressive/epoch_0002.h5 $out/h5_diagrams/seed-expressive-2.h5
cp $r/analysis/pca/expressive/epoch_0002.h5 $out/h5_pca/seed-expressive-2.h5
cp $r/analysis/features/expressive/epoch_0002.h5 $out/h5_features/seed-expressive-2.h5
for f in $r/data.h5 $r/metrics.h5 $r/snapshots/expressive/epoch_0000.h5 $r/checkpoints/bottleneck.h5 \
         $r/analysis/ph/bottleneck/epoch_0000.h5 $r/analysis/pca/bottleneck/epoch_0000.h5 \
         $r/analysis/features/bottleneck/epoch_0000.h5; do
  cp "$f" "$out/h5_info/seed-$(echo "${f#$r/}" | tr / -)"
done
# nerve pca FILE: byte 0 even = text table, odd = HDF5 at /x
printf '\x00%s' "$(printf '1,2,3\n4,5,6.5\n7,8,9\n')" >$out/matrix/seed-csv
printf '\x00%s' "$(printf '# x y\n1 2\n3 4\n\n5 6\n')" >$out/matrix/seed-spaces
/usr/bin/python3 - "$out/matrix/seed-h5" <<'PY'
import sys, h5py, numpy as np, io
b = io.BytesIO()
with h5py.File(b, "w", libver=("v110", "v110"), track_order=False) as f:
    f["x"] = np.arange(12, dtype=np.float32).reshape(4, 3)
open(sys.argv[1], "wb").write(b"\x01" + b.getvalue())
PY
ls -la $out/h5_* $out/matrix | awk '{print $5, $9}' | grep -v '^ *$'
