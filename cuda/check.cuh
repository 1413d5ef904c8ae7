/* check.cuh: checked CUDA runtime calls for every cuda/ file. Every runtime call goes
 * through one of these so a failure becomes NV_EDEVICE with the file, line, the call
 * and CUDA's own name for the error (library code never prints), worded the same
 * whichever file it came from. They expect an `nv_error *err` in scope; the _GOTO
 * forms also an `nv_status st`.
 *
 * Only the runtime here: the vendor libraries (cuBLAS, cuSOLVER, thrust) are reached
 * through the device library (include/nerve/devlib.h), whose vendor implementation
 * (cuda/devlib_vendor.cu) checks their status codes the same way. This header must
 * compile with nvcc and with chipStar's cucc (make test-cuda-cpu), which refuses the
 * vendor headers.
 */
#ifndef NERVE_CUDA_CHECK_CUH
#define NERVE_CUDA_CHECK_CUH

#include <cuda_runtime.h>

#include <stdlib.h>

#include "nerve/common.h"

static inline nv_status nv_cuda_fail(cudaError_t e, const char *call, const char *file, int line,
                                     nv_error *err) {
    return nv_fail(err, NV_EDEVICE, "%s:%d: %s failed: %s (%d: %s)", file, line, call,
                   cudaGetErrorName(e), (int)e, cudaGetErrorString(e));
}

/* Return the status from the enclosing function on failure. */
#define NV_CU(call)                                                                  \
    do {                                                                             \
        cudaError_t e_ = (call);                                                     \
        if (e_ != cudaSuccess) return nv_cuda_fail(e_, #call, __FILE__, __LINE__, err); \
    } while (0)
/* Set `st` and jump to `label` on failure (functions with cleanup). */
#define NV_CU_GOTO(call, label)                                                      \
    do {                                                                             \
        cudaError_t e_ = (call);                                                     \
        if (e_ != cudaSuccess) {                                                     \
            st = nv_cuda_fail(e_, #call, __FILE__, __LINE__, err);                   \
            goto label;                                                              \
        }                                                                            \
    } while (0)
/* After a kernel launch: a bad configuration shows up here, not at the launch. */
#define NV_LAUNCHED() NV_CU(cudaGetLastError())
#define NV_LAUNCHED_GOTO(label) NV_CU_GOTO(cudaGetLastError(), label)

/* After a launch whose faults must surface before the next library call (a sort or
 * a compaction of the device library, a copy back): launch errors and faults during
 * the kernel, here. */
#define NV_SYNCED_GOTO(label)                          \
    do {                                               \
        NV_LAUNCHED_GOTO(label);                       \
        NV_CU_GOTO(cudaDeviceSynchronize(), label);    \
    } while (0)

/* The explicitly rounded intrinsics under the CUDA-on-CPU toolchain (make
 * test-cuda-cpu). nvcc never merges __fmul_rn into the __fadd_rn that consumes it (that
 * is their point: the CPU's two roundings, bit for bit), while it does fuse ordinary
 * a*b+c into FMAs. chipStar 1.2.1 defines the float and double _rn operations as plain
 * operators, which clang then fuses like ordinary ones; and its __dsqrt_rn and
 * __double2float_rn live in a device library that does not link on PoCL (every kernel
 * of the file then fails with "Device library link step failed"). So that build
 * gets versions here whose additions and products carry no contraction (clang's fp
 * contract pragma, which clang's HIP default honours while it fuses everything else,
 * nvcc's rule), and sqrt() and the (float) conversion, which both CUDA and OpenCL
 * round to nearest. nvcc keeps NVIDIA's intrinsics: its build is unchanged. */
#if defined(NERVE_CUDA_ON_CPU) && NERVE_CUDA_ON_CPU
#define NV_EMU_RN(name, T, op)                          \
    __device__ __forceinline__ T name(T a, T b) {       \
        _Pragma("clang fp contract(off)") return a op b; \
    }
NV_EMU_RN(nv_emu_fadd_rn, float, +)
NV_EMU_RN(nv_emu_fsub_rn, float, -)
NV_EMU_RN(nv_emu_fmul_rn, float, *)
NV_EMU_RN(nv_emu_fdiv_rn, float, /)
NV_EMU_RN(nv_emu_dadd_rn, double, +)
NV_EMU_RN(nv_emu_dsub_rn, double, -)
NV_EMU_RN(nv_emu_dmul_rn, double, *)
NV_EMU_RN(nv_emu_ddiv_rn, double, /)
#undef NV_EMU_RN
#define __fadd_rn nv_emu_fadd_rn
#define __fsub_rn nv_emu_fsub_rn
#define __fmul_rn nv_emu_fmul_rn
#define __fdiv_rn nv_emu_fdiv_rn
#define __dadd_rn nv_emu_dadd_rn
#define __dsub_rn nv_emu_dsub_rn
#define __dmul_rn nv_emu_dmul_rn
#define __ddiv_rn nv_emu_ddiv_rn
#define NV_DSQRT_RN(x) sqrt(x)
#define NV_D2F_RN(x) ((float)(x))
#else
#define NV_DSQRT_RN(x) __dsqrt_rn(x)
#define NV_D2F_RN(x) __double2float_rn(x)
#endif

/* Blocks of `threads` covering `count` items. */
static inline unsigned nv_cuda_blocks(int64_t count, int threads) {
    return (unsigned)((count + threads - 1) / threads);
}

/* Test knobs, read from the environment so that the parity tests can make every
 * chunked loop take several turns on small inputs (NERVE_TEST_PH_CHUNK: simplices
 * per chunk of the edge and column stages; NERVE_TEST_GEO_SOURCES: sources per block
 * of the graph distances). Results do not depend on them: only how work is cut. */
static inline int64_t nv_cuda_test_knob(const char *name, int64_t dflt) {
    const char *v = getenv(name);
    long long k = v ? atoll(v) : 0;
    return k > 0 ? (int64_t)k : dflt;
}

/* Propagate a status from a call that already filled err. */
#define NV_TRY(expr)                     \
    do {                                 \
        nv_status t_ = (expr);           \
        if (t_ != NV_OK) return t_;      \
    } while (0)
/* The same, setting `st` and jumping to `label` (functions with cleanup). */
#define NV_TRY_GOTO(expr, label)         \
    do {                                 \
        nv_status t_ = (expr);           \
        if (t_ != NV_OK) {               \
            st = t_;                     \
            goto label;                  \
        }                                \
    } while (0)

#endif
