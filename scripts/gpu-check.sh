#!/usr/bin/env bash
# gpu-check.sh [OUT]: everything nerve can only check where there is a GPU, in one
# command, with every log and figure written under OUT (default gpu-check/):
#   1. the machine: nvidia-smi, nvcc, the CPU;
#   2. the CUDA build (sm_90 + PTX) and `make test-gpu` (every CUDA kernel and stage
#      against its CPU reference: training backend, RNG, PCA, feature images,
#      persistent homology, the Ripser/GUDHI oracles through the GPU stages);
#   3. the GPU benchmarks: persistent homology stages vs the CPU engine
#      (bench/ph_gpu.sh), training throughput on the CUDA backend
#      (bench/train_bench.sh with DEVICE=cuda), feature images (bench/features_bench.sh),
#      and `nerve ph RUN` on the default spheres run, CPU against GPU.
# Steps go on after a failure (each one's status is in OUT/summary.txt), so one
# call on a lent GPU machine gathers everything. On a machine without a package
# registry, pack the libraries first and source them (docs/DESIGN.md, "Tests"):
#   source .devdeps/activate && bash scripts/gpu-check.sh "$OUT"
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu-check}
mkdir -p "$OUT"
JOBS=$(getconf _NPROCESSORS_ONLN)
summary="$OUT/summary.txt"
: > "$summary"
step() { # step NAME LIMIT_SECONDS COMMAND...: runs it, logs to OUT/NAME.log, notes the status
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" bash -c "$*" > "$OUT/$name.log" 2>&1
  local rc=$?
  printf '%-14s rc=%-3s %4ss  %s\n' "$name" "$rc" "$((SECONDS - t0))" "$(tail -1 "$OUT/$name.log")" | tee -a "$summary"
}
step machine 60 "nvidia-smi; nvcc --version; grep -m1 'model name' /proc/cpuinfo; nproc; free -g"
step build 900 "make -j$JOBS all build/bench/train_bench build/bench/features_bench build/bench/ph_gpu_bench"
step test-gpu 900 "make test-gpu"
step ph_gpu 900 "bash bench/ph_gpu.sh build 0"
step train_gpu 600 "DEVICE=cuda bash bench/train_bench.sh 3 3 1"
step features 600 "bash bench/features_bench.sh"
# The per-snapshot workload of the issue's benchmark: every diagram of the default
# spheres run (layers x epochs x splits x classes), on the CPU and with --device cuda.
step spheres_run 900 "rm -rf '$OUT/run' && build/nerve train experiments/spheres.cfg --out '$OUT/run' >/dev/null"
step ph_run_cpu 900 "/usr/bin/time -f 'wall %e s' build/nerve ph '$OUT/run' --device cpu --force"
step ph_run_cuda 900 "/usr/bin/time -f 'wall %e s' build/nerve ph '$OUT/run' --device cuda --force"
echo "logs in $OUT/; summary:"
cat "$summary"
