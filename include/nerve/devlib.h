/* devlib.h: the device library, the part of the device layer (device.h) that the CUDA
 * plug-in's files call where a vendor library would otherwise sit between their own
 * kernels: matrix products (cuBLAS), the symmetric eigensolver (cuSOLVER), and the
 * sort and stream compaction of the persistent homology stages (thrust).
 *
 * Two implementations with this one contract; the Makefile links exactly one into
 * libnerve_cuda.so (DEVLIB=vendor|own):
 *   cuda/devlib_vendor.cu  cuBLAS, cuSOLVER and thrust: the build for real GPUs (nvcc).
 *   cuda/devlib_own.cu     the project's own kernels (a tiled shared-memory GEMM, a
 *                          bitonic sort, a scan-based compaction) and LAPACKE's dsyevd
 *                          on the host after a copy: the CUDA-on-CPU build (make
 *                          test-cuda-cpu, chipStar's cucc), whose toolchain has none
 *                          of the vendor libraries.
 * tests/gpu/test_devlib_parity.c checks whichever is built against CPU references
 * (cblas, qsort, a loop, LAPACKE), so on a GPU it checks the vendor libraries and
 * under the emulation the own kernels.
 *
 * Conventions: device pointers everywhere except `info`, `kept` and the scalars; the
 * matrix calls have cuBLAS's column-major semantics (op flags, leading dimensions,
 * alpha/beta; beta == 0 means C is not read, so it may hold garbage or NaN). They
 * are queued on the handle's stream and do not synchronise; the sort, the
 * compaction and the eigensolver synchronise the stream before they return. Failures are
 * NV_EDEVICE with file:line and the call, as every cuda/ check (cuda/check.cuh).
 * Sizes are int: the vendor calls take int, and a larger problem is refused with
 * NV_EINPUT rather than truncated. Only the plug-in defines these functions: they
 * are for the cuda/ files and the GPU tests, which link the plug-in.
 */
#ifndef NERVE_DEVLIB_H
#define NERVE_DEVLIB_H

#include <stddef.h>
#include <stdint.h>

#include "nerve/common.h"
#include "nerve/ph_stages.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A handle: the stream every call is queued on, plus whatever the implementation
 * keeps (cuBLAS and cuSOLVER handles, created on first use; the own compaction's
 * scratch, kept from call to call because a device allocation per call is slow
 * under the CUDA-on-CPU runtime). Everything is given back by nv_devlib_destroy. */
typedef struct nv_devlib nv_devlib;

/* Which implementation this plug-in carries, e.g. "vendor (cuBLAS, cuSOLVER, thrust)". */
const char *nv_devlib_name(void);

/* `stream` is a cudaStream_t passed as void * (NULL: the default stream). Products
 * are plain FP32/FP64 (no TF32 tensor cores: the CPU parity needs 24-bit products). */
nv_status nv_devlib_create(void *stream, nv_devlib **out, nv_error *err);
void nv_devlib_destroy(nv_devlib *h); /* accepts NULL */

typedef enum { NV_DEVLIB_N = 0, NV_DEVLIB_T = 1 } nv_devlib_op;

/* C (m x n) = alpha op(A) op(B) + beta C, column-major: op(A) is m x k (A is m x k
 * with lda >= m for N, k x m with lda >= k for T), op(B) k x n likewise. The own
 * implementation sums over k in index order for every element (deterministic);
 * cuBLAS's order is its own but fixed per GPU model and toolkit. */
nv_status nv_devlib_sgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                          int64_t ldb, float beta, float *C, int64_t ldc, nv_error *err);
nv_status nv_devlib_dgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m, int64_t n,
                          int64_t k, double alpha, const double *A, int64_t lda, const double *B,
                          int64_t ldb, double beta, double *C, int64_t ldc, nv_error *err);

/* The upper triangle (i <= j) of C (n x n) = alpha op(A) op(A)^T + beta C: trans N,
 * A is n x k (A A^T); T, A is k x n (A^T A). The strict lower triangle is not
 * written. */
nv_status nv_devlib_dsyrk_upper(nv_devlib *h, nv_devlib_op trans, int64_t n, int64_t k,
                                double alpha, const double *A, int64_t lda, double beta,
                                double *C, int64_t ldc, nv_error *err);

/* The symmetric eigenproblem of A (n x n, column-major, upper triangle read): on
 * return w (n, device) holds the eigenvalues ascending and A the orthonormal
 * eigenvectors as columns (dsyevd's JOBZ='V', UPLO='U'). *info (host) is LAPACK's
 * (0 success, > 0 no convergence, < 0 a bad argument); the status is NV_OK then,
 * and NV_EDEVICE only when the device fails. Synchronises. */
nv_status nv_devlib_dsyevd_upper(nv_devlib *h, int64_t n, double *A, int64_t lda, double *w,
                                 int *info, nv_error *err);

/* The two orders of the persistent homology stages (include/nerve/ph_stages.h), both
 * total on distinct indices:
 *   FILTRATION  diam ascending, then idx descending (the edges);
 *   REDUCTION   diam descending, then idx ascending (the columns). */
typedef enum { NV_DEVLIB_FILTRATION = 0, NV_DEVLIB_REDUCTION = 1 } nv_devlib_order;

/* Sorts a[0..n) (device) in place by `order`. */
nv_status nv_devlib_sort_simplices(nv_devlib *h, nv_ph_simplex *a, int64_t n,
                                   nv_devlib_order order, nv_error *err);

/* out[0..*kept) = the in[i] with flags[i] != 0, in index order (stable, as
 * thrust::copy_if); *kept (host) their count. out has room for n; in and out do not
 * overlap. */
nv_status nv_devlib_compact_simplices(nv_devlib *h, const nv_ph_simplex *in,
                                      const unsigned char *flags, int64_t n, nv_ph_simplex *out,
                                      int64_t *kept, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
