/* devlib_vendor.cu: the device library (include/nerve/devlib.h) on NVIDIA's libraries:
 * cuBLAS for the products, cuSOLVER for the eigensolver, thrust for the sort and the
 * compaction. The build for real GPUs links this one (nvcc; DEVLIB=vendor, the
 * default); cuda/devlib_own.cu is the stand-in for toolchains without them.
 *
 * Every status is checked here and becomes NV_EDEVICE with file:line, the call and
 * the library's own words for the error, as cuda/check.cuh does for the runtime.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <thrust/copy.h>
#include <thrust/execution_policy.h>
#include <thrust/sort.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system_error.h>

#include "devlib.cuh"

static nv_status nv_cublas_fail(cublasStatus_t s, const char *call, const char *file, int line,
                                nv_error *err) {
    return nv_fail(err, NV_EDEVICE, "%s:%d: %s failed: %s (%d)", file, line, call,
                   cublasGetStatusString(s), (int)s);
}

/* cuSOLVER has no status-to-string call, so the number is all there is. */
static nv_status nv_cusolver_fail(cusolverStatus_t s, const char *call, const char *file, int line,
                                  nv_error *err) {
    return nv_fail(err, NV_EDEVICE, "%s:%d: %s failed: cuSOLVER status %d", file, line, call, (int)s);
}

#define NV_CUBLAS(call)                                                                           \
    do {                                                                                          \
        cublasStatus_t s_ = (call);                                                               \
        if (s_ != CUBLAS_STATUS_SUCCESS) return nv_cublas_fail(s_, #call, __FILE__, __LINE__, err); \
    } while (0)
#define NV_CUSOLVER_GOTO(call, label)                                   \
    do {                                                                \
        cusolverStatus_t s_ = (call);                                   \
        if (s_ != CUSOLVER_STATUS_SUCCESS) {                            \
            st = nv_cusolver_fail(s_, #call, __FILE__, __LINE__, err);  \
            goto label;                                                 \
        }                                                               \
    } while (0)

/* Thrust reports failures by exceptions; the C side wants a status. Callers
 * synchronise after their own kernels before calling (NV_SYNCED_GOTO), because a
 * fault first seen inside thrust's clean-up can end the process (std::terminate from
 * a throwing deallocation) instead of returning a status. */
#define NV_THRUST(stmt, call)                                                                    \
    do {                                                                                         \
        try {                                                                                    \
            stmt;                                                                                \
        } catch (const std::exception &e_) {                                                     \
            return nv_fail(err, NV_EDEVICE, "%s:%d: %s failed: %s", __FILE__, __LINE__, call,    \
                           e_.what());                                                           \
        }                                                                                        \
    } while (0)

struct nv_devlib {
    cudaStream_t stream;
    cublasHandle_t blas;         /* created on the first product */
    cusolverDnHandle_t solver;   /* created on the first eigenproblem */
};

extern "C" const char *nv_devlib_name(void) { return "vendor (cuBLAS, cuSOLVER, thrust)"; }

extern "C" void nv_devlib_destroy(nv_devlib *h) {
    if (!h) return;
    /* teardown errors are not actionable (see backend.cu's cuda_destroy) */
    if (h->solver) cusolverDnDestroy(h->solver);
    if (h->blas) cublasDestroy(h->blas);
    free(h);
}

extern "C" nv_status nv_devlib_create(void *stream, nv_devlib **out, nv_error *err) {
    *out = (nv_devlib *)calloc(1, sizeof **out);
    if (!*out) return nv_fail(err, NV_ENOMEM, "device library: out of host memory");
    (*out)->stream = (cudaStream_t)stream;
    return NV_OK;
}

/* The cuBLAS handle, created on first use (the PH stages never need one). */
static nv_status blas_of(nv_devlib *h, nv_error *err) {
    if (h->blas) return NV_OK;
    NV_CUBLAS(cublasCreate(&h->blas));
    NV_CUBLAS(cublasSetStream(h->blas, h->stream));
    /* Plain fp32 (no TF32 tensor cores): the parity with the CPU needs fp32 sums. */
    NV_CUBLAS(cublasSetMathMode(h->blas, CUBLAS_DEFAULT_MATH));
    return NV_OK;
}

static cublasOperation_t op_of(nv_devlib_op o) { return o == NV_DEVLIB_T ? CUBLAS_OP_T : CUBLAS_OP_N; }

extern "C" nv_status nv_devlib_sgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m,
                                     int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                                     nv_error *err) {
    NV_TRY(nv_devlib_check_gemm("sgemm", ta, tb, m, n, k, lda, ldb, ldc, err));
    NV_TRY(blas_of(h, err));
    NV_CUBLAS(cublasSgemm(h->blas, op_of(ta), op_of(tb), (int)m, (int)n, (int)k, &alpha, A, (int)lda,
                          B, (int)ldb, &beta, C, (int)ldc));
    return NV_OK;
}

extern "C" nv_status nv_devlib_dgemm(nv_devlib *h, nv_devlib_op ta, nv_devlib_op tb, int64_t m,
                                     int64_t n, int64_t k, double alpha, const double *A,
                                     int64_t lda, const double *B, int64_t ldb, double beta,
                                     double *C, int64_t ldc, nv_error *err) {
    NV_TRY(nv_devlib_check_gemm("dgemm", ta, tb, m, n, k, lda, ldb, ldc, err));
    NV_TRY(blas_of(h, err));
    NV_CUBLAS(cublasDgemm(h->blas, op_of(ta), op_of(tb), (int)m, (int)n, (int)k, &alpha, A, (int)lda,
                          B, (int)ldb, &beta, C, (int)ldc));
    return NV_OK;
}

extern "C" nv_status nv_devlib_dsyrk_upper(nv_devlib *h, nv_devlib_op trans, int64_t n, int64_t k,
                                           double alpha, const double *A, int64_t lda, double beta,
                                           double *C, int64_t ldc, nv_error *err) {
    /* the same operand rules as the product op(A) op(A)^T */
    NV_TRY(nv_devlib_check_gemm("dsyrk", trans, trans == NV_DEVLIB_N ? NV_DEVLIB_T : NV_DEVLIB_N, n,
                                n, k, lda, lda, ldc, err));
    NV_TRY(blas_of(h, err));
    NV_CUBLAS(cublasDsyrk(h->blas, CUBLAS_FILL_MODE_UPPER, op_of(trans), (int)n, (int)k, &alpha, A,
                          (int)lda, &beta, C, (int)ldc));
    return NV_OK;
}

extern "C" nv_status nv_devlib_dsyevd_upper(nv_devlib *h, int64_t n, double *A, int64_t lda,
                                            double *w, int *info, nv_error *err) {
    NV_TRY(nv_devlib_check_int("dsyevd", "n", n, err));
    NV_TRY(nv_devlib_check_int("dsyevd", "lda", lda, err));
    *info = 0;
    if (n == 0) return NV_OK;
    nv_status st = NV_OK;
    double *work = NULL;
    int *dinfo = NULL, lwork = 0;
    if (!h->solver) {
        NV_CUSOLVER_GOTO(cusolverDnCreate(&h->solver), done);
        NV_CUSOLVER_GOTO(cusolverDnSetStream(h->solver, h->stream), done);
    }
    NV_CUSOLVER_GOTO(cusolverDnDsyevd_bufferSize(h->solver, CUSOLVER_EIG_MODE_VECTOR,
                                                 CUBLAS_FILL_MODE_UPPER, (int)n, A, (int)lda, w,
                                                 &lwork), done);
    NV_CU_GOTO(cudaMalloc((void **)&work, (size_t)(lwork > 0 ? lwork : 1) * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dinfo, sizeof(int)), done);
    NV_CUSOLVER_GOTO(cusolverDnDsyevd(h->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER,
                                      (int)n, A, (int)lda, w, work, lwork, dinfo), done);
    NV_CU_GOTO(cudaMemcpyAsync(info, dinfo, sizeof(int), cudaMemcpyDeviceToHost, h->stream), done);
    NV_CU_GOTO(cudaStreamSynchronize(h->stream), done);
done:
    cudaFree(work);
    cudaFree(dinfo);
    return st;
}

struct filtration_less {
    __host__ __device__ bool operator()(const nv_ph_simplex &x, const nv_ph_simplex &y) const {
        return x.diam < y.diam || (x.diam == y.diam && x.idx > y.idx);
    }
};
struct reduction_less {
    __host__ __device__ bool operator()(const nv_ph_simplex &x, const nv_ph_simplex &y) const {
        return x.diam > y.diam || (x.diam == y.diam && x.idx < y.idx);
    }
};
struct flag_set {
    __host__ __device__ bool operator()(unsigned char f) const { return f != 0; }
};

extern "C" nv_status nv_devlib_sort_simplices(nv_devlib *h, nv_ph_simplex *a, int64_t n,
                                              nv_devlib_order order, nv_error *err) {
    if (n < 2) return NV_OK;
    if (order == NV_DEVLIB_FILTRATION)
        NV_THRUST(thrust::sort(thrust::cuda::par.on(h->stream), a, a + n, filtration_less()),
                  "thrust::sort");
    else
        NV_THRUST(thrust::sort(thrust::cuda::par.on(h->stream), a, a + n, reduction_less()),
                  "thrust::sort");
    NV_CU(cudaStreamSynchronize(h->stream));
    return NV_OK;
}

extern "C" nv_status nv_devlib_compact_simplices(nv_devlib *h, const nv_ph_simplex *in,
                                                 const unsigned char *flags, int64_t n,
                                                 nv_ph_simplex *out, int64_t *kept, nv_error *err) {
    *kept = 0;
    if (n == 0) return NV_OK;
    /* copy_if returns the end of the output: it has synchronised to know it */
    NV_THRUST(*kept = thrust::copy_if(thrust::cuda::par.on(h->stream), in, in + n, flags, out,
                                      flag_set()) - out,
              "thrust::copy_if");
    return NV_OK;
}
