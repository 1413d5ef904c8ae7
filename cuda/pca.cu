/* pca.cu: the CUDA twin of nv_pca_core_cpu (analysis/geometry/pca.c): the same contract
 * (include/nerve/pca.h, "the backend contract"), with the covariance or Gram matrix
 * from cuBLAS dsyrk, the eigendecomposition from cuSOLVER dsyevd and the
 * projections from cuBLAS dgemm, all in double as on the CPU.
 *
 * The host keeps the shared steps (means, sign convention, completion of
 * directions without variance, ratios); this file only replaces the heavy part.
 * Reference: nv_pca_core_cpu; parity test: tests/gpu/test_pca_parity.c.
 *
 * Layout note: cuBLAS is column-major, so the row-major centred matrix X_c (n, d)
 * is seen here as its transpose A = X_c^T, a column-major d x n matrix (lda = d).
 */
#include "nerve/pca.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.cuh"

extern "C" int nv_pca_cuda_usable(char *why, size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "no usable CUDA device (cudaGetDeviceCount: %s)",
                 cudaGetErrorString(e));
        return 0;
    }
    if (count == 0) {
        snprintf(why, why_len, "no usable CUDA device (cudaGetDeviceCount found 0)");
        return 0;
    }
    return 1;
}

/* xc[i*d + j] = x[i*d + j] - mean[j] in double: the CPU's centred_block over all rows.
 * One thread per entry; no reduction, so the result is exact and order-free. */
__global__ void pca_centre_kernel(const float *x, const double *mean, double *xc, int64_t n,
                                  int64_t d) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t < n * d) xc[t] = (double)x[t] - mean[t % d];
}

extern "C" nv_status nv_pca_core_cuda(const nv_real *x, int64_t n, int64_t d, const double *mean,
                                      int64_t k, double *evals, double *comps, double *proj,
                                      nv_error *err) {
    nv_status st = NV_OK;
    const bool gram = n < d;
    const int64_t m = gram ? n : d; /* order of the eigenproblem */
    const double scale = 1.0 / (double)(n - 1), one = 1.0, zero = 0.0;
    cublasHandle_t blas = NULL;
    cusolverDnHandle_t solver = NULL;
    float *dx = NULL;
    double *dmean = NULL, *dxc = NULL, *da = NULL, *dw = NULL, *dv = NULL, *du = NULL,
           *dproj = NULL, *dwork = NULL;
    int *dinfo = NULL, info = 0, lwork = 0;
    double *w = NULL;

    NV_CUBLAS_GOTO(cublasCreate(&blas), done);
    NV_CUSOLVER_GOTO(cusolverDnCreate(&solver), done);
    NV_CU_GOTO(cudaMalloc((void **)&dx, (size_t)n * d * sizeof(float)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dmean, (size_t)d * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dxc, (size_t)n * d * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&da, (size_t)m * m * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dw, (size_t)m * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dv, (size_t)d * k * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dproj, (size_t)n * k * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dinfo, sizeof(int)), done);
    NV_CU_GOTO(cudaMemcpy(dx, x, (size_t)n * d * sizeof(float), cudaMemcpyHostToDevice), done);
    NV_CU_GOTO(cudaMemcpy(dmean, mean, (size_t)d * sizeof(double), cudaMemcpyHostToDevice), done);
    {
        int64_t total = n * d;
        int threads = 256;
        unsigned blocks = (unsigned)((total + threads - 1) / threads);
        pca_centre_kernel<<<blocks, threads>>>(dx, dmean, dxc, n, d);
        NV_CU_GOTO(cudaGetLastError(), done);
    }

    /* Covariance C = A A^T / (n-1) (d x d), or Gram G = A^T A / (n-1) (n x n). */
    NV_CUBLAS_GOTO(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, gram ? CUBLAS_OP_T : CUBLAS_OP_N, (int)m,
                               (int)(gram ? d : n), &scale, dxc, (int)d, &zero, da, (int)m), done);
    NV_CUSOLVER_GOTO(cusolverDnDsyevd_bufferSize(solver, CUSOLVER_EIG_MODE_VECTOR,
                                                 CUBLAS_FILL_MODE_UPPER, (int)m, da, (int)m, dw,
                                                 &lwork), done);
    NV_CU_GOTO(cudaMalloc((void **)&dwork, (size_t)(lwork > 0 ? lwork : 1) * sizeof(double)), done);
    NV_CUSOLVER_GOTO(cusolverDnDsyevd(solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, (int)m,
                                      da, (int)m, dw, dwork, lwork, dinfo), done);
    NV_CU_GOTO(cudaMemcpy(&info, dinfo, sizeof(int), cudaMemcpyDeviceToHost), done);
    if (info != 0) {
        st = nv_fail(err, info < 0 ? NV_EINTERNAL : NV_ENUMERIC,
                     "pca: cusolverDnDsyevd on a %lld x %lld matrix returned info %d",
                     (long long)m, (long long)m, info);
        goto done;
    }
    w = (double *)malloc((size_t)m * sizeof(double));
    if (!w) {
        st = nv_fail(err, NV_ENOMEM, "pca: out of memory (%lld doubles)", (long long)m);
        goto done;
    }
    NV_CU_GOTO(cudaMemcpy(w, dw, (size_t)m * sizeof(double), cudaMemcpyDeviceToHost), done);
    for (int64_t j = 0; j < m; j++) evals[j] = w[m - 1 - j]; /* ascending -> descending */

    if (!gram) {
        /* Component j is eigenvector column d-1-j; V (d x k) column-major. */
        for (int64_t j = 0; j < k; j++)
            NV_CU_GOTO(cudaMemcpy(dv + j * d, da + (d - 1 - j) * d, (size_t)d * sizeof(double),
                                  cudaMemcpyDeviceToDevice), done);
    } else {
        NV_CU_GOTO(cudaMalloc((void **)&du, (size_t)n * k * sizeof(double)), done);
        for (int64_t j = 0; j < k; j++)
            NV_CU_GOTO(cudaMemcpy(du + j * n, da + (n - 1 - j) * n, (size_t)n * sizeof(double),
                                  cudaMemcpyDeviceToDevice), done);
        /* V = A U_k (d x k): the covariance eigenvectors, before normalisation. */
        NV_CUBLAS_GOTO(cublasDgemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)d, (int)k, (int)n, &one, dxc,
                                   (int)d, du, (int)n, &zero, dv, (int)d), done);
        /* Normalise by the computed norm, zeroing directions without variance, with
         * the threshold the CPU uses (NV_PCA_GRAM_ZERO_REL). */
        double gmax = fmax(evals[0], 0.0) * (double)(n - 1);
        for (int64_t j = 0; j < k; j++) {
            double nrm = 0.0;
            NV_CUBLAS_GOTO(cublasDnrm2(blas, (int)d, dv + j * d, 1, &nrm), done);
            double s = (nrm * nrm <= NV_PCA_GRAM_ZERO_REL * gmax || nrm == 0.0) ? 0.0 : 1.0 / nrm;
            NV_CUBLAS_GOTO(cublasDscal(blas, (int)d, &s, dv + j * d, 1), done);
        }
    }
    /* proj^T (k x n) = V^T A: row-major proj (n, k). */
    NV_CUBLAS_GOTO(cublasDgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)k, (int)n, (int)d, &one, dv, (int)d,
                               dxc, (int)d, &zero, dproj, (int)k), done);
    /* V column-major d x k is comps row-major (k, d). */
    NV_CU_GOTO(cudaMemcpy(comps, dv, (size_t)d * k * sizeof(double), cudaMemcpyDeviceToHost), done);
    NV_CU_GOTO(cudaMemcpy(proj, dproj, (size_t)n * k * sizeof(double), cudaMemcpyDeviceToHost), done);

done:
    free(w);
    cudaFree(dx);
    cudaFree(dmean);
    cudaFree(dxc);
    cudaFree(da);
    cudaFree(dw);
    cudaFree(dv);
    cudaFree(du);
    cudaFree(dproj);
    cudaFree(dwork);
    cudaFree(dinfo);
    if (solver) cusolverDnDestroy(solver);
    if (blas) cublasDestroy(blas);
    return st;
}
