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
