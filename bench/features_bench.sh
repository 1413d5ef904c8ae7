#!/usr/bin/env bash
# features_bench.sh: feature images of all 256 units of a 256-wide layer (784 inputs,
# 1000 steps) by bench/features_bench.c: the CPU with all units as one batch, the
# CPU one unit at a time (the speedup of batching), and the GPU where one answers
# (a SKIP line otherwise). Three alternating runs each; medians and ratios printed.
# Results: docs/benchmarks-features.md.
#
#   bash bench/features_bench.sh [BUILD] [steps] [threads] [regularised]
#   e.g. make BUILD=build/feat build/feat/bench/features_bench && bash bench/features_bench.sh build/feat
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}; STEPS=${2:-1000}; THREADS=${3:-1}; REG=${4:-0}
BIN=$BUILD/bench/features_bench
[ -x "$BIN" ] || { echo "SKIP: $BIN not built (make BUILD=$BUILD $BIN)"; exit 77; }
source scripts/openblas-env.sh
export OPENBLAS_NUM_THREADS=$THREADS OMP_WAIT_POLICY=PASSIVE
echo "OPENBLAS_NUM_THREADS=$THREADS OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset};$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
out=$("$BIN" "$STEPS" 3 "$REG")
echo "$out"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
b=$(echo "$out" | awk '$1=="batched"{print $2}' | median)
o=$(echo "$out" | awk '$1=="one"{print $2}' | median)
echo "median cpu batched: ${b}s   cpu one unit at a time: ${o}s   batching speedup: $(awk -v a="$o" -v b="$b" 'BEGIN{printf "%.1f", a/b}')x"
if echo "$out" | grep -q '^cuda '; then
  g=$(echo "$out" | awk '$1=="cuda"{print $2}' | median)
  echo "median gpu batched: ${g}s   gpu speedup over cpu batched: $(awk -v a="$b" -v b="$g" 'BEGIN{printf "%.1f", a/b}')x"
else
  echo "SKIP gpu: $(echo "$out" | grep -m1 '^SKIP cuda' | cut -d: -f2-)"
fi
