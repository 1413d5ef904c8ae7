#!/usr/bin/env bash
# demo.sh NERVE [CONFIG]: the main job, end to end: train the pair (and the linear
# baseline) with activation snapshots, analyse every snapshot (persistent homology,
# PCA, intrinsic dimension, CKA, probes, feature images) and write the report.
# Idempotent: a finished run is left as it is; a killed one is resumed, and every
# analysis stage skips what is already done.
set -euo pipefail
nerve=${1:-build/nerve}
cfg=${2:-experiments/spheres.cfg}
name=$(sed -n 's/^experiment *= *"\(.*\)";.*/\1/p' "$cfg" | head -1)
out=runs/${name:-demo}
t0=$(date +%s)
"$nerve" train "$cfg" --out "$out" --resume
"$nerve" analyze "$out"
echo
"$nerve" info "$out" | head -30
echo
echo "demo finished in $(( $(date +%s) - t0 ))s: the run is in $out/"
echo "  report:    $out/analysis/report.html ($(( $(stat -c %s "$out/analysis/report.html") / 1000 )) kB; open it in a browser)"
echo "  summary:   $out/summary.json"
echo "  snapshots: $out/snapshots/manifest.json (HDF5, one file per model and epoch)"
