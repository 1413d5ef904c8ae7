#!/usr/bin/env bash
# cuda-on-cpu.sh: builds the CUDA-on-CPU toolchain that `make test-cuda-cpu` runs
# the CUDA kernels with: chipStar 1.2.1 (CUDA -> SPIR-V) on PoCL 6.0 (OpenCL on the
# CPU), with Debian 12's clang/LLVM 15, from the two source tarballs in SRC.
#
#   bash scripts/cuda-on-cpu.sh SRC [PREFIX]      (default PREFIX /opt/cuda-on-cpu)
#
# As root (it installs the Debian packages it needs); about 6-10 minutes on 2 cores;
# a finished PREFIX is left alone. It follows the steps of the toolchain's own
# setup script, with one difference that matters on new CPUs: LLVM 15 does not
# know every recent model (an AMD Zen 5 reads "Host CPU: (unknown)"), and PoCL's
# build then stops. When llc cannot name the host CPU we give PoCL a generic target
# that every x86-64 machine since 2015 runs (x86-64-v3: AVX2, FMA, BMI2), which
# also fixes the CPU PoCL compiles kernels for at run time. Speed under emulation
# says nothing about a GPU, so a generic target costs nothing that matters.
set -euo pipefail
src=${1:?usage: cuda-on-cpu.sh SRC-DIR-WITH-TARBALLS [PREFIX]}
P=${2:-/opt/cuda-on-cpu}
[ -f "$P/.done" ] && { echo "cuda-on-cpu: $P already built"; exit 0; }
for t in pocl-6.0.tar.xz chipStar-1.2.1.tar.xz; do
  [ -f "$src/$t" ] || { echo "cuda-on-cpu: $src/$t not found" >&2; exit 2; }
done
export DEBIAN_FRONTEND=noninteractive
pk="clang-15 clang-tools-15 llvm-15-dev libclang-15-dev libclang-cpp15-dev llvm-spirv-15 ocl-icd-opencl-dev ocl-icd-dev libhwloc-dev pkg-config ninja-build cmake python3"
if ! dpkg -s $pk >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "cuda-on-cpu: as root, or install: apt-get install $pk" >&2; exit 2; }
  apt-get update -qq || true
  apt-get install -y -qq $pk >/dev/null
fi
cpu=()
# (grep without -q reads all of llc's output: with pipefail an early exit could
# turn a match into a SIGPIPE failure)
if /usr/lib/llvm-15/bin/llc --version | grep 'Host CPU: (unknown)' >/dev/null; then
  cpu=(-DLLC_HOST_CPU=x86-64-v3)
  echo "cuda-on-cpu: LLVM 15 does not know this CPU; PoCL targets x86-64-v3"
fi
b=$(mktemp -d); trap 'rm -rf "$b"' EXIT
mkdir -p "$P/bin" "$b/src" "$b/pocl" "$b/chipStar"
tar -xJf "$src/pocl-6.0.tar.xz" -C "$b/src"
tar -xJf "$src/chipStar-1.2.1.tar.xz" -C "$b/src"
mkdir -p "$b/src/chipStar/hip-tests" "$b/src/chipStar/hip-testsuite"   # its cmake wants them
ln -sf /usr/bin/llvm-spirv-15 "$P/bin/llvm-spirv"                        # clang-15 calls plain llvm-spirv
export PATH=$P/bin:$PATH
log=$b/build.log
run() { "$@" >>"$log" 2>&1 || { tail -40 "$log" >&2; echo "cuda-on-cpu: failed: $*" >&2; exit 1; }; }
echo "cuda-on-cpu: building PoCL 6.0"
cd "$b/pocl"
run cmake -G Ninja "$b/src/pocl" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$P/pocl" \
  -DWITH_LLVM_CONFIG=/usr/bin/llvm-config-15 -DLLVM_SPIRV=/usr/bin/llvm-spirv-15 -DENABLE_SPIRV=ON \
  -DENABLE_ICD=ON -DENABLE_TESTS=OFF -DENABLE_EXAMPLES=OFF -DENABLE_POCLCC=OFF "${cpu[@]}"
run ninja -j"$(nproc)"; run ninja install
echo "cuda-on-cpu: building chipStar 1.2.1"
cd "$b/chipStar"
run cmake -G Ninja "$b/src/chipStar" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$P/chipstar" \
  -DLLVM_CONFIG_BIN=/usr/bin/llvm-config-15 -DCMAKE_C_COMPILER=/usr/lib/llvm-15/bin/clang \
  -DCMAKE_CXX_COMPILER=/usr/lib/llvm-15/bin/clang++ -DLLVM_SPIRV=/usr/bin/llvm-spirv-15 \
  -DCHIP_BUILD_TESTS=OFF -DCHIP_BUILD_SAMPLES=OFF
run ninja -j"$(nproc)"; run ninja install
mkdir -p "$P/pocl/etc/OpenCL/vendors"        # our own ICD list: never Debian's pocl 3.1
echo "$P/pocl/lib/libpocl.so.2" > "$P/pocl/etc/OpenCL/vendors/pocl.icd"
cat > "$P/env.sh" <<EOT
export PATH=$P/chipstar/bin:$P/bin:\$PATH
export OCL_ICD_VENDORS=$P/pocl/etc/OpenCL/vendors
export CHIP_DEVICE_TYPE=cpu CHIP_BE=opencl CHIP_LOGLEVEL=err
export CHIP_MODULE_CACHE_DIR=\${TMPDIR:-/tmp}/cuda-on-cpu-cache/chip POCL_CACHE_DIR=\${TMPDIR:-/tmp}/cuda-on-cpu-cache/pocl
EOT
# A kernel that must run before the prefix counts as built: a launch, a copy back
# and the values (a toolchain that compiles but cannot run is no toolchain).
mkdir -p "$b/smoke"
cat > "$b/smoke/smoke.cu" <<'EOT'
#include <cuda_runtime.h>
#include <stdio.h>
__global__ void twice(int *a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] = 2 * i;
}
int main(void) {
    enum { N = 1000 };
    int h[N], *d = NULL, bad = 0;
    if (cudaMalloc(&d, sizeof h) != cudaSuccess) return 1;
    twice<<<(N + 255) / 256, 256>>>(d, N);
    if (cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) != cudaSuccess) return 1;
    for (int i = 0; i < N; i++) bad += h[i] != 2 * i;
    printf("cuda-on-cpu smoke test: %d of %d wrong\n", bad, N);
    return bad != 0;
}
EOT
( source "$P/env.sh" && export CHIP_MODULE_CACHE_DIR="$b/smoke/chip" POCL_CACHE_DIR="$b/smoke/pocl" &&
  cd "$b/smoke" && cucc -O2 smoke.cu -o smoke >>"$log" 2>&1 && ./smoke ) ||
  { tail -20 "$log" >&2; echo "cuda-on-cpu: the smoke test failed; $P is not marked built" >&2; exit 1; }
touch "$P/.done"
echo "cuda-on-cpu: built in $P"
