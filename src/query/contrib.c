/* contrib.c: the batched top-k of summed contributions (include/nerve/query.h,
 * nv_topk_problem), the CPU reference of cuda/contrib.cu, and the device choice.
 *
 * The question "which samples changed each weight of a layer most during epoch X"
 * is, per weight (r, c), a top-k over samples g of v_g = sum over the rows j of g of
 * d_j[r] a_j[c]. Materialising the per-sample gradients (samples x R x C) is what a
 * straightforward implementation does and what makes it slow (memory traffic, then
 * a partition per weight). Here no gradient is stored: for one output row r at a
 * time (a thread's unit of work), the samples stream by, each giving its products
 * with that row's C + 1 weights, and each product is compared with the current k-th
 * best of its weight, kept in a per-row array of thresholds (C + 1 doubles, in L1);
 * only the rare winners are inserted into the sorted k-lists. In a training epoch
 * the samples come in random order, so after the first k the expected number of
 * insertions per weight is about k ln(N / k) (N samples): the cost is
 * N R (C + 1) multiply-compares plus O(R C k^2 ln N) for insertions, memory O(R C k)
 * for the answer, and the factors themselves are read once (d transposed so that
 * row r's deltas are contiguous).
 *
 * Products are formed in double from the stored floats (exact), and a sample fed more
 * than once in the range sums its products in row (step) order, starting from the
 * first product: the same numbers the `contributions` table gives and SQL's SUM adds,
 * and the same bits on the GPU (one thread per weight, the same order, explicitly
 * rounded double arithmetic). Ties keep the sample that comes first (groups are in
 * sample-id order); a NaN never enters a list.
 */
#include "query_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/parallel.h"

/* Four doubles at a time (GCC's vector extensions, as src/train/kernels.c): IEEE
 * operations lane by lane, the same results as scalar, on two SSE2 registers (the
 * baseline of x86-64) or one AVX2 register where the CPU has it (topk_rows is
 * compiled for both and the loader picks). */
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int64_t v4l __attribute__((vector_size(32)));

static inline double score_of(nv_rank_by by, double v) { return by == NV_RANK_ABS ? fabs(v) : by == NV_RANK_POS ? v : -v; }

/* Inserts (v, g) into the sorted k-list (vals, grps) whose last entry it beats;
 * returns the new threshold (the score of the k-th entry, -inf while not full). */
static inline double insert(double *vals, int64_t *grps, int k, nv_rank_by by, double v, double s, int64_t g) {
    int p = k - 1;
    while (p > 0 && (grps[p - 1] < 0 || s > score_of(by, vals[p - 1]))) {
        vals[p] = vals[p - 1];
        grps[p] = grps[p - 1];
        p--;
    }
    vals[p] = v;
    grps[p] = g;
    return grps[k - 1] < 0 ? -INFINITY : score_of(by, vals[k - 1]);
}

typedef struct {
    const nv_topk_problem *p;
    double *out_v;
    int64_t *out_g;
    double *scratch; /* per thread: thresholds (nc) and sums (nc) */
} topk_ctx;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void topk_rows(void *vctx, int tid, int64_t start, int64_t end) {
    topk_ctx *ctx = vctx;
    const nv_topk_problem *p = ctx->p;
    const int64_t nc = p->c1 - p->c0, C = p->C, k = p->k;
    double *thr = ctx->scratch + (size_t)tid * 2 * (size_t)nc, *sum = thr + nc;
    const int64_t sign = INT64_MIN;
    const v4l keep = p->by == NV_RANK_ABS ? (v4l){~sign, ~sign, ~sign, ~sign} : (v4l){-1, -1, -1, -1};
    const v4l flip = p->by == NV_RANK_NEG ? (v4l){sign, sign, sign, sign} : (v4l){0, 0, 0, 0};
    for (int64_t ri = start; ri < end; ri++) {
        const int64_t r = p->r0 + ri;
        double *ov = ctx->out_v + ri * nc * k;
        int64_t *og = ctx->out_g + ri * nc * k;
        for (int64_t i = 0; i < nc * k; i++) {
            ov[i] = NAN;
            og[i] = -1;
        }
        for (int64_t c = 0; c < nc; c++) thr[c] = -INFINITY;
        const float *dr = p->dt + r * p->nrows;
        for (int64_t g = 0; g < p->ngroups; g++) {
            const int64_t j0 = p->start[g], j1 = p->start[g + 1];
            if (j1 <= j0) continue;
            /* the group's sums for the row's weights (one product each for a group of
             * one row), and whether any beats its threshold: vector loops, and winners
             * are rare after the first k groups */
            const int64_t nin = NV_MAX(0, NV_MIN(nc, C - p->c0)); /* columns before the bias */
            if (j1 - j0 == 1) {
                /* one product per weight: scores compared four at a time, the sums
                 * formed again only for the rare group that beats a threshold */
                const double d = (double)dr[j0];
                const float *arow = p->a + j0 * C + p->c0;
                const v4d vd = {d, d, d, d};
                v4l hit = {0, 0, 0, 0};
                int64_t c = 0;
                for (; c + 4 <= nin; c += 4) {
                    v4f af;
                    memcpy(&af, arow + c, sizeof af);
                    v4d v = __builtin_convertvector(af, v4d) * vd, th;
                    memcpy(&th, thr + c, sizeof th);
                    hit |= (v4l)((v4d)(((v4l)v & keep) ^ flip) > th);
                }
                int any = (hit[0] | hit[1] | hit[2] | hit[3]) != 0;
                for (; c < nc; c++) any |= score_of(p->by, c < nin ? d * (double)arow[c] : d) > thr[c];
                if (!any) continue;
                for (c = 0; c < nc; c++) {
                    const double v = c < nin ? d * (double)arow[c] : d, sc = score_of(p->by, v);
                    if (sc > thr[c]) thr[c] = insert(ov + c * k, og + c * k, (int)k, p->by, v, sc, g);
                }
                continue;
            }
            for (int64_t j = j0; j < j1; j++) {
                const double d = (double)dr[j];
                const float *arow = p->a + j * C + p->c0;
                if (j == j0) {
                    for (int64_t c = 0; c < nin; c++) sum[c] = d * (double)arow[c];
                    for (int64_t c = nin; c < nc; c++) sum[c] = d;
                } else {
                    for (int64_t c = 0; c < nin; c++) sum[c] += d * (double)arow[c];
                    for (int64_t c = nin; c < nc; c++) sum[c] += d;
                }
            }
            int any = 0;
            if (p->by == NV_RANK_ABS)
                for (int64_t c = 0; c < nc; c++) any |= fabs(sum[c]) > thr[c];
            else if (p->by == NV_RANK_POS)
                for (int64_t c = 0; c < nc; c++) any |= sum[c] > thr[c];
            else
                for (int64_t c = 0; c < nc; c++) any |= -sum[c] > thr[c];
            if (!any) continue;
            for (int64_t c = 0; c < nc; c++) {
                const double s = score_of(p->by, sum[c]);
                if (s > thr[c]) thr[c] = insert(ov + c * k, og + c * k, (int)k, p->by, sum[c], s, g);
            }
        }
    }
}

static nv_status check_problem(const nv_topk_problem *p, nv_error *err) {
    if (p->k < 1 || p->k > NV_TOPK_MAX) return nv_fail(err, NV_EINPUT, "top-k: k = %d (expected 1..%d)", p->k, NV_TOPK_MAX);
    if (p->r0 < 0 || p->r1 > p->R || p->r0 >= p->r1 || p->c0 < 0 || p->c1 > p->C + 1 || p->c0 >= p->c1)
        return nv_fail(err, NV_EINTERNAL, "top-k: weights [%lld, %lld) x [%lld, %lld) of a %lld x %lld layer",
                       (long long)p->r0, (long long)p->r1, (long long)p->c0, (long long)p->c1, (long long)p->R,
                       (long long)p->C);
    if (p->ngroups < 0 || (p->ngroups > 0 && p->start[p->ngroups] != p->nrows))
        return nv_fail(err, NV_EINTERNAL, "top-k: groups cover %lld of %lld rows",
                       (long long)(p->ngroups ? p->start[p->ngroups] : 0), (long long)p->nrows);
    return NV_OK;
}

nv_status nv_query_topk_cpu(const nv_topk_problem *p, int threads, double *out_v, int64_t *out_g, nv_error *err) {
    nv_status st = check_problem(p, err);
    if (st) return st;
    if (threads <= 0) threads = nv_default_threads();
    threads = NV_MIN(threads, NV_PARALLEL_MAX_THREADS);
    const int64_t nc = p->c1 - p->c0;
    topk_ctx ctx = {p, out_v, out_g, nv_malloc(sizeof(double) * 2 * (size_t)nc * (size_t)threads, err)};
    if (!ctx.scratch) return NV_ENOMEM;
    nv_parallel_ranges(p->r1 - p->r0, threads, topk_rows, &ctx);
    free(ctx.scratch);
    return NV_OK;
}

nv_status nv_query_topk(const nv_topk_problem *p, nv_device_kind want, int threads, double *out_v, int64_t *out_g,
                        nv_device_kind *used, const char **note, nv_error *err) {
    nv_status st = check_problem(p, err);
    if (st) return st;
    const double work = (double)(p->r1 - p->r0) * (double)(p->c1 - p->c0) * (double)p->nrows;
    void *fn = NULL;
    if ((st = nv_device_select(want, "query", "nv_query_topk_cuda", work >= 67108864.0, &fn, note, err))) return st;
    if (used) *used = fn ? NV_DEVICE_CUDA : NV_DEVICE_CPU;
    if (!fn) return nv_query_topk_cpu(p, threads, out_v, out_g, err);
    nv_status (*gpu)(const nv_topk_problem *, double *, int64_t *, nv_error *) =
        (nv_status(*)(const nv_topk_problem *, double *, int64_t *, nv_error *))fn;
    nv_device_lock();
    st = gpu(p, out_v, out_g, err);
    nv_device_unlock();
    return st;
}
