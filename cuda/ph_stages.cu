/* ph_stages.cu: the CUDA twins of the persistent homology stages of
 * analysis/ph/ph_stages.c (contracts in include/nerve/ph_stages.h): pairwise distances,
 * the edges in filtration order, and the columns of a dimension after clearing and
 * the apparent-pair search (the split of Ripser++: this part on the GPU, the
 * reduction on the CPU).
 *
 * STATUS: compiled for sm_90 + PTX; run under the CUDA-on-CPU emulation (make
 * test-cuda-cpu), not yet on a GPU. tests/gpu/test_ph_parity.c compares every
 * function here with its CPU reference and the staged engine with the plain one.
 *
 * Exactness: distances use the _rn intrinsics in the CPU's order (no FMA
 * contraction can merge them), so they are the CPU's floats bit for bit; the column
 * decisions are comparisons of stored floats made by the same source as the CPU's
 * (analysis/ph/ph_stage_common.h). Integer statistics are summed with atomics (order
 * does not matter for integers); nothing stored depends on thread order because
 * every output is sorted by a total order before it leaves.
 *
 * Memory (better than Ripser++, which allocates for all C(n, d+1) simplices): the
 * colex index range is processed in chunks of PH_CHUNK simplices; survivors are
 * compacted on the device and appended to a host array grown from the actual
 * counts; only the final sort holds all columns on the device at once (16 bytes
 * each), in a buffer allocated for exactly their number. The compaction and the
 * sort are the device library's (include/nerve/devlib.h: thrust on a GPU). Distances are produced
 * in row blocks of at most PH_DIST_CHUNK entries. Everything is freed before each
 * function returns.
 */
#include "nerve/ph_stages.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/ph/ph_stage_common.h"
#include "check.cuh"
#include "nerve/devlib.h"

static_assert(PHS_MAX_VERTS == NV_PH_GPU_MAX_DIM + 2, "ph_stage_common.h: vertex arrays");

/* Simplices per chunk of the column stage: 4M x (16 + 16 + 1) bytes = 132 MiB. */
#define PH_CHUNK ((int64_t)1 << 22)

/* Appends count simplices from the device to the host array *a (length *len,
 * capacity *cap), growing it from the actual count. */
static nv_status append_host(nv_ph_simplex **a, int64_t *len, int64_t *cap,
                             const nv_ph_simplex *dsrc, int64_t count, nv_error *err) {
    if (count == 0) return NV_OK;
    if (*len + count > *cap) {
        int64_t c = *cap ? *cap : 4096;
        while (c < *len + count) c *= 2;
        nv_ph_simplex *b = (nv_ph_simplex *)realloc(*a, (size_t)c * sizeof *b);
        if (!b) return nv_fail(err, NV_ENOMEM, "out of memory for %lld simplices", (long long)c);
        *a = b;
        *cap = c;
    }
    NV_CU(cudaMemcpy(*a + *len, dsrc, (size_t)count * sizeof(nv_ph_simplex), cudaMemcpyDeviceToHost));
    *len += count;
    return NV_OK;
}

/* Sorts the host array a[0..len) on the device (one buffer of exactly len). */
static nv_status device_sort(nv_devlib *lib, nv_ph_simplex *a, int64_t len, nv_devlib_order order,
                             nv_error *err) {
    nv_status st = NV_OK;
    nv_ph_simplex *d = NULL;
    if (len < 2) return NV_OK;
    NV_CU_GOTO(cudaMalloc((void **)&d, (size_t)len * sizeof *d), done);
    NV_CU_GOTO(cudaMemcpy(d, a, (size_t)len * sizeof *d, cudaMemcpyHostToDevice), done);
    NV_TRY_GOTO(nv_devlib_sort_simplices(lib, d, len, order, err), done);
    NV_CU_GOTO(cudaMemcpy(a, d, (size_t)len * sizeof *d, cudaMemcpyDeviceToHost), done);
done:
    cudaFree(d);
    return st;
}

/* --- 2. edges --------------------------------------------------------------------- */

__global__ void ph_edge_flag_kernel(const float *lower, int64_t e0, int64_t e1, float thr,
                                    nv_ph_simplex *vals, unsigned char *flags) {
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e0 + t >= e1) return;
    float x = lower[t];
    vals[t].idx = e0 + t;
    vals[t].diam = x;
    flags[t] = (unsigned char)phs_present(x, thr);
}

extern "C" nv_status nv_ph_edges_cuda(const float *lower, int64_t n, float threshold,
                                      nv_ph_simplex **edges, int64_t *count, nv_error *err) {
    *edges = NULL;
    *count = 0;
    nv_status st = NV_OK;
    const int64_t m = n > 1 ? n * (n - 1) / 2 : 0;
    const int64_t pc = nv_cuda_test_knob("NERVE_TEST_PH_CHUNK", PH_CHUNK);
    const int64_t chunk = m < pc ? (m ? m : 1) : pc;
    float *dl = NULL;
    nv_ph_simplex *dv = NULL, *dc = NULL, *host = NULL;
    unsigned char *df = NULL;
    int64_t len = 0, cap = 0;
    nv_devlib *lib = NULL; /* the default stream, as the kernels here */
    NV_TRY_GOTO(nv_devlib_create(NULL, &lib, err), done);
    NV_CU_GOTO(cudaMalloc((void **)&dl, (size_t)chunk * sizeof(float)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dv, (size_t)chunk * sizeof(nv_ph_simplex)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dc, (size_t)chunk * sizeof(nv_ph_simplex)), done);
    NV_CU_GOTO(cudaMalloc((void **)&df, (size_t)chunk), done);
    for (int64_t e0 = 0; e0 < m; e0 += chunk) {
        int64_t e1 = e0 + chunk < m ? e0 + chunk : m, kept = 0;
        NV_CU_GOTO(cudaMemcpy(dl, lower + e0, (size_t)(e1 - e0) * sizeof(float),
                              cudaMemcpyHostToDevice), done);
        ph_edge_flag_kernel<<<nv_cuda_blocks(e1 - e0, 256), 256>>>(dl, e0, e1, threshold, dv, df);
        NV_SYNCED_GOTO(done);
        NV_TRY_GOTO(nv_devlib_compact_simplices(lib, dv, df, e1 - e0, dc, &kept, err), done);
        if ((st = append_host(&host, &len, &cap, dc, kept, err)) != NV_OK) goto done;
    }
    cudaFree(dl);
    cudaFree(dv);
    cudaFree(dc);
    cudaFree(df);
    dl = NULL, dv = dc = NULL, df = NULL;
    if ((st = device_sort(lib, host, len, NV_DEVLIB_FILTRATION, err)) != NV_OK) goto done;
    if (!host && !(host = (nv_ph_simplex *)nv_malloc(sizeof *host, err))) { st = NV_ENOMEM; goto done; }
    *edges = host;
    *count = len;
    host = NULL;
done:
    free(host);
    cudaFree(dl);
    cudaFree(dv);
    cudaFree(dc);
    cudaFree(df);
    nv_devlib_destroy(lib);
    return st;
}

/* --- 3. columns ------------------------------------------------------------------- */

/* Counters of nv_ph_column_stats, summed per block in shared memory first. */
enum { PH_ST_PRESENT = 0, PH_ST_CLEARED, PH_ST_APPARENT, PH_ST_COUNT };

/* One thread per d-simplex of colex index lo + t: decode, classify (the shared
 * code of ph_stage_common.h), flag the columns. */
__global__ void ph_columns_kernel(phs_view v, int d, int64_t lo, int64_t hi, const int64_t *cleared,
                                  int64_t ncleared, nv_ph_simplex *vals, unsigned char *flags,
                                  unsigned long long *stats) {
    __shared__ unsigned long long bst[PH_ST_COUNT];
    if (threadIdx.x < PH_ST_COUNT) bst[threadIdx.x] = 0;
    __syncthreads();
    int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (lo + t < hi) {
        int64_t w[PHS_MAX_VERTS];
        int64_t idx = lo + t;
        phs_vertices(&v, idx, d, w);
        float diam = 0.0f;
        int fate = phs_classify(&v, w, d, idx, cleared, ncleared, &diam);
        vals[t].idx = idx;
        vals[t].diam = diam;
        flags[t] = fate == PHS_COLUMN;
        if (fate != PHS_ABSENT) atomicAdd(&bst[PH_ST_PRESENT], 1ULL);
        if (fate == PHS_CLEARED) atomicAdd(&bst[PH_ST_CLEARED], 1ULL);
        if (fate == PHS_APPARENT) atomicAdd(&bst[PH_ST_APPARENT], 1ULL);
    }
    __syncthreads();
    if (threadIdx.x < PH_ST_COUNT && bst[threadIdx.x]) atomicAdd(&stats[threadIdx.x], bst[threadIdx.x]);
}

extern "C" nv_status nv_ph_columns_cuda(const float *lower, int64_t n, float threshold, int d,
                                        const int64_t *cleared, int64_t ncleared,
                                        nv_ph_simplex **cols, int64_t *ncols,
                                        nv_ph_column_stats *stats, nv_error *err) {
    *cols = NULL;
    *ncols = 0;
    if (d < 1 || d > NV_PH_GPU_MAX_DIM || n < 1)
        return nv_fail(err, NV_EINPUT, "ph columns: dimension %d of %lld points: expected 1..%d",
                       d, (long long)n, NV_PH_GPU_MAX_DIM);
    nv_status st = NV_OK;
    int64_t *binom = NULL;
    float *dl = NULL;
    int64_t *db = NULL, *dcl = NULL;
    nv_ph_simplex *dv = NULL, *dc = NULL, *host = NULL;
    unsigned char *df = NULL;
    unsigned long long *dst = NULL, hst[PH_ST_COUNT] = {0, 0, 0};
    int64_t len = 0, cap = 0, total = 0, chunk = 0;
    const int64_t m = n > 1 ? n * (n - 1) / 2 : 0;
    nv_devlib *lib = NULL;
    if ((st = phs_binomials(n, d + 2, &binom, err)) != NV_OK) return st;
    total = binom[(int64_t)(d + 1) * (n + 1) + n]; /* C(n, d + 1) simplices */
    const int64_t pc = nv_cuda_test_knob("NERVE_TEST_PH_CHUNK", PH_CHUNK);
    chunk = total < pc ? (total ? total : 1) : pc;
    NV_TRY_GOTO(nv_devlib_create(NULL, &lib, err), done);
    NV_CU_GOTO(cudaMalloc((void **)&dl, (size_t)(m ? m : 1) * sizeof(float)), done);
    NV_CU_GOTO(cudaMalloc((void **)&db, (size_t)(d + 3) * (size_t)(n + 1) * sizeof(int64_t)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dcl, (size_t)(ncleared ? ncleared : 1) * sizeof(int64_t)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dv, (size_t)chunk * sizeof(nv_ph_simplex)), done);
    NV_CU_GOTO(cudaMalloc((void **)&dc, (size_t)chunk * sizeof(nv_ph_simplex)), done);
    NV_CU_GOTO(cudaMalloc((void **)&df, (size_t)chunk), done);
    NV_CU_GOTO(cudaMalloc((void **)&dst, sizeof hst), done);
    if (m) NV_CU_GOTO(cudaMemcpy(dl, lower, (size_t)m * sizeof(float), cudaMemcpyHostToDevice), done);
    NV_CU_GOTO(cudaMemcpy(db, binom, (size_t)(d + 3) * (size_t)(n + 1) * sizeof(int64_t),
                          cudaMemcpyHostToDevice), done);
    if (ncleared)
        NV_CU_GOTO(cudaMemcpy(dcl, cleared, (size_t)ncleared * sizeof(int64_t), cudaMemcpyHostToDevice), done);
    NV_CU_GOTO(cudaMemset(dst, 0, sizeof hst), done);
    {
        phs_view v = {dl, n, threshold, db, n + 1};
        for (int64_t lo = 0; lo < total; lo += chunk) {
            int64_t hi = lo + chunk < total ? lo + chunk : total, kept = 0;
            ph_columns_kernel<<<nv_cuda_blocks(hi - lo, 128), 128>>>(v, d, lo, hi, dcl, ncleared, dv, df, dst);
            NV_SYNCED_GOTO(done);
            NV_TRY_GOTO(nv_devlib_compact_simplices(lib, dv, df, hi - lo, dc, &kept, err), done);
            if ((st = append_host(&host, &len, &cap, dc, kept, err)) != NV_OK) goto done;
        }
    }
    NV_CU_GOTO(cudaMemcpy(hst, dst, sizeof hst, cudaMemcpyDeviceToHost), done);
    /* the chunk buffers and the matrix go before the sort needs its own */
    cudaFree(dl);
    cudaFree(db);
    cudaFree(dcl);
    cudaFree(dv);
    cudaFree(dc);
    cudaFree(df);
    dl = NULL, db = dcl = NULL, dv = dc = NULL, df = NULL;
    if ((st = device_sort(lib, host, len, NV_DEVLIB_REDUCTION, err)) != NV_OK) goto done;
    if (!host && !(host = (nv_ph_simplex *)nv_malloc(sizeof *host, err))) { st = NV_ENOMEM; goto done; }
    if (stats) {
        stats->candidates = total;
        stats->present = (int64_t)hst[PH_ST_PRESENT];
        stats->cleared = (int64_t)hst[PH_ST_CLEARED];
        stats->apparent = (int64_t)hst[PH_ST_APPARENT];
        stats->columns = len;
    }
    *cols = host;
    *ncols = len;
    host = NULL;
done:
    free(binom);
    free(host);
    cudaFree(dl);
    cudaFree(db);
    cudaFree(dcl);
    cudaFree(dv);
    cudaFree(dc);
    cudaFree(df);
    cudaFree(dst);
    nv_devlib_destroy(lib);
    return st;
}
