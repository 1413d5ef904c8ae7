/* metric.cu: the CUDA twins of the distance forms of analysis/metric/metric.c
 * (contracts in include/nerve/metric.h, "the distances on either device"): the dense
 * lower triangle of Euclidean or cosine distances (the first stage of the GPU path
 * of persistent homology) and the all-pairs kNN-graph distances of Naitzat et al.
 *
 * Parity: the distances are the CPU's floats bit for bit (explicitly rounded
 * intrinsics in the CPU's order, from coordinate differences, never |x|^2 + |y|^2 -
 * 2 x.y); the graph distances likewise (relaxation to a fixpoint gives Dijkstra's
 * floats, metric.h). Tests: tests/gpu/test_ph_parity.c against the references
 * nv_metric_distances_cpu and nv_metric_geodesic_relax_cpu.
 */
#include "nerve/metric.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.cuh"

/* Distance entries per block of rows: 64M floats = 256 MiB. */
#define METRIC_DIST_CHUNK ((int64_t)1 << 26)

/* Row i and column j < i of lower-triangle entry e = i(i-1)/2 + j. */
__device__ __forceinline__ void metric_entry_rc(int64_t e, int64_t *i, int64_t *j) {
    int64_t a = (int64_t)((1.0 + sqrt(1.0 + 8.0 * (double)e)) / 2.0);
    while (a * (a - 1) / 2 > e) a--;
    while ((a + 1) * a / 2 <= e) a++;
    *i = a;
    *j = e - a * (a - 1) / 2;
}

/* --- distances -------------------------------------------------------------------- */

/* out[e - e0] = d(i, j) for entries e in [e0, e1): Ripser's float arithmetic,
 * s = s + (a - b)^2 from 0 in coordinate order, then a correctly rounded sqrt. */
__global__ void metric_euclid_kernel(const float *x, int64_t d, int64_t e0, int64_t e1, float *out) {
    int64_t e = e0 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= e1) return;
    int64_t i, j;
    metric_entry_rc(e, &i, &j);
    const float *a = x + i * d, *b = x + j * d;
    float s = 0.0f;
    for (int64_t k = 0; k < d; k++) {
        float t = __fsub_rn(a[k], b[k]);
        s = __fadd_rn(s, __fmul_rn(t, t));
    }
    out[e - e0] = __fsqrt_rn(s);
}

/* inv[i] = 1 / sqrt(sum_k x_ik^2) in double, coordinate order; 0 for a zero row. */
__global__ void metric_inv_norm_kernel(const float *x, int64_t n, int64_t d, double *inv) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double s = 0.0;
    for (int64_t k = 0; k < d; k++) {
        double v = (double)x[i * d + k];
        s = __dadd_rn(s, __dmul_rn(v, v));
    }
    inv[i] = s == 0.0 ? 0.0 : __ddiv_rn(1.0, NV_DSQRT_RN(s));
}

/* metric.c's cosine_pair: 1 - (dot * inv_i) * inv_j for i > j, clamped, rounded once. */
__global__ void metric_cosine_kernel(const float *x, const double *inv, int64_t d, int64_t e0,
                                 int64_t e1, float *out) {
    int64_t e = e0 + (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= e1) return;
    int64_t i, j;
    metric_entry_rc(e, &i, &j);
    const float *a = x + i * d, *b = x + j * d;
    double dot = 0.0;
    for (int64_t k = 0; k < d; k++) dot = __dadd_rn(dot, __dmul_rn((double)a[k], (double)b[k]));
    double v = __dsub_rn(1.0, __dmul_rn(__dmul_rn(dot, inv[i]), inv[j]));
    out[e - e0] = NV_D2F_RN(v > 0.0 ? v : 0.0);
}

extern "C" nv_status nv_metric_distances_cuda(const nv_real *x, int64_t n, int64_t d,
                                          nv_metric_kind kind, float *lower, nv_error *err) {
    nv_status st = nv_metric_distances_check(x, n, d, kind, lower, err);
    if (st) return st;
    const int64_t m = n * (n - 1) / 2;
    const int64_t chunk = m < METRIC_DIST_CHUNK ? m : METRIC_DIST_CHUNK;
    float *dx = NULL, *dout = NULL;
    double *dinv = NULL, *inv = NULL;
    if (m == 0) return NV_OK;
    NV_CU_GOTO(cudaMalloc((void **)&dx, (size_t)(n * d) * sizeof(float)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dout, (size_t)chunk * sizeof(float)), done);
    NV_CU_GOTO(cudaMemcpy(dx, x, (size_t)(n * d) * sizeof(float), cudaMemcpyHostToDevice), done);
    if (kind == NV_METRIC_COSINE) {
        NV_CU_GOTO(cudaMalloc((void **)&dinv, (size_t)n * sizeof(double)), done);
        metric_inv_norm_kernel<<<nv_cuda_blocks(n, 256), 256>>>(dx, n, d, dinv);
        NV_LAUNCHED_GOTO(done);
        inv = (double *)nv_malloc((size_t)n * sizeof(double), err);
        if (!inv) { st = NV_ENOMEM; goto done; }
        NV_CU_GOTO(cudaMemcpy(inv, dinv, (size_t)n * sizeof(double), cudaMemcpyDeviceToHost), done);
        for (int64_t i = 0; i < n; i++)
            if (inv[i] == 0.0) {
                st = nv_fail(err, NV_EINPUT,
                             "nv_distance_matrix: cosine distance: point row %lld is the zero "
                             "vector, whose angle is undefined (dead units? use euclidean)",
                             (long long)i);
                goto done;
            }
    }
    for (int64_t e0 = 0; e0 < m; e0 += chunk) {
        int64_t e1 = e0 + chunk < m ? e0 + chunk : m;
        if (kind == NV_METRIC_EUCLIDEAN)
            metric_euclid_kernel<<<nv_cuda_blocks(e1 - e0, 256), 256>>>(dx, d, e0, e1, dout);
        else
            metric_cosine_kernel<<<nv_cuda_blocks(e1 - e0, 256), 256>>>(dx, dinv, d, e0, e1, dout);
        NV_LAUNCHED_GOTO(done);
        NV_CU_GOTO(cudaMemcpy(lower + e0, dout, (size_t)(e1 - e0) * sizeof(float),
                              cudaMemcpyDeviceToHost), done);
    }
done:
    free(inv);
    cudaFree(dx);
    cudaFree(dout);
    cudaFree(dinv);
    return st;
}

/* --- graph distances ------------------------------------------------------------------ */

/* Bytes of tentative distances (doubles) held for one block of sources. */
#define METRIC_GEO_BYTES ((int64_t)512 << 20)

/* One relaxation sweep for a block of sources: thread (s, v) pulls the minimum over
 * v's neighbours u of dist[s][u] + len, and lowers dist[s][v] to it. Reads race with
 * writes of other threads, which is harmless: every value ever stored is the sum
 * along some path, values only fall, and the loop runs until a sweep changes
 * nothing (metric.h, "Graph distances"). 64-bit stores are single transactions, so no
 * thread reads a torn double. */
__global__ void metric_geo_relax_kernel(const int64_t *row_ptr, const int64_t *col, const float *len,
                                    int64_t n, int weighted, int64_t nsrc, double *dist,
                                    int *changed) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nsrc * n) return;
    int64_t s = t / n, v = t - s * n;
    double *ds = dist + s * n;
    double best = ds[v];
    for (int64_t p = row_ptr[v]; p < row_ptr[v + 1]; p++) {
        double c = __dadd_rn(((volatile double *)ds)[col[p]], weighted ? (double)len[p] : 1.0);
        if (c < best) best = c;
    }
    if (best < ds[v]) {
        ds[v] = best;
        *changed = 1;
    }
}

/* dist[s][v] = INFINITY, 0 at the source (sources s0 + s). */
__global__ void metric_geo_init_kernel(int64_t n, int64_t s0, int64_t nsrc, double *dist) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nsrc * n) return;
    int64_t s = t / n, v = t - s * n;
    dist[t] = v == s0 + s ? 0.0 : (double)INFINITY;
}

/* Rows s0 .. s0 + nsrc of the lower triangle: row i takes dist from source i to
 * j < i, rounded to float once (as the CPU does), packed one after the other. */
__global__ void metric_geo_rows_kernel(const double *dist, int64_t n, int64_t s0, int64_t nsrc,
                                   float *out) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= nsrc * n) return;
    int64_t s = t / n, j = t - s * n, i = s0 + s;
    if (j >= i) return;
    int64_t base = i * (i - 1) / 2 - s0 * (s0 - 1) / 2; /* offset of row i in this block */
    out[base + j] = (float)dist[t];
}

extern "C" nv_status nv_metric_geodesic_cuda(const nv_knn_graph *g, int weighted, float *lower,
                                         nv_error *err) {
    const int64_t n = g->n;
    if (n < 2) return NV_OK;
    const int64_t nnz = g->row_ptr[n];
    int64_t block = METRIC_GEO_BYTES / (n * (int64_t)sizeof(double));
    block = nv_cuda_test_knob("NERVE_TEST_GEO_SOURCES", block);
    if (block < 1) block = 1;
    if (block > n - 1) block = n - 1;
    nv_status st = NV_OK;
    int64_t *drow = NULL, *dcol = NULL;
    float *dlen = NULL, *dout = NULL;
    double *ddist = NULL;
    int *dchanged = NULL;
    /* the rows of the last sources are the longest: size the staging for them */
    const int64_t out_cap = (n - 1) * block;
    NV_CU_GOTO(cudaMalloc((void **)&drow, (size_t)(n + 1) * sizeof *drow), done);
    NV_CU_GOTO(cudaMalloc((void **)&dcol, (size_t)(nnz ? nnz : 1) * sizeof *dcol), done);
    NV_CU_GOTO(cudaMalloc((void **)&dlen, (size_t)(nnz ? nnz : 1) * sizeof *dlen), done);
    NV_CU_GOTO(cudaMalloc((void **)&ddist, (size_t)(block * n) * sizeof *ddist), done);
    NV_CU_GOTO(cudaMalloc((void **)&dout, (size_t)out_cap * sizeof *dout), done);
    NV_CU_GOTO(cudaMalloc((void **)&dchanged, sizeof *dchanged), done);
    NV_CU_GOTO(cudaMemcpy(drow, g->row_ptr, (size_t)(n + 1) * sizeof *drow, cudaMemcpyHostToDevice), done);
    if (nnz) {
        NV_CU_GOTO(cudaMemcpy(dcol, g->col, (size_t)nnz * sizeof *dcol, cudaMemcpyHostToDevice), done);
        NV_CU_GOTO(cudaMemcpy(dlen, g->len, (size_t)nnz * sizeof *dlen, cudaMemcpyHostToDevice), done);
    }
    for (int64_t s0 = 1; s0 < n; s0 += block) { /* row 0 of a lower triangle is empty */
        const int64_t nsrc = s0 + block <= n ? block : n - s0;
        const unsigned nb = nv_cuda_blocks(nsrc * n, 256);
        metric_geo_init_kernel<<<nb, 256>>>(n, s0, nsrc, ddist);
        NV_LAUNCHED_GOTO(done);
        for (int changed = 1; changed;) {
            NV_CU_GOTO(cudaMemset(dchanged, 0, sizeof *dchanged), done);
            metric_geo_relax_kernel<<<nb, 256>>>(drow, dcol, dlen, n, weighted, nsrc, ddist, dchanged);
            NV_LAUNCHED_GOTO(done);
            NV_CU_GOTO(cudaMemcpy(&changed, dchanged, sizeof changed, cudaMemcpyDeviceToHost), done);
        }
        metric_geo_rows_kernel<<<nb, 256>>>(ddist, n, s0, nsrc, dout);
        NV_LAUNCHED_GOTO(done);
        const int64_t first = s0 * (s0 - 1) / 2, last = (s0 + nsrc) * (s0 + nsrc - 1) / 2;
        NV_CU_GOTO(cudaMemcpy(lower + first, dout, (size_t)(last - first) * sizeof *dout,
                              cudaMemcpyDeviceToHost), done);
    }
done:
    cudaFree(drow);
    cudaFree(dcol);
    cudaFree(dlen);
    cudaFree(ddist);
    cudaFree(dout);
    cudaFree(dchanged);
    return st;
}
