#!/usr/bin/env bash
# ph_gpu.sh: the GPU stages of `nerve ph` against its CPU engine on the same
# machine (bench/ph_gpu_bench.c): per cloud, distances and the whole barcode on the
# CPU and with the column stage on the GPU, medians of 3 alternating runs, CUDA's
# start-up timed apart, and the share of simplices the apparent-pair search
# removes. Results go to docs/benchmarks-ph.md (section "GPU stages").
#
#   bash bench/ph_gpu.sh [BUILD] [threads]
#
# Needs a GPU. Without one it prints a line saying so and exits 0, so that
# `make bench` on a CPU machine is not a failure. STATUS: not yet run on a GPU.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}; THREADS=${2:-0}
BIN=$BUILD/bench/ph_gpu_bench
# `all` too: the CUDA plug-in (libnerve_cuda.so) is what the bench loads
make -s BUILD="$BUILD" all "$BIN" >/dev/null || { echo "ph_gpu.sh: cannot build $BIN"; exit 1; }
echo "ph GPU stages vs CPU engine; threads ${THREADS} (0 = all); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$BIN" "$THREADS"
rc=$?
if [ $rc = 77 ]; then   # the bench printed why (no driver, no device, no CUDA build)
  echo "ph_gpu.sh needs a GPU (an NVIDIA driver and a CUDA device); nothing measured here"
  exit 0
fi
exit $rc
