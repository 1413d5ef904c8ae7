#!/usr/bin/env bash
# train_bench.sh: training throughput of nerve's CPU backend against PyTorch on the
# default spheres nets (12-64-64-64-2 and the bottleneck 12-3-64-64-2, ReLU, Adam,
# batch 64, 10000 rows), as docs/CONTRACTS.md asks for benchmarks: both sides get the
# same threads (OPENBLAS_NUM_THREADS for nerve, torch.set_num_threads for PyTorch)
# and the same OpenBLAS kernels (scripts/openblas-env.sh sets OPENBLAS_CORETYPE),
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE, the runs alternate (nerve first in odd
# rounds, PyTorch first in even ones), and the medians are reported as a ratio.
#
#   bash bench/train_bench.sh [RUNS=5] [SECONDS=3] [THREADS=1]
# Environment: BUILD (default build; the driver is $BUILD/bench/train_bench, built by
# make), DEVICE (cpu; cuda to time the CUDA backend instead), NETS (space-separated
# width lists). Prints every run, then a markdown table (docs/benchmarks-train.md).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECS=${2:-3}
THREADS=${3:-1}
BUILD=${BUILD:-build}
DEVICE=${DEVICE:-cpu}
NETS=${NETS:-"12,64,64,64,2 12,3,64,64,2"}
BIN=$BUILD/bench/train_bench
[ -x "$BIN" ] || { echo "train_bench.sh: $BIN not built (make BUILD=$BUILD $BIN)" >&2; exit 2; }
source scripts/openblas-env.sh
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} threads=$THREADS runs=$RUNS seconds=$SECS device=$DEVICE"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

table=()
for w in $NETS; do
  nw=(); tw=(); nc=(); tc=()
  for r in $(seq 1 "$RUNS"); do
    run_nerve() { "$BIN" --widths "$w" --act relu --opt adam --batch 64 --n 10000 --seconds "$SECS" --device "$DEVICE"; }
    run_torch() { /usr/bin/python3 bench/train_torch.py --widths "$w" --act relu --opt adam --batch 64 --n 10000 \
                    --seconds "$SECS" --threads "$THREADS"; }
    if [ $((r % 2)) = 1 ]; then a=$(run_nerve); b=$(run_torch); else b=$(run_torch); a=$(run_nerve); fi
    echo "$a"; echo "$b"
    nw+=("$(echo "$a" | field samples_per_s)"); nc+=("$(echo "$a" | field samples_per_cpu_s)")
    tw+=("$(echo "$b" | field samples_per_s)"); tc+=("$(echo "$b" | field samples_per_cpu_s)")
  done
  mn=$(printf '%s\n' "${nw[@]}" | median); mt=$(printf '%s\n' "${tw[@]}" | median)
  cn=$(printf '%s\n' "${nc[@]}" | median); ct=$(printf '%s\n' "${tc[@]}" | median)
  table+=("$(awk -v w="$w" -v mn="$mn" -v mt="$mt" -v cn="$cn" -v ct="$ct" -v d="$DEVICE" 'BEGIN {
    printf "| %s | nerve %s | %.0f | %.0f | %.2fx | %.0f | %.0f | %.2fx |", w, d, mn, mt, mn/mt, cn, ct, cn/ct }')")
done
echo
echo "| net (ReLU, Adam, batch 64) | nerve | nerve samples/s | PyTorch samples/s | ratio | nerve samples/CPU-s | PyTorch samples/CPU-s | ratio |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${table[@]}"
