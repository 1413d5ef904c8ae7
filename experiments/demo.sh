#!/usr/bin/env bash
# demo.sh NERVE [CONFIG]: the main job, end to end: train the pair (and the linear
# baseline) with activation snapshots, then show what the run holds.
# Idempotent: a finished run is left as it is; a killed one is resumed.
set -euo pipefail
nerve=${1:-build/nerve}
cfg=${2:-experiments/spheres.cfg}
name=$(sed -n 's/^experiment *= *"\(.*\)";.*/\1/p' "$cfg" | head -1)
out=runs/${name:-demo}
t0=$(date +%s)
"$nerve" train "$cfg" --out "$out" --resume
"$nerve" info "$out"
echo
echo "demo finished in $(( $(date +%s) - t0 ))s: the run is in $out/"
echo "  summary:   $out/summary.json"
echo "  metrics:   $out/metrics/*.csv"
echo "  snapshots: $out/snapshots/manifest.json (HDF5, one file per model and epoch)"
