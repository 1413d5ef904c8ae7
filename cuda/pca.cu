/* pca.cu: the CUDA twin of nv_pca_core_cpu (analysis/geometry/pca.c): the same contract
 * (include/nerve/pca.h, "the backend contract"), with the covariance or Gram matrix
 * from dsyrk, the eigendecomposition from dsyevd and the projections from dgemm of
 * the device library (include/nerve/devlib.h: cuBLAS and cuSOLVER on a GPU), all in
 * double as on the CPU; the centring and the normalisation of the Gram form's
 * directions are kernels here.
 *
 * The host keeps the shared steps (means, sign convention, completion of
 * directions without variance, ratios); this file only replaces the heavy part.
 * Reference: nv_pca_core_cpu; parity test: tests/gpu/test_pca_parity.c.
 *
 * Layout note: the device library is column-major (cuBLAS's convention), so the row-major centred matrix X_c (n, d)
 * is seen here as its transpose A = X_c^T, a column-major d x n matrix (lda = d).
 */
#include "nerve/pca.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.cuh"
#include "nerve/devlib.h"

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

#define PCA_NORM_THREADS 256

/* Block j: column j of V (d x k, column-major) divided by its norm, or zeroed when
 * its squared norm is at most NV_PCA_GRAM_ZERO_REL * gmax (no variance in that
 * direction): the CPU's rule. The sum of squares is each thread's strided partial
 * sum in index order, then a fixed tree: the same bits every run. */
__global__ void pca_normalise_kernel(double *v, int64_t d, double gmax) {
    __shared__ double red[PCA_NORM_THREADS];
    double *col = v + (int64_t)blockIdx.x * d;
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < d; i += PCA_NORM_THREADS) s += col[i] * col[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int h = PCA_NORM_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
        __syncthreads();
    }
    const double nrm = sqrt(red[0]);
    const double scale = (nrm * nrm <= NV_PCA_GRAM_ZERO_REL * gmax || nrm == 0.0) ? 0.0 : 1.0 / nrm;
    for (int64_t i = threadIdx.x; i < d; i += PCA_NORM_THREADS) col[i] = scale == 0.0 ? 0.0 : col[i] * scale;
}

extern "C" nv_status nv_pca_core_cuda(const nv_real *x, int64_t n, int64_t d, const double *mean,
                                      int64_t k, double *evals, double *comps, double *proj,
                                      nv_error *err) {
    nv_status st = NV_OK;
    const bool gram = n < d;
    const int64_t m = gram ? n : d; /* order of the eigenproblem */
    const double scale = 1.0 / (double)(n - 1);
    nv_devlib *lib = NULL;
    float *dx = NULL;
    double *dmean = NULL, *dxc = NULL, *da = NULL, *dw = NULL, *dv = NULL, *du = NULL,
           *dproj = NULL;
    int info = 0;
    double *w = NULL;

    NV_TRY_GOTO(nv_devlib_create(NULL, &lib, err), done);
    NV_CU_GOTO(cudaMalloc((void **)&dx, (size_t)n * d * sizeof(float)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dmean, (size_t)d * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dxc, (size_t)n * d * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&da, (size_t)m * m * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dw, (size_t)m * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dv, (size_t)d * k * sizeof(double)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dproj, (size_t)n * k * sizeof(double)), done);
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
    NV_TRY_GOTO(nv_devlib_dsyrk_upper(lib, gram ? NV_DEVLIB_T : NV_DEVLIB_N, m, gram ? d : n, scale,
                                      dxc, d, 0.0, da, m, err), done);
    NV_TRY_GOTO(nv_devlib_dsyevd_upper(lib, m, da, m, dw, &info, err), done);
    if (info != 0) {
        st = nv_fail(err, info < 0 ? NV_EINTERNAL : NV_ENUMERIC,
                     "pca: dsyevd (%s) on a %lld x %lld matrix returned info %d", nv_devlib_name(),
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
        NV_TRY_GOTO(nv_devlib_dgemm(lib, NV_DEVLIB_N, NV_DEVLIB_N, d, k, n, 1.0, dxc, d, du, n, 0.0, dv,
                                    d, err), done);
        /* Normalise by the computed norm, zeroing directions without variance, with
         * the threshold the CPU uses (NV_PCA_GRAM_ZERO_REL). */
        if (k > 0) {
            pca_normalise_kernel<<<(unsigned)k, PCA_NORM_THREADS>>>(dv, d, fmax(evals[0], 0.0) * (double)(n - 1));
            NV_LAUNCHED_GOTO(done);
        }
    }
    /* proj^T (k x n) = V^T A: row-major proj (n, k). */
    NV_TRY_GOTO(nv_devlib_dgemm(lib, NV_DEVLIB_T, NV_DEVLIB_N, k, n, d, 1.0, dv, d, dxc, d, 0.0, dproj,
                                k, err), done);
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
    nv_devlib_destroy(lib);
    return st;
}
