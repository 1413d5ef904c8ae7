/* ph_stage_common.h: the per-simplex pieces of the column stage (include/nerve/
 * ph_stages.h), written once and compiled twice: as plain C into the CPU reference
 * (analysis/ph/ph_stages.c) and as __host__ __device__ code into the CUDA stage
 * (cuda/ph_stages.cu). One source for both is what makes "the same split of apparent
 * and non-apparent columns" a property of the code rather than of two copies kept
 * in step by hand. Internal: included by those two files and by the engine
 * (analysis/ph/ph.c), which shares its binomial table.
 *
 * Everything is decided from the dense lower triangle with comparisons only (no
 * float arithmetic), so host and device agree bit for bit. The zero-apparent pair
 * tests are also the engine's own (analysis/ph/ph.c calls them for dense input);
 * the order of the tests in phs_classify is the engine's assembly (ph_asm_emit).
 * tests/unit/test_ph_gpu.c checks that the staged engine gives the plain engine's
 * pairs, simplex for simplex.
 */
#ifndef NERVE_PH_STAGE_COMMON_H
#define NERVE_PH_STAGE_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nerve/common.h"

#ifdef __CUDACC__
#define PHS_FN static __host__ __device__ __forceinline__
#else
#define PHS_FN static inline
#endif

/* Vertices of the largest simplex handled: a cofacet of a column of dimension
 * NV_PH_GPU_MAX_DIM (ph_stages.h; kept equal by a static assertion in each user). */
#define PHS_MAX_VERTS 8

/* What the stage sees of the filtration (read-only; on the device, device pointers). */
typedef struct {
    const float *lower;     /* (n(n-1)/2) */
    int64_t n;
    float thr;              /* edges of length <= thr (and finite) are present */
    const int64_t *binom;   /* (kmax + 1, n + 1): binom[k * bstride + m] = C(m, k) */
    int64_t bstride;        /* n + 1 */
} phs_view;

/* How a d-simplex fares in the column stage. */
enum { PHS_ABSENT = 0, PHS_CLEARED = 1, PHS_APPARENT = 2, PHS_COLUMN = 3 };

PHS_FN int64_t phs_C(const phs_view *v, int64_t m, int k) { return v->binom[(int64_t)k * v->bstride + m]; }

PHS_FN float phs_dist(const phs_view *v, int64_t i, int64_t j) {
    if (i == j) return 0.0f;
    if (i < j) { int64_t t = i; i = j; j = t; }
    return v->lower[i * (i - 1) / 2 + j];
}

PHS_FN int phs_present(float x, float thr) { return x <= thr && x < INFINITY; }

/* Vertices of the d-simplex idx into w[0..d], decreasing: the largest v < top with
 * C(v, k) <= idx, for k = d+1 .. 1 (binary search in the table). */
PHS_FN void phs_vertices(const phs_view *v, int64_t idx, int d, int64_t *w) {
    int64_t top = v->n;
    for (int k = d + 1; k >= 1; k--) {
        int64_t lo = k - 1, hi = top - 1;
        if (phs_C(v, hi, k) <= idx) {
            lo = hi;
        } else {
            while (hi - lo > 1) { /* C(lo, k) <= idx < C(hi, k) */
                int64_t mid = lo + (hi - lo) / 2;
                if (phs_C(v, mid, k) <= idx) lo = mid;
                else hi = mid;
            }
        }
        w[d + 1 - k] = lo;
        idx -= phs_C(v, lo, k);
        top = lo;
    }
}

/* Diameter of the simplex w[0..d]; -1 when an edge is absent. */
PHS_FN float phs_diameter(const phs_view *v, const int64_t *w, int d) {
    float m = 0.0f;
    for (int a = 0; a <= d; a++)
        for (int b = a + 1; b <= d; b++) {
            float x = phs_dist(v, w[a], w[b]);
            if (!phs_present(x, v->thr)) return -1.0f;
            if (x > m) m = x;
        }
    return m;
}

/* --- zero-apparent pairs: the one implementation of the engine and the stages ---
 * The zero pivot cofacet of a simplex is its earliest cofacet of the same diameter,
 * the zero pivot facet of a simplex its latest facet of the same diameter (Bauer
 * 2021, section 3.5); (s, t) is an apparent pair when each is the other's. The PH
 * engine (ph.c: clearing and assembly, every pivot of a hard column) and the column
 * stage on both devices (phs_classify below) decide apparent pairs with these two
 * functions, so the CPU and the GPU split columns the same way by construction. */

/* The zero pivot cofacet of the d-simplex w[0..d] (vertices decreasing, colex index
 * idx, diameter diam) in the dense lower triangle `lower`: the cofacet of largest
 * index among those of the same diameter, i.e. the largest added vertex j within
 * diam of every w[k]. Cofacets are walked from j = n - 1 down; `above` and `below`
 * are the index contributions of the vertices above and below j, and rowv[s] (the
 * caller's scratch, d + 1 pointers: registers on the device, the engine's array on
 * the host) holds the row of each vertex passed, so every distance is one load.
 * Returns the position t (0..d+1) of j among the cofacet's decreasing vertices, the
 * cofacet's index in *tidx and, when tw is not NULL, its vertices in tw[0..d+1]; -1
 * when there is none. */
PHS_FN int phs_zero_cofacet_rows(const float *lower, int64_t n, const int64_t *binom,
                                 int64_t bstride, const int64_t *w, int d, int64_t idx,
                                 float diam, const float **rowv, int64_t *tidx, int64_t *tw) {
    int64_t above = 0, below = idx, j = n - 1;
    for (int t = 0; t <= d + 1; t++) {
        const int64_t stop = t <= d ? w[t] : -1; /* j runs down to stop + 1 */
        for (; j > stop; j--) {
            const float *rowj = lower + j * (j - 1) / 2;
            int s = 0;
            while (s < t && rowv[s][j] <= diam) s++;
            if (s < t) continue;
            while (s <= d && rowj[w[s]] <= diam) s++;
            if (s <= d) continue;
            *tidx = above + binom[(int64_t)(d + 2 - t) * bstride + j] + below;
            if (tw) {
                for (s = 0; s < t; s++) tw[s] = w[s];
                tw[t] = j;
                for (s = t; s <= d; s++) tw[s + 1] = w[s];
            }
            return t;
        }
        if (t <= d) { /* pass w[t]: it trades its binomials from below to above */
            below -= binom[(int64_t)(d + 1 - t) * bstride + w[t]];
            above += binom[(int64_t)(d + 2 - t) * bstride + w[t]];
            rowv[t] = lower + w[t] * (w[t] - 1) / 2;
            j = w[t] - 1;
        }
    }
    return -1;
}

/* The zero pivot facet of the D-simplex w[0..D] (decreasing, D >= 1, diameter diam)
 * given its pairwise distances dm[a * (D + 1) + b]: the latest facet of the same
 * diameter, the one of smallest index; facets in increasing index order delete the
 * largest vertex first. Returns the position r of the deleted vertex, with the
 * facet's index in *fidx and, when fw is not NULL, its vertices in fw[0..D-1]; -1
 * when no facet has diameter diam. */
PHS_FN int phs_zero_facet_dm(const float *dm, const int64_t *w, int D, float diam,
                             const int64_t *binom, int64_t bstride, int64_t *fidx, int64_t *fw) {
    const int nv = D + 1;
    for (int r = 0; r < nv; r++) {
        float m = 0.0f;
        for (int a = 0; a < nv; a++) {
            if (a == r) continue;
            for (int b = a + 1; b < nv; b++)
                if (b != r && dm[a * nv + b] > m) m = dm[a * nv + b];
        }
        if (m != diam) continue;
        int64_t f = 0;
        for (int a = 0, k = 0; a < nv; a++) {
            if (a == r) continue;
            int rank = a < r ? D - 1 - a : D - a; /* position from the bottom in the facet */
            f += binom[(int64_t)(rank + 1) * bstride + w[a]];
            if (fw) fw[k++] = w[a];
        }
        *fidx = f;
        return r;
    }
    return -1;
}

/* The two on a phs_view (the column stage): 1 when found, 0 when not. */
PHS_FN int phs_zero_cofacet(const phs_view *v, const int64_t *w, int d, int64_t idx, float diam,
                            int64_t *tidx, int64_t *tw) {
    const float *rowv[PHS_MAX_VERTS];
    return phs_zero_cofacet_rows(v->lower, v->n, v->binom, v->bstride, w, d, idx, diam, rowv,
                                 tidx, tw) >= 0;
}

PHS_FN int phs_zero_facet(const phs_view *v, const int64_t *w, int D, float diam, int64_t *fidx,
                          int64_t *fw) {
    float dm[PHS_MAX_VERTS * PHS_MAX_VERTS];
    const int nv = D + 1;
    for (int a = 0; a < nv; a++)
        for (int b = a + 1; b < nv; b++) dm[a * nv + b] = dm[b * nv + a] = phs_dist(v, w[a], w[b]);
    return phs_zero_facet_dm(dm, w, D, diam, v->binom, v->bstride, fidx, fw) >= 0;
}

/* Whether x is in the ascending array a[0..len). */
PHS_FN int phs_in_sorted(const int64_t *a, int64_t len, int64_t x) {
    int64_t lo = 0, hi = len;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < len && a[lo] == x;
}

/* The fate of the d-simplex idx with vertices w (decreasing) in the column stage,
 * its diameter in *diam when present. The order of the tests is the engine's
 * (ph_asm_emit): clearing, then s as the cofacet of an apparent pair, then s as its
 * facet; each later test is skipped once one holds. */
PHS_FN int phs_classify(const phs_view *v, const int64_t *w, int d, int64_t idx,
                        const int64_t *cleared, int64_t ncleared, float *diam) {
    float dm = phs_diameter(v, w, d);
    if (dm < 0.0f) return PHS_ABSENT;
    *diam = dm;
    if (phs_in_sorted(cleared, ncleared, idx)) return PHS_CLEARED;
    int64_t other, back, ow[PHS_MAX_VERTS], bw[PHS_MAX_VERTS];
    /* s the cofacet of (f, s): f its zero pivot facet, s f's zero pivot cofacet */
    if (d >= 1 && phs_zero_facet(v, w, d, dm, &other, ow) &&
        phs_zero_cofacet(v, ow, d - 1, other, dm, &back, bw) && back == idx)
        return PHS_APPARENT;
    /* s the facet of (s, t): t its zero pivot cofacet, s t's zero pivot facet */
    if (phs_zero_cofacet(v, w, d, idx, dm, &other, ow) &&
        phs_zero_facet(v, ow, d + 1, dm, &back, bw) && back == idx)
        return PHS_APPARENT;
    return PHS_COLUMN;
}

/* Pascal's triangle rows k = 0..kmax for m = 0..n: (*out)[k * (n + 1) + m] = C(m, k)
 * (malloc'd; the caller frees): the one table of the engine (ph.c), the CPU
 * references (ph_stages.c) and the GPU stage (ph_stages.cu), built on the host.
 * NV_EINPUT when an entry overflows int64, i.e. when the simplex indices would not
 * fit in 63 bits, saying to lower the dimension or the number of points. */
static inline nv_status phs_binomials(int64_t n, int kmax, int64_t **out, nv_error *err) {
    *out = NULL;
    int64_t stride = n + 1;
    int64_t *b = (int64_t *)malloc((size_t)(kmax + 1) * (size_t)stride * sizeof *b);
    if (!b) return nv_fail(err, NV_ENOMEM, "out of memory for the binomial table");
    for (int k = 0; k <= kmax; k++)
        for (int64_t m = 0; m <= n; m++) {
            int64_t v;
            if (k == 0) v = 1;
            else if (m == 0) v = 0;
            else if (__builtin_add_overflow(b[(int64_t)(k - 1) * stride + m - 1],
                                            b[(int64_t)k * stride + m - 1], &v)) {
                free(b);
                return nv_fail(err, NV_EINPUT,
                               "%lld points with homology up to dimension %d need simplex "
                               "indices beyond 64 bits (C(%lld, %d) overflows); lower --dim, "
                               "or use fewer points (--landmarks)",
                               (long long)n, kmax - 2, (long long)n, kmax);
            }
            b[(int64_t)k * stride + m] = v;
        }
    *out = b;
    return NV_OK;
}

#endif
