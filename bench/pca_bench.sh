#!/usr/bin/env bash
# pca_bench.sh: nerve's CPU PCA (nv_pca_fit through tests/tools/linalg_tool
# bench-pca) side by side with sklearn's PCA(svd_solver='full') on the same float32
# activation matrix (default 20000 x 256, k = 3), with the same OpenBLAS kernels
# (scripts/openblas-env.sh) and the same OPENBLAS_NUM_THREADS on both sides.
# Three alternating runs per thread count (nerve, sklearn on the float32 matrix,
# sklearn on a float64 copy); each run times one fit after a warm-up
# fit in the same process (file loading and imports excluded on both sides); the
# medians and their ratio are printed. Results: docs/benchmarks-pca.md.
#
#   bash bench/pca_bench.sh [BUILD] [n] [d] [k] [threads...]
#   e.g. make BUILD=build/pca build/pca/tests/tools/linalg_tool && bash bench/pca_bench.sh build/pca
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}; N=${2:-20000}; D=${3:-256}; K=${4:-3}; shift $(( $# < 4 ? $# : 4 ))
THREADS=("$@"); [ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
TOOL=$BUILD/tests/tools/linalg_tool
[ -x "$TOOL" ] || { echo "SKIP: $TOOL not built (make BUILD=$BUILD $TOOL)"; exit 77; }
PY=/usr/bin/python3
source scripts/openblas-env.sh
export OMP_WAIT_POLICY=PASSIVE
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
$PY bench/pca_sklearn.py gen "$tmp/x.f32" "$N" "$D"
echo "PCA of a ${N} x ${D} float32 matrix, k = ${K}; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for t in "${THREADS[@]}"; do
  export OPENBLAS_NUM_THREADS=$t
  : >"$tmp/nerve"; : >"$tmp/sk"; : >"$tmp/sk64"
  for r in 1 2 3; do
    # nerve: warm-up fit + timed fit in one process (the second line).
    "$TOOL" bench-pca "$tmp/x.f32" "$N" "$D" "$K" 2 | awk 'NR==2 {print $2}' >>"$tmp/nerve"
    $PY bench/pca_sklearn.py fit "$tmp/x.f32" "$N" "$D" "$K" | awk '{print $2}' >>"$tmp/sk"
    $PY bench/pca_sklearn.py fit "$tmp/x.f32" "$N" "$D" "$K" f64 | awk '{print $2}' >>"$tmp/sk64"
  done
  a=$(median <"$tmp/nerve"); b=$(median <"$tmp/sk"); c=$(median <"$tmp/sk64")
  echo "threads $t: nerve [$(paste -sd' ' "$tmp/nerve")] median ${a}s"
  echo "threads $t: sklearn float32 input [$(paste -sd' ' "$tmp/sk")] median ${b}s: sklearn/nerve = $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')x"
  echo "threads $t: sklearn float64 input [$(paste -sd' ' "$tmp/sk64")] median ${c}s: sklearn/nerve = $(awk -v a="$a" -v b="$c" 'BEGIN{printf "%.2f", b/a}')x"
done
