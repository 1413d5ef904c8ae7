/* contrib.cu: the CUDA twin of nv_query_topk_cpu (src/query/contrib.c): the top-k of
 * summed contributions for a block of a layer's weights (include/nerve/query.h,
 * nv_topk_problem), with the same contract.
 *
 * One thread per weight (r, c), threads of a block on consecutive columns of one
 * row (they read the same delta and consecutive inputs). Each thread streams the
 * samples in order, forms v = sum over the sample's rows of d_j[r] a_j[c] with
 * explicitly rounded double arithmetic (__dmul_rn, __dadd_rn: no fused
 * multiply-add), in the CPU's order (the first product, then each next one added),
 * and keeps its k best in its own slice of the output (global memory) with the
 * CPU's insertion rule: a strictly better score moves ahead, so ties keep the
 * earlier sample. Same inputs, same bits as the CPU reference; no warp votes, no
 * atomics, nothing depends on scheduling. Parity: tests/gpu/test_query_parity.c.
 */
#include "nerve/query.h"

#include <cuda_runtime.h>
#include <math.h>

#include "check.cuh"

__device__ static inline double score_of(int by, double v) {
    return by == NV_RANK_ABS ? fabs(v) : by == NV_RANK_POS ? v : -v;
}

__global__ static void topk_kernel(int64_t ngroups, const int64_t *start, int64_t nrows, int64_t C, const float *dt,
                                   const float *a, int64_t r0, int64_t c0, int64_t nr, int64_t nc, int k, int by,
                                   double *ov, int64_t *og) {
    const int64_t w = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (w >= nr * nc) return;
    const int64_t r = r0 + w / nc, cc = c0 + w % nc;
    double *vals = ov + w * k;
    int64_t *grps = og + w * k;
    for (int i = 0; i < k; i++) {
        vals[i] = nan("");
        grps[i] = -1;
    }
    double thr = -INFINITY;
    const float *dr = dt + r * nrows;
    for (int64_t g = 0; g < ngroups; g++) {
        const int64_t j0 = start[g], j1 = start[g + 1];
        if (j1 <= j0) continue;
        double v = 0.0;
        for (int64_t j = j0; j < j1; j++) {
            const double d = (double)dr[j];
            const double t = cc < C ? __dmul_rn(d, (double)a[j * C + cc]) : d;
            v = j == j0 ? t : __dadd_rn(v, t);
        }
        const double s = score_of(by, v);
        if (!(s > thr)) continue;
        int p = k - 1;
        while (p > 0 && (grps[p - 1] < 0 || s > score_of(by, vals[p - 1]))) {
            vals[p] = vals[p - 1];
            grps[p] = grps[p - 1];
            p--;
        }
        vals[p] = v;
        grps[p] = g;
        thr = grps[k - 1] < 0 ? -INFINITY : score_of(by, vals[k - 1]);
    }
}

extern "C" nv_status nv_query_topk_cuda(const nv_topk_problem *p, double *out_v, int64_t *out_g, nv_error *err) {
    nv_status st = NV_OK;
    const int64_t nr = p->r1 - p->r0, nc = p->c1 - p->c0, nw = nr * nc;
    int64_t *dstart = NULL, *dg = NULL;
    float *ddt = NULL, *da = NULL;
    double *dv = NULL;
    const size_t rows = (size_t)(p->nrows ? p->nrows : 1);
    NV_CU_GOTO(cudaMalloc((void **)&dstart, sizeof(int64_t) * (size_t)(p->ngroups + 1)), done);
    NV_CU_GOTO(cudaMalloc((void **)&ddt, sizeof(float) * (size_t)p->R * rows), done);
    NV_CU_GOTO(cudaMalloc((void **)&da, sizeof(float) * rows * (size_t)(p->C ? p->C : 1)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dv, sizeof(double) * (size_t)nw * (size_t)p->k), done);
    NV_CU_GOTO(cudaMalloc((void **)&dg, sizeof(int64_t) * (size_t)nw * (size_t)p->k), done);
    NV_CU_GOTO(cudaMemcpy(dstart, p->start, sizeof(int64_t) * (size_t)(p->ngroups + 1), cudaMemcpyHostToDevice), done);
    if (p->nrows) {
        NV_CU_GOTO(cudaMemcpy(ddt, p->dt, sizeof(float) * (size_t)p->R * (size_t)p->nrows, cudaMemcpyHostToDevice), done);
        if (p->C)
            NV_CU_GOTO(cudaMemcpy(da, p->a, sizeof(float) * (size_t)p->nrows * (size_t)p->C, cudaMemcpyHostToDevice), done);
    }
    {
        const int threads = 128;
        topk_kernel<<<nv_cuda_blocks(nw, threads), threads>>>(p->ngroups, dstart, p->nrows, p->C, ddt, da, p->r0, p->c0,
                                                              nr, nc, p->k, (int)p->by, dv, dg);
        NV_SYNCED_GOTO(done);
    }
    NV_CU_GOTO(cudaMemcpy(out_v, dv, sizeof(double) * (size_t)nw * (size_t)p->k, cudaMemcpyDeviceToHost), done);
    NV_CU_GOTO(cudaMemcpy(out_g, dg, sizeof(int64_t) * (size_t)nw * (size_t)p->k, cudaMemcpyDeviceToHost), done);
done:
    cudaFree(dstart);
    cudaFree(ddt);
    cudaFree(da);
    cudaFree(dv);
    cudaFree(dg);
    return st;
}
