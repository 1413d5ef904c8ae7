/* ph.c: the Vietoris-Rips persistent homology engine: barcodes of a filtration on
 * the complete graph (dense distance matrix) or on a graph (sparse, below a
 * threshold), over Z/p, identical to Ripser 1.2.1's.
 *
 * How it works (the algorithm of Ripser; our own code):
 *  - Simplices are colex indices (see ph_internal.h); their vertices, diameters and
 *    coboundaries are recomputed from the distance matrix when needed, never stored.
 *  - Dimension 0 is Kruskal's algorithm with a union-find (elder rule).
 *  - Dimensions >= 1 reduce the coboundary matrix (persistent cohomology) column by
 *    column in decreasing filtration order, with
 *      clearing        simplices that were pivots one dimension down are skipped;
 *      apparent pairs  (s, t) with t the earliest cofacet of s at the same diameter
 *                      and s the latest facet of t: zero-length pairs found locally,
 *                      their columns never built;
 *      emergent pairs  a column whose first same-diameter cofacet is nobody's pivot
 *                      is finished without assembling its coboundary;
 *      the enclosing radius: with no threshold the dense complex is cut at the
 *                      smallest radius at which it is a cone (nothing dies later).
 *  - The working coboundary is a radix heap: entries before the current pivot
 *    cancel, so the queue is monotone and a push is an append (ph_rq_push).
 *  - Columns of dimension d + 1 are enumerated by a depth-first clique search, so no
 *    list of all simplices of any dimension is kept (Ripser 1.2.1 keeps one per
 *    dimension; this is the memory its later versions save).
 *  - Threads: columns are reduced in chunks. Within a chunk every thread reduces its
 *    columns against the pivots of all earlier chunks (frozen, read-only); then one
 *    thread walks the chunk in order, publishes the pivots, and finishes the rare
 *    column whose pivot an earlier column of the same chunk took. The pairing of a
 *    filtration does not depend on the reduction order, and the sequential publish
 *    keeps even the stored reduction matrix the same for any thread count.
 */
#include "ph_internal.h"
#include "ph_stage_common.h"

#include "nerve/parallel.h"
#include "nerve/ph_stages.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- types ------------------------------------------------------------------------ */

/* A cochain entry: a simplex, its diameter, a coefficient in Z/p. */
typedef struct {
    int64_t idx;
    float diam;
    uint32_t coef;
} ph_entry;

/* A column to reduce: 12 bytes, the largest array the engine keeps. */
#pragma pack(push, 4)
typedef struct {
    int64_t idx;
    float diam;
} ph_col;
#pragma pack(pop)

/* Everything the enumeration needs, read-only once built. */
typedef struct {
    int64_t n;
    int sparse;
    const float *lower;                 /* dense: n(n-1)/2 */
    const int64_t *row_ptr, *col;       /* sparse: edges <= threshold, by neighbour */
    const float *val;
    float threshold;                    /* simplices with larger diameter are absent */
    int max_dim;
    int64_t *binom;                     /* (max_dim + 3, n + 1): binom[k*(n+1)+m] = C(m,k) */
    int64_t bstride;
    uint32_t p;
    uint32_t *inv;                      /* (p): multiplicative inverses mod p */
} ph_ctx;

static inline int64_t ph_C(const ph_ctx *c, int64_t m, int k) {
    return c->binom[(int64_t)k * c->bstride + m];
}

static inline float ph_dist_dense(const ph_ctx *c, int64_t i, int64_t j) {
    if (i == j) return 0.0f;
    if (i < j) { int64_t t = i; i = j; j = t; }
    return c->lower[i * (i - 1) / 2 + j];
}

/* Sparse lookup by binary search in i's sorted neighbour list; absent = infinity. */
static float ph_dist_sparse(const ph_ctx *c, int64_t i, int64_t j) {
    if (i == j) return 0.0f;
    int64_t lo = c->row_ptr[i], hi = c->row_ptr[i + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (c->col[mid] < j) lo = mid + 1;
        else hi = mid;
    }
    return (lo < c->row_ptr[i + 1] && c->col[lo] == j) ? c->val[lo] : INFINITY;
}

static inline float ph_dist(const ph_ctx *c, int64_t i, int64_t j) {
    return c->sparse ? ph_dist_sparse(c, i, j) : ph_dist_dense(c, i, j);
}

/* --- simplices ---------------------------------------------------------------------- */

/* Largest v < top with C(v, k) <= idx (the top vertex of a simplex with index idx). */
static int64_t ph_max_vertex(const ph_ctx *c, int64_t idx, int k, int64_t top) {
    int64_t lo = k - 1, hi = top - 1;
    if (ph_C(c, hi, k) <= idx) return hi;
    while (hi - lo > 1) { /* C(lo,k) <= idx < C(hi,k) */
        int64_t mid = lo + (hi - lo) / 2;
        if (ph_C(c, mid, k) <= idx) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Vertices of simplex idx of dimension d into w[0..d], decreasing. */
static void ph_vertices(const ph_ctx *c, int64_t idx, int d, int64_t *w) {
    int64_t top = c->n;
    for (int k = d + 1; k >= 1; k--) {
        int64_t v = ph_max_vertex(c, idx, k, top);
        w[d + 1 - k] = v;
        idx -= ph_C(c, v, k);
        top = v;
    }
}

/* Vertices of edge idx = C(a,2) + b, a > b: a from a square root, then fixed up
 * against rounding. Kruskal decodes every edge, so this beats two binary searches. */
static inline void ph_edge_vertices(int64_t idx, int64_t *w) {
    int64_t a = (int64_t)((1.0 + sqrt(1.0 + 8.0 * (double)idx)) / 2.0);
    while (a * (a - 1) / 2 > idx) a--;
    while ((a + 1) * a / 2 <= idx) a++;
    w[0] = a;
    w[1] = idx - a * (a - 1) / 2;
}

/* --- coboundary enumeration --------------------------------------------------------- */

/* Walks the cofacets of one simplex with diameter <= threshold in decreasing index
 * order: the added vertex j runs from n-1 down (dense) or along the common
 * neighbours of all vertices, largest first (sparse). The running sums `above` and
 * `below` hold the index contributions of the simplex's vertices above and below j,
 * so each cofacet index costs one table lookup. */
typedef struct {
    int d;
    int t;                              /* vertices w[0..t) are above j */
    float diam;
    uint32_t coef;
    int64_t j;
    int64_t above, below;
    int64_t w[PH_MAX_DIM + 2];          /* vertices, decreasing */
    int64_t pos[PH_MAX_DIM + 2];        /* sparse: cursor in each vertex's neighbour list */
    int unfiltered;                     /* sparse: also cofacets above the threshold */
    int64_t added;                      /* the vertex added by the last cofacet returned */
} ph_cob;

/* Starts the walk from known vertices w[0..d] (decreasing). */
static void ph_cob_init_w(const ph_ctx *c, ph_cob *it, const int64_t *w, int64_t idx, float diam,
                          int d, uint32_t coef) {
    if (w != it->w) memcpy(it->w, w, (size_t)(d + 1) * sizeof *w);
    it->d = d;
    it->t = 0;
    it->diam = diam;
    it->coef = coef;
    it->j = c->n - 1;
    it->above = 0;
    it->below = idx;
    it->unfiltered = 0;
    if (c->sparse)
        for (int s = 0; s <= d; s++) it->pos[s] = c->row_ptr[it->w[s] + 1] - 1;
}

static void ph_cob_init(const ph_ctx *c, ph_cob *it, int64_t idx, float diam, int d,
                        uint32_t coef) {
    ph_vertices(c, idx, d, it->w);
    ph_cob_init_w(c, it, it->w, idx, diam, d, coef);
}

/* The vertices (decreasing) of the cofacet the walk just returned. */
static void ph_cob_vertices(const ph_cob *it, int64_t *w) {
    for (int s = 0; s < it->t; s++) w[s] = it->w[s];
    w[it->t] = it->added;
    for (int s = it->t; s <= it->d; s++) w[s + 1] = it->w[s];
}

/* Coefficient of the cofacet: (-1)^(number of the simplex's vertices below j),
 * the sign of the face map that deletes j (a coboundary is a transposed boundary). */
static inline uint32_t ph_cob_coef(const ph_ctx *c, const ph_cob *it) {
    return ((it->d + 1 - it->t) & 1) ? c->p - it->coef : it->coef;
}

static inline int ph_cob_next_dense(const ph_ctx *c, ph_cob *it, ph_entry *out) {
    const int d = it->d;
    const float thr = c->threshold;
    while (it->j >= 0) {
        int64_t j = it->j--;
        if (it->t <= d && j == it->w[it->t]) {
            it->below -= ph_C(c, j, d + 1 - it->t);
            it->above += ph_C(c, j, d + 2 - it->t);
            it->t++;
            continue;
        }
        float m = it->diam;
        int s = 0;
        for (; s <= d; s++) {
            float x = ph_dist_dense(c, j, it->w[s]);
            if (x > m) {
                if (x > thr) break;
                m = x;
            }
        }
        if (s <= d) continue; /* an edge longer than the threshold */
        it->added = j;
        out->idx = it->above + ph_C(c, j, d + 2 - it->t) + it->below;
        out->diam = m;
        out->coef = ph_cob_coef(c, it);
        return 1;
    }
    return 0;
}

static inline int ph_cob_next_sparse(const ph_ctx *c, ph_cob *it, ph_entry *out) {
    const int d = it->d;
    const int64_t *col = c->col;
    const float *val = c->val;
    const int64_t lo0 = c->row_ptr[it->w[0]];
    for (;;) {
        int64_t p0 = it->pos[0];
        if (p0 < lo0) return 0;
        int64_t j = col[p0];
        float m = it->diam;
        if (val[p0] > m) m = val[p0];
        int64_t behind = -1; /* a smaller neighbour some other list jumped to */
        for (int s = 1; s <= d; s++) {
            int64_t ps = it->pos[s], lo = c->row_ptr[it->w[s]];
            while (ps >= lo && col[ps] > j) ps--;
            it->pos[s] = ps;
            if (ps < lo) { it->pos[0] = lo0 - 1; return 0; }
            if (col[ps] != j) { behind = col[ps]; break; }
            if (val[ps] > m) m = val[ps];
        }
        if (behind >= 0) {
            while (p0 >= lo0 && col[p0] > behind) p0--;
            it->pos[0] = p0;
            continue;
        }
        it->pos[0] = p0 - 1;
        if (m > c->threshold && !it->unfiltered) continue; /* only with keep_long_edges */
        while (it->t <= d && it->w[it->t] > j) {
            it->below -= ph_C(c, it->w[it->t], d + 1 - it->t);
            it->above += ph_C(c, it->w[it->t], d + 2 - it->t);
            it->t++;
        }
        it->added = j;
        out->idx = it->above + ph_C(c, j, d + 2 - it->t) + it->below;
        out->diam = m;
        out->coef = ph_cob_coef(c, it);
        return 1;
    }
}

static inline int ph_cob_next(const ph_ctx *c, ph_cob *it, ph_entry *out) {
    return c->sparse ? ph_cob_next_sparse(c, it, out) : ph_cob_next_dense(c, it, out);
}

/* --- zero-length (apparent) pairs ------------------------------------------------- */

/* The earliest cofacet (largest index among those of equal diameter) of simplex
 * (w, idx, diam, dim d), if it has the same diameter: 1 and the cofacet in *out, its
 * vertices in wout (may be NULL); 0 otherwise. */
static int ph_zero_pivot_cofacet_dense(const ph_ctx *c, const int64_t *w, int64_t idx,
                                       float diam, int d, ph_entry *out, int64_t *wout);

static int ph_zero_pivot_cofacet(const ph_ctx *c, const int64_t *w, int64_t idx, float diam,
                                 int d, ph_entry *out, int64_t *wout) {
    if (!c->sparse) return ph_zero_pivot_cofacet_dense(c, w, idx, diam, d, out, wout);
    ph_cob it;
    ph_cob_init_w(c, &it, w, idx, diam, d, 1);
    /* Ripser looks for apparent pairs without the threshold; it matters only for
     * the long edges that keep_long_edges keeps */
    it.unfiltered = 1;
    while (ph_cob_next(c, &it, out))
        if (out->diam == diam) {
            if (wout) ph_cob_vertices(&it, wout);
            return 1;
        }
    return 0;
}

/* The dense coboundary walks past vertex w[t] of the simplex: the index parts
 * above and below the added vertex trade w[t]'s binomials, w[t]'s row of the lower
 * triangle joins rowv, and the added vertex j goes on below w[t]. (The zero pivot
 * cofacet scan of ph_stage_common.h makes the same step.) */
static inline void ph_dense_step(const ph_ctx *c, const int64_t *w, int t, int d, int64_t *above,
                                 int64_t *below, const float **rowv, int64_t *j) {
    *below -= ph_C(c, w[t], d + 1 - t);
    *above += ph_C(c, w[t], d + 2 - t);
    rowv[t] = c->lower + w[t] * (w[t] - 1) / 2;
    *j = w[t] - 1;
}

/* The same for dense input: the zero pivot cofacet scan shared with the GPU
 * stages (ph_stage_common.h). The apparent-pair tests of the column assembly
 * (several per simplex) and of every pivot of a hard column run this. */
static int ph_zero_pivot_cofacet_dense(const ph_ctx *c, const int64_t *w, int64_t idx,
                                       float diam, int d, ph_entry *out, int64_t *wout) {
    const float *rowv[PH_MAX_DIM + 2];
    int64_t tidx;
    int t = phs_zero_cofacet_rows(c->lower, c->n, c->binom, c->bstride, w, d, idx, diam, rowv,
                                  &tidx, wout);
    if (t < 0) return 0;
    out->idx = tidx;
    out->diam = diam;
    out->coef = ((d + 1 - t) & 1) ? c->p - 1 : 1; /* the added vertex has rank d + 1 - t */
    return 1;
}

/* The latest facet (smallest index among those of equal diameter) of simplex t
 * (vertices w, decreasing; dimension d >= 1), if it has t's diameter: 1, the facet
 * in *out with coef the sign of t in the facet's coboundary, its vertices in wout
 * (may be NULL). The choice is ph_stage_common.h's, on distances read here (dense
 * or sparse). */
static int ph_zero_pivot_facet(const ph_ctx *c, const int64_t *w, float diam, int d,
                               ph_entry *out, int64_t *wout) {
    float dm[(PH_MAX_DIM + 2) * (PH_MAX_DIM + 2)];
    const int nv = d + 1;
    for (int a = 0; a < nv; a++)
        for (int b = a + 1; b < nv; b++) dm[a * nv + b] = dm[b * nv + a] = ph_dist(c, w[a], w[b]);
    int64_t f;
    int r = phs_zero_facet_dm(dm, w, d, diam, c->binom, c->bstride, &f, wout);
    if (r < 0) return 0;
    out->idx = f;
    out->diam = diam;
    out->coef = ((d - r) & 1) ? c->p - 1 : 1; /* w[r] has rank d - r in t */
    return 1;
}

/* The facet f with (f, t) an apparent pair: 1 and f in *f; 0 if none. */
static int ph_apparent_facet_w(const ph_ctx *c, const int64_t *w, int64_t idx, float diam, int d,
                               ph_entry *f) {
    int64_t wf[PH_MAX_DIM + 2];
    ph_entry t;
    if (!ph_zero_pivot_facet(c, w, diam, d, f, wf)) return 0;
    return ph_zero_pivot_cofacet(c, wf, f->idx, f->diam, d - 1, &t, NULL) && t.idx == idx;
}

static int ph_apparent_facet(const ph_ctx *c, int64_t idx, float diam, int d, ph_entry *f) {
    int64_t w[PH_MAX_DIM + 2];
    ph_vertices(c, idx, d, w);
    return ph_apparent_facet_w(c, w, idx, diam, d, f);
}

/* Whether (s, t) is an apparent pair for some cofacet t of s (vertices w). */
static int ph_has_apparent_cofacet_w(const ph_ctx *c, const int64_t *w, int64_t idx, float diam,
                                     int d) {
    int64_t wt[PH_MAX_DIM + 3];
    ph_entry t, f;
    if (!ph_zero_pivot_cofacet(c, w, idx, diam, d, &t, wt)) return 0;
    return ph_zero_pivot_facet(c, wt, t.diam, d + 1, &f, NULL) && f.idx == idx;
}

/* --- binary heap of entries, earliest in the filtration on top ------------------- */

/* Holds the reduction column being built (which simplices were added, in any
 * order), combined when the column is saved. The working coboundary, which must be
 * given out in order, uses the radix heap below. */

typedef struct {
    ph_entry *a;
    int64_t len, cap;
} ph_heap;

static inline int ph_before(const ph_entry *x, const ph_entry *y) {
    return x->diam < y->diam || (x->diam == y->diam && x->idx > y->idx);
}

static int ph_heap_push(ph_heap *h, ph_entry e) {
    if (h->len == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 256;
        ph_entry *a = realloc(h->a, (size_t)cap * sizeof *a);
        if (!a) return -1;
        h->a = a;
        h->cap = cap;
    }
    int64_t i = h->len++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!ph_before(&e, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = e;
    return 0;
}

/* Removes the top. Bottom-up: the hole walks to a leaf along the earlier children
 * (one comparison per level), then the last entry, which almost always belongs
 * near the bottom, sifts up from there. */
static void ph_heap_pop(ph_heap *h) {
    const int64_t n = --h->len;
    if (n == 0) return;
    ph_entry last = h->a[n];
    ph_entry *a = h->a;
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1;
        if (l >= n) break;
        int64_t m = (l + 1 < n && ph_before(&a[l + 1], &a[l])) ? l + 1 : l;
        a[i] = a[m];
        i = m;
    }
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!ph_before(&last, &a[parent])) break;
        a[i] = a[parent];
        i = parent;
    }
    a[i] = last;
}

/* Removes and returns the earliest entry with a nonzero summed coefficient. */
static ph_entry ph_heap_pop_pivot(ph_heap *h, uint32_t p) {
    while (h->len > 0) {
        ph_entry top = h->a[0];
        ph_heap_pop(h);
        uint32_t coef = top.coef;
        while (h->len > 0 && h->a[0].idx == top.idx) {
            coef = (coef + h->a[0].coef) % p;
            ph_heap_pop(h);
        }
        if (coef != 0) {
            top.coef = coef;
            return top;
        }
    }
    ph_entry none = {-1, 0.0f, 0};
    return none;
}

/* --- the working coboundary: a radix heap ----------------------------------------- */

/* The working coboundary of a column is a priority queue that only ever gives out
 * its entries in filtration order and never receives an entry before the last one
 * given out, except entries that cancel each other (see ph_rq_push). That is a
 * monotone queue, and a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan 1990) serves it
 * better than a binary heap: a push is an append, and an entry moves between
 * buckets only when the pivot comes near it. It matters for the hardest columns:
 * the 2-sphere's dimension-2 column gets 53 million entries pushed and 34 million
 * still there when it finishes (its pivot dies long before them), which a binary
 * heap of 550 MB sifts with a cache miss per level.
 *
 * An entry is one 128-bit key: diameter bits (32; a diameter is >= 0, so its bits
 * order like the floats), then ~index (64; larger index = earlier), then the
 * coefficient (32). The top 96 bits compare in filtration order. Bucket k > 0
 * holds keys whose top 96 bits first differ from those of `last` (the last pivot)
 * at bit k - 1; bucket 0 holds keys equal to `last`. Buckets are stacks of blocks
 * from a free list, so a redistribution frees what it reads as it goes and memory
 * follows the entries held, not twice that. */
typedef unsigned __int128 ph_key;

#define PH_RQ_BUCKETS 97
#define PH_RQ_BLOCK 1022 /* entries per block: 16 KiB with the header */

typedef struct ph_rq_block {
    struct ph_rq_block *next;
    int64_t len;
    ph_key e[PH_RQ_BLOCK];
} ph_rq_block;

typedef struct {
    ph_rq_block *b[PH_RQ_BUCKETS]; /* per bucket: the head block has room, the others are full */
    uint64_t nonempty[2];          /* bit k: bucket k holds entries */
    ph_key last;                   /* key of the last pivot, coefficient bits zero */
    ph_rq_block *spare;            /* free blocks, kept for the next column */
} ph_rq;

static inline ph_key ph_key_of(int64_t idx, float diam, uint32_t coef) {
    uint32_t bits = 0;
    if (diam != 0.0f) memcpy(&bits, &diam, sizeof bits); /* -0 sorts as +0 */
    return (ph_key)bits << 96 | (ph_key)~(uint64_t)idx << 32 | coef;
}

static inline ph_entry ph_entry_of(ph_key x) {
    uint32_t bits = (uint32_t)(x >> 96);
    ph_entry e;
    memcpy(&e.diam, &bits, sizeof bits);
    e.idx = (int64_t)~(uint64_t)(x >> 32);
    e.coef = (uint32_t)x;
    return e;
}

static inline int ph_rq_bucket(ph_key x, ph_key last) {
    ph_key d = (x ^ last) >> 32;
    uint64_t hi = (uint64_t)(d >> 64), lo = (uint64_t)d;
    return hi ? 128 - __builtin_clzll(hi) : lo ? 64 - __builtin_clzll(lo) : 0;
}

static void ph_rq_release(ph_rq *q, ph_rq_block *blk) {
    blk->next = q->spare;
    q->spare = blk;
}

static inline int ph_rq_put(ph_rq *q, ph_key x) {
    int k = ph_rq_bucket(x, q->last);
    ph_rq_block *blk = q->b[k];
    if (!blk || blk->len == PH_RQ_BLOCK) {
        blk = q->spare;
        if (blk) q->spare = blk->next;
        else if (!(blk = malloc(sizeof *blk))) return -1;
        blk->next = q->b[k];
        blk->len = 0;
        q->b[k] = blk;
        q->nonempty[k >> 6] |= 1ull << (k & 63);
    }
    blk->e[blk->len++] = x;
    return 0;
}

/* Adds an entry. One before the last pivot is dropped: every chain the reduction
 * adds is either the coboundary of the apparent facet of the pivot (which has no
 * entry before the pivot: the pivot is the facet's earliest cofacet) or a reduced
 * column whose pivot is the current one, whose entries before the pivot sum to zero
 * (the coboundaries of its reduction column cancel there). So what is dropped
 * cancels anyway; keeping it would break the monotone order. */
static inline int ph_rq_push(ph_rq *q, ph_entry e) {
    ph_key x = ph_key_of(e.idx, e.diam, e.coef);
    if ((x >> 32) < (q->last >> 32)) return 0;
    return ph_rq_put(q, x);
}

/* Pushes coef * (the coboundary of simplex idx, dimension d, dense input): what
 * ph_cob_next_dense gives, in one loop per run of added vertices j between two
 * vertices of the simplex. There the vertices above j are rows of the lower
 * triangle read along j, those below are entries of row j, and the coefficient
 * and the binomial row are fixed. The hardest columns spend a third of their time
 * here. */
static int ph_rq_push_cob_dense(const ph_ctx *c, ph_rq *q, int64_t idx, float diam, int d,
                                uint32_t coef) {
    int64_t w[PH_MAX_DIM + 2];
    const float *rowv[PH_MAX_DIM + 2]; /* rowv[s][j] = dist(w[s], j) for j < w[s] */
    ph_vertices(c, idx, d, w);
    const float *lower = c->lower;
    const float thr = c->threshold;
    int64_t above = 0, below = idx;
    int64_t j = c->n - 1;
    for (int t = 0; t <= d + 1; t++) {
        const int64_t stop = t <= d ? w[t] : -1; /* j runs down to stop + 1 */
        const uint32_t cf = ((d + 1 - t) & 1) ? c->p - coef : coef;
        const int64_t *binj = c->binom + (int64_t)(d + 2 - t) * c->bstride; /* C(j, d+2-t) */
        for (; j > stop; j--) {
            const float *rowj = lower + j * (j - 1) / 2;
            float m = diam;
            for (int s = 0; s < t; s++) m = rowv[s][j] > m ? rowv[s][j] : m;
            for (int s = t; s <= d; s++) m = rowj[w[s]] > m ? rowj[w[s]] : m;
            if (m > thr) continue;
            ph_key x = ph_key_of(above + binj[j] + below, m, cf);
            if ((x >> 32) < (q->last >> 32)) continue; /* see ph_rq_push */
            if (ph_rq_put(q, x)) return -1;
        }
        if (t <= d) ph_dense_step(c, w, t, d, &above, &below, rowv, &j);
    }
    return 0;
}

/* Empties the queue (blocks go to the spare list) and forgets the last pivot. */
static void ph_rq_clear(ph_rq *q) {
    for (int k = 0; k < PH_RQ_BUCKETS; k++)
        while (q->b[k]) {
            ph_rq_block *next = q->b[k]->next;
            ph_rq_release(q, q->b[k]);
            q->b[k] = next;
        }
    q->nonempty[0] = q->nonempty[1] = 0;
    q->last = 0;
}

static void ph_rq_free(ph_rq *q) {
    ph_rq_clear(q);
    while (q->spare) {
        ph_rq_block *next = q->spare->next;
        free(q->spare);
        q->spare = next;
    }
}

/* Makes `last` the smallest key and bucket 0 its entries: the lowest non-empty
 * bucket is spread over the buckets below it around its minimum. 0 if empty. */
static int ph_rq_refill(ph_rq *q) {
    if (q->b[0]) return 1;
    uint64_t m0 = q->nonempty[0] & ~1ull;
    int k;
    if (m0) k = __builtin_ctzll(m0);
    else if (q->nonempty[1]) k = 64 + __builtin_ctzll(q->nonempty[1]);
    else return 0;
    ph_rq_block *list = q->b[k];
    q->b[k] = NULL;
    q->nonempty[k >> 6] &= ~(1ull << (k & 63));
    ph_key m = list->e[0];
    for (ph_rq_block *blk = list; blk; blk = blk->next)
        for (int64_t i = 0; i < blk->len; i++)
            if (blk->e[i] < m) m = blk->e[i];
    q->last = m >> 32 << 32;
    /* every entry lands in a bucket below k; each block read is free for the next */
    while (list) {
        ph_rq_block *next = list->next;
        int64_t i = 0;
        while (i < list->len && !ph_rq_put(q, list->e[i])) i++;
        ph_rq_release(q, list);
        if (i < list->len) { /* out of memory: the column is lost, keep the blocks */
            for (; next; next = list) {
                list = next->next;
                ph_rq_release(q, next);
            }
            return -1;
        }
        list = next;
    }
    return 1;
}

/* The earliest entry with a nonzero summed coefficient, left in the queue as one
 * entry (idx -1 if the column is zero). */
static ph_entry ph_rq_pivot(ph_rq *q, uint32_t p, int *oom) {
    int r;
    while ((r = ph_rq_refill(q)) > 0) {
        uint64_t sum = 0;
        for (ph_rq_block *blk = q->b[0]; blk; blk = blk->next)
            for (int64_t i = 0; i < blk->len; i++) sum += (uint32_t)blk->e[i];
        sum %= p;
        ph_rq_block *head = q->b[0];
        while (head->next) {
            ph_rq_block *next = head->next->next;
            ph_rq_release(q, head->next);
            head->next = next;
        }
        if (sum) {
            head->len = 1;
            head->e[0] = q->last | sum;
            return ph_entry_of(head->e[0]);
        }
        ph_rq_release(q, head);
        q->b[0] = NULL;
        q->nonempty[0] &= ~1ull;
    }
    if (r < 0) *oom = 1;
    ph_entry none = {-1, 0.0f, 0};
    return none;
}

/* --- pivot map: open addressing, (d+1)-simplex index -> column and coefficient ---- */

typedef struct {
    int64_t key; /* -1: empty */
    int64_t val; /* column << 16 | coefficient of the pivot */
} ph_slot;

typedef struct {
    ph_slot *s;
    int64_t mask, count;
} ph_map;

static inline uint64_t ph_hash(int64_t k) {
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static int ph_map_init(ph_map *m, int64_t expect) {
    int64_t cap = 64;
    while (cap < 2 * expect) cap *= 2;
    m->s = malloc((size_t)cap * sizeof *m->s);
    if (!m->s) return -1;
    for (int64_t i = 0; i < cap; i++) m->s[i].key = -1;
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

static void ph_map_free(ph_map *m) {
    free(m->s);
    m->s = NULL;
    m->mask = -1;
    m->count = 0;
}

static inline int64_t ph_map_get(const ph_map *m, int64_t key) {
    if (!m->s) return -1;
    for (uint64_t i = ph_hash(key) & (uint64_t)m->mask;; i = (i + 1) & (uint64_t)m->mask) {
        if (m->s[i].key == key) return m->s[i].val;
        if (m->s[i].key < 0) return -1;
    }
}

static int ph_map_put(ph_map *m, int64_t key, int64_t val) {
    if (2 * (m->count + 1) > m->mask + 1) { /* keep the load under one half */
        int64_t cap = 2 * (m->mask + 1);
        ph_slot *s = malloc((size_t)cap * sizeof *s);
        if (!s) return -1;
        for (int64_t i = 0; i < cap; i++) s[i].key = -1;
        for (int64_t i = 0; i <= m->mask; i++) {
            if (m->s[i].key < 0) continue;
            uint64_t k = ph_hash(m->s[i].key) & (uint64_t)(cap - 1);
            while (s[k].key >= 0) k = (k + 1) & (uint64_t)(cap - 1);
            s[k] = m->s[i];
        }
        free(m->s);
        m->s = s;
        m->mask = cap - 1;
    }
    uint64_t i = ph_hash(key) & (uint64_t)m->mask;
    while (m->s[i].key >= 0) i = (i + 1) & (uint64_t)m->mask;
    m->s[i].key = key;
    m->s[i].val = val;
    m->count++;
    return 0;
}

/* --- sorting columns ---------------------------------------------------------------- */

/* Columns are reduced from the end of the filtration: larger diameter first, then
 * smaller index (the reverse of the filtration's tie-break). */
static inline int ph_col_first(const ph_col *x, const ph_col *y) {
    return x->diam > y->diam || (x->diam == y->diam && x->idx < y->idx);
}

static void ph_sort_cols(ph_col *a, int64_t n) {
    while (n > 24) {
        int64_t mid = n / 2;
        /* median of three into a[0] as the pivot */
        if (ph_col_first(&a[mid], &a[0])) { ph_col t = a[mid]; a[mid] = a[0]; a[0] = t; }
        if (ph_col_first(&a[n - 1], &a[0])) { ph_col t = a[n - 1]; a[n - 1] = a[0]; a[0] = t; }
        if (ph_col_first(&a[n - 1], &a[mid])) { ph_col t = a[n - 1]; a[n - 1] = a[mid]; a[mid] = t; }
        ph_col pivot = a[mid];
        int64_t i = 0, j = n - 1;
        for (;;) {
            while (ph_col_first(&a[i], &pivot)) i++;
            while (ph_col_first(&pivot, &a[j])) j--;
            if (i >= j) break;
            ph_col t = a[i]; a[i] = a[j]; a[j] = t;
            i++;
            j--;
        }
        /* [0, j] and [j+1, n): recurse into the smaller part, loop on the larger */
        int64_t left = j + 1;
        if (left < n - left) {
            ph_sort_cols(a, left);
            a += left;
            n -= left;
        } else {
            ph_sort_cols(a + left, n - left);
            n = left;
        }
    }
    for (int64_t i = 1; i < n; i++) {
        ph_col x = a[i];
        int64_t j = i;
        while (j > 0 && ph_col_first(&x, &a[j - 1])) { a[j] = a[j - 1]; j--; }
        a[j] = x;
    }
}

/* --- a small thread pool: every thread runs the same function, then all meet ------ */

typedef void (*ph_task)(void *arg, int tid);
typedef struct ph_pool ph_pool;
typedef struct {
    ph_pool *pool;
    int id;
} ph_worker_arg;
struct ph_pool {
    int nthreads;                       /* including the calling thread */
    pthread_t tid[256];
    ph_worker_arg args[256];
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    int64_t generation;                 /* bumped once per task */
    int running;                        /* workers still in the current task */
    ph_task fn;
    void *arg;
    int quit;
};

static void *ph_worker(void *p) {
    ph_worker_arg *wa = p;
    ph_pool *pool = wa->pool;
    int64_t seen = 0;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->generation == seen && !pool->quit) pthread_cond_wait(&pool->start_cv, &pool->mu);
        if (pool->quit) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->mu);
        pool->fn(pool->arg, wa->id);
        pthread_mutex_lock(&pool->mu);
        if (--pool->running == 0) pthread_cond_signal(&pool->done_cv);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* Runs fn(arg, tid) on every thread (tid 0 is the caller) and waits for all. */
static void ph_pool_run(ph_pool *pool, ph_task fn, void *arg) {
    if (pool->nthreads <= 1) {
        fn(arg, 0);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    pool->fn = fn;
    pool->arg = arg;
    pool->running = pool->nthreads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);
    fn(arg, 0);
    pthread_mutex_lock(&pool->mu);
    while (pool->running > 0) pthread_cond_wait(&pool->done_cv, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

/* Starts up to nthreads - 1 workers; runs with fewer if the system refuses some. */
static void ph_pool_start(ph_pool *pool, int nthreads) {
    pool->nthreads = 1;
    pool->generation = 0;
    pool->quit = 0;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->start_cv, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    for (int i = 1; i < nthreads && i < 256; i++) {
        pool->args[i].pool = pool;
        pool->args[i].id = i;
        if (pthread_create(&pool->tid[i], NULL, ph_worker, &pool->args[i])) break;
        pool->nthreads = i + 1;
    }
}

static void ph_pool_stop(ph_pool *pool) {
    pthread_mutex_lock(&pool->mu);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->start_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 1; i < pool->nthreads; i++) pthread_join(pool->tid[i], NULL);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->start_cv);
    pthread_cond_destroy(&pool->done_cv);
    pool->nthreads = 1;
}

/* --- the engine state ---------------------------------------------------------------- */

typedef struct {
    ph_rq cob;          /* working coboundary */
    ph_heap red;        /* working reduction column (which columns were added) */
    ph_entry *vbuf;     /* finished reduction columns of this thread's chunk share */
    int64_t vlen, vcap;
    int64_t *lvl;       /* DFS candidate lists: (max_dim + 2) levels of n vertices */
    float *lvd;
    int64_t *lvn;
    int64_t est_stride, est_seen; /* the memory estimate's subsampling */
    ph_col *out;        /* assembled columns of this thread */
    int64_t olen, ocap;
    int oom;
} ph_ws;

/* The result of reducing one column before it is published. */
typedef struct {
    ph_entry pivot;     /* idx -1: the column reduced to zero (essential class) */
    int tid;
    int64_t voff, vlen; /* its reduction column in ws[tid].vbuf, including itself */
} ph_pending;

typedef struct {
    nv_ph_pair *a;
    int64_t len, cap;
} ph_pairs;

typedef struct {
    ph_ctx c;
    float ratio;
    int nthreads;
    int want_simplices;
    ph_pool *pool;
    ph_ws *ws;
    int nws;            /* workspaces allocated (>= threads running) */
    int keep_long_edges;
    ph_pairs pairs;
    /* the dimension being reduced */
    int dim;
    ph_col *cols;
    int64_t ncols;
    ph_map map;         /* pivots of dimension dim (kept for clearing dim + 1) */
    ph_entry *arena;    /* stored reduction columns, without the column itself */
    int64_t alen, acap;
    int64_t *aoff;      /* (ncols + 1): column j's entries are arena[aoff[j], aoff[j+1]) */
    /* chunk under parallel reduction */
    int64_t chunk_lo, chunk_hi;
    atomic_llong next;
    ph_pending *pend;
    int oom;
    /* the column stage of ph_stages.h (GPU or its CPU reference), when chosen */
    int use_stages;
    nv_ph_stages stages;
    const float *stage_lower;  /* the dense input the stage reads */
} ph_engine;

static int ph_pairs_add(ph_pairs *r, int dim, float birth, float death, int64_t bs, int64_t ds) {
    if (r->len == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 1024;
        nv_ph_pair *a = realloc(r->a, (size_t)cap * sizeof *a);
        if (!a) return -1;
        r->a = a;
        r->cap = cap;
    }
    nv_ph_pair *q = &r->a[r->len++];
    q->dim = dim;
    q->birth = birth;
    q->death = death;
    q->birth_simplex = bs;
    q->death_simplex = ds;
    return 0;
}

/* Adds coef * (simplex) to the reduction column and coef * (its coboundary) to the
 * working coboundary. */
static void ph_add_simplex(const ph_ctx *c, ph_ws *ws, int64_t idx, float diam, uint32_t coef,
                           int dim) {
    ph_entry e = {idx, diam, coef};
    if (ph_heap_push(&ws->red, e)) ws->oom = 1;
    if (!c->sparse) {
        if (ph_rq_push_cob_dense(c, &ws->cob, idx, diam, dim, coef)) ws->oom = 1;
        return;
    }
    ph_cob it;
    ph_cob_init(c, &it, idx, diam, dim, coef);
    while (ph_cob_next(c, &it, &e))
        if (ph_rq_push(&ws->cob, e)) ws->oom = 1;
}

/* Adds factor * (published column k) to the working columns. */
static void ph_add_column(ph_engine *E, ph_ws *ws, int64_t k, uint32_t factor) {
    const ph_ctx *c = &E->c;
    ph_add_simplex(c, ws, E->cols[k].idx, E->cols[k].diam, factor, E->dim);
    for (int64_t i = E->aoff[k]; i < E->aoff[k + 1]; i++) {
        const ph_entry *v = &E->arena[i];
        ph_add_simplex(c, ws, v->idx, v->diam, (uint32_t)((uint64_t)factor * v->coef % c->p),
                       E->dim);
    }
}

/* Builds the coboundary of column j and returns its pivot. When the earliest
 * same-diameter cofacet is nobody's pivot and in no apparent pair, it is the pivot
 * of the reduced column too (an emergent pair): return it without the rest. */
static ph_entry ph_init_column(ph_engine *E, ph_ws *ws, int64_t j) {
    const ph_ctx *c = &E->c;
    const ph_col *s = &E->cols[j];
    ph_entry e = {s->idx, s->diam, 1};
    ws->red.len = 0;
    ph_rq_clear(&ws->cob);
    if (ph_heap_push(&ws->red, e)) ws->oom = 1;
    ph_cob it;
    ph_cob_init(c, &it, s->idx, s->diam, E->dim, 1);
    int check = 1;
    while (ph_cob_next(c, &it, &e)) {
        if (check && e.diam == s->diam) {
            int64_t wt[PH_MAX_DIM + 3];
            ph_entry f;
            ph_cob_vertices(&it, wt);
            if (ph_map_get(&E->map, e.idx) < 0 && !ph_apparent_facet_w(c, wt, e.idx, e.diam, E->dim + 1, &f)) {
                ph_rq_clear(&ws->cob);
                return e;
            }
            check = 0;
        }
        if (ph_rq_push(&ws->cob, e)) ws->oom = 1;
    }
    return ph_rq_pivot(&ws->cob, c->p, &ws->oom);
}

/* Reduces the working column against the published pivots until its pivot is new
 * (returned) or it is zero (idx -1). */
static ph_entry ph_reduce(ph_engine *E, ph_ws *ws, ph_entry pivot) {
    const ph_ctx *c = &E->c;
    while (pivot.idx >= 0 && !ws->oom) {
        int64_t v = ph_map_get(&E->map, pivot.idx);
        if (v >= 0) {
            uint32_t ck = (uint32_t)(v & 0xffff);
            uint32_t factor = (uint32_t)((c->p - (uint64_t)pivot.coef * c->inv[ck] % c->p) % c->p);
            ph_add_column(E, ws, v >> 16, factor);
        } else {
            /* the pivot may belong to an apparent pair whose column was never built */
            ph_entry f;
            if (!ph_apparent_facet(c, pivot.idx, pivot.diam, E->dim + 1, &f)) return pivot;
            uint32_t coef = (uint32_t)((c->p - (uint64_t)pivot.coef * f.coef % c->p) % c->p);
            ph_add_simplex(c, ws, f.idx, f.diam, coef, E->dim);
        }
        pivot = ph_rq_pivot(&ws->cob, c->p, &ws->oom);
    }
    return pivot;
}

/* Moves the finished reduction column (combined, nonzero) into ws->vbuf. */
static int64_t ph_save_red(ph_engine *E, ph_ws *ws) {
    int64_t start = ws->vlen;
    for (;;) {
        ph_entry e = ph_heap_pop_pivot(&ws->red, E->c.p);
        if (e.idx < 0) break;
        if (ws->vlen == ws->vcap) {
            int64_t cap = ws->vcap ? 2 * ws->vcap : 1024;
            ph_entry *a = realloc(ws->vbuf, (size_t)cap * sizeof *a);
            if (!a) { ws->oom = 1; break; }
            ws->vbuf = a;
            ws->vcap = cap;
        }
        ws->vbuf[ws->vlen++] = e;
    }
    return start;
}

/* Publishes column j: its pivot (if any) enters the map, its reduction column the
 * arena, its interval the result. Runs on one thread, in column order. */
static void ph_publish(ph_engine *E, int64_t j, ph_entry pivot, const ph_entry *v, int64_t vlen) {
    const ph_col *s = &E->cols[j];
    if (pivot.idx < 0) {
        if (ph_pairs_add(&E->pairs, E->dim, s->diam, INFINITY, s->idx, -1)) E->oom = 1;
        E->aoff[j + 1] = E->alen;
        return;
    }
    if (pivot.diam > s->diam * E->ratio)
        if (ph_pairs_add(&E->pairs, E->dim, s->diam, pivot.diam, s->idx, pivot.idx)) E->oom = 1;
    if (ph_map_put(&E->map, pivot.idx, (j << 16) | pivot.coef)) E->oom = 1;
    if (E->alen + vlen > E->acap) {
        int64_t cap = E->acap ? E->acap : 4096;
        while (cap < E->alen + vlen) cap *= 2;
        ph_entry *a = realloc(E->arena, (size_t)cap * sizeof *a);
        if (!a) { E->oom = 1; return; }
        E->arena = a;
        E->acap = cap;
    }
    for (int64_t i = 0; i < vlen; i++)
        if (v[i].idx != s->idx) E->arena[E->alen++] = v[i];
    E->aoff[j + 1] = E->alen;
}

/* Thread body of the first phase: reduce this chunk's columns against the pivots
 * of earlier chunks (the map is not written while this runs). */
static void ph_chunk_task(void *arg, int tid) {
    ph_engine *E = arg;
    ph_ws *ws = &E->ws[tid];
    for (;;) {
        int64_t j = atomic_fetch_add(&E->next, 1);
        if (j >= E->chunk_hi) break;
        ph_entry pivot = ph_init_column(E, ws, j);
        pivot = ph_reduce(E, ws, pivot);
        ph_pending *pd = &E->pend[j - E->chunk_lo];
        pd->pivot = pivot;
        pd->tid = tid;
        pd->voff = ph_save_red(E, ws);
        pd->vlen = ws->vlen - pd->voff;
    }
}

/* Reduces the columns E->cols of dimension E->dim, filling E->map and the pairs. */
static nv_status ph_reduce_dimension(ph_engine *E, nv_error *err) {
    const int64_t m = E->ncols;
    E->alen = 0;
    E->aoff = malloc((size_t)(m + 1) * sizeof *E->aoff);
    if (!E->aoff || ph_map_init(&E->map, NV_MIN(m, (int64_t)1 << 20)))
        return nv_fail(err, NV_ENOMEM, "out of memory for the pivots of dimension %d", E->dim);
    E->aoff[0] = 0;
    ph_ws *w0 = &E->ws[0];
    /* Chunks big enough to amortise the meeting of threads, small enough that
     * columns of one chunk rarely need the same pivot. */
    const int64_t chunk = E->nthreads > 1 ? 256 * (int64_t)E->nthreads : 0;
    if (E->nthreads > 1 && m > chunk) {
        E->pend = malloc((size_t)chunk * sizeof *E->pend);
        if (!E->pend) return nv_fail(err, NV_ENOMEM, "out of memory for the chunk of columns");
    }
    for (int64_t lo = 0; lo < m && !E->oom; lo = E->chunk_hi) {
        if (!E->pend) { /* one thread: reduce and publish column by column */
            E->chunk_hi = lo + 1;
            w0->vlen = 0;
            ph_entry pivot = ph_reduce(E, w0, ph_init_column(E, w0, lo));
            int64_t off = ph_save_red(E, w0);
            ph_publish(E, lo, pivot, w0->vbuf + off, w0->vlen - off);
            if (w0->oom) E->oom = 1;
            continue;
        }
        E->chunk_lo = lo;
        E->chunk_hi = NV_MIN(m, lo + chunk);
        atomic_store(&E->next, lo);
        for (int t = 0; t < E->nthreads; t++) E->ws[t].vlen = 0;
        ph_pool_run(E->pool, ph_chunk_task, E);
        for (int t = 0; t < E->nthreads; t++)
            if (E->ws[t].oom) E->oom = 1;
        for (int64_t j = lo; j < E->chunk_hi && !E->oom; j++) {
            ph_pending *pd = &E->pend[j - lo];
            const ph_entry *v = E->ws[pd->tid].vbuf + pd->voff;
            if (pd->pivot.idx >= 0 && ph_map_get(&E->map, pd->pivot.idx) >= 0) {
                /* an earlier column of this chunk took the pivot: rebuild the working
                 * coboundary from the reduction column and go on, now sequentially */
                ph_ws *ws = &E->ws[0];
                ws->red.len = 0;
                ph_rq_clear(&ws->cob);
                            /* v may live in ws->vbuf: copy it out of the way of ph_save_red */
                int64_t vl = pd->vlen;
                ph_entry *vc = malloc((size_t)(vl ? vl : 1) * sizeof *vc);
                if (!vc) { E->oom = 1; break; }
                if (vl) memcpy(vc, v, (size_t)vl * sizeof *vc);
                for (int64_t i = 0; i < vl; i++)
                    ph_add_simplex(&E->c, ws, vc[i].idx, vc[i].diam, vc[i].coef, E->dim);
                free(vc);
                ph_entry pivot = ph_reduce(E, ws, ph_rq_pivot(&ws->cob, E->c.p, &ws->oom));
                int64_t off = ph_save_red(E, ws);
                ph_publish(E, j, pivot, ws->vbuf + off, ws->vlen - off);
                if (ws->oom) E->oom = 1;
            } else {
                ph_publish(E, j, pd->pivot, v, pd->vlen);
            }
        }
    }
    free(E->pend);
    E->pend = NULL;
    free(E->aoff);
    E->aoff = NULL;
    free(E->arena);
    E->arena = NULL;
    E->acap = E->alen = 0;
    if (E->oom) return nv_fail(err, NV_ENOMEM, "out of memory reducing dimension %d", E->dim);
    return NV_OK;
}

/* --- dimension 0 ---------------------------------------------------------------------- */

static int64_t ph_uf_find(int64_t *parent, int64_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

/* Edge x enters the filtration before edge y (shorter, then larger index). */
static inline int ph_edge_before(float xd, int64_t xi, float yd, int64_t yi) {
    return xd < yd || (xd == yd && xi > yi);
}

/* Dense input: the minimum spanning forest by Prim's algorithm, O(n^2) time and
 * O(n) memory, instead of sorting every edge for Kruskal. With edges strictly
 * ordered by (diameter, index) the tree is unique, so it is Kruskal's and Ripser's. */
static int64_t ph_prim(const ph_ctx *c, ph_col *tree, float *bd, int64_t *bi, uint8_t *in) {
    const int64_t n = c->n;
    int64_t count = 0;
    for (int64_t v = 0; v < n; v++) { in[v] = 0; bi[v] = -1; }
    for (int64_t s = 0; s < n; s++) {
        if (in[s]) continue;
        int64_t v = s; /* a new component */
        for (;;) {
            in[v] = 1;
            int64_t best = -1;
            for (int64_t u = 0; u < n; u++) {
                if (in[u]) continue;
                float x = ph_dist_dense(c, u, v);
                int64_t e = u > v ? u * (u - 1) / 2 + v : v * (v - 1) / 2 + u;
                if (x <= c->threshold && (bi[u] < 0 || ph_edge_before(x, e, bd[u], bi[u]))) {
                    bd[u] = x;
                    bi[u] = e;
                }
                if (bi[u] >= 0 && (best < 0 || ph_edge_before(bd[u], bi[u], bd[best], bi[best]))) best = u;
            }
            if (best < 0) break;
            tree[count++] = (ph_col){bi[best], bd[best]};
            v = best;
        }
    }
    return count;
}

typedef struct {
    ph_engine *E;
    ph_map *tree;
    atomic_llong next;
} ph_edge_job;

/* Dense input: the columns of dimension 1 are the edges under the threshold that
 * are neither in the spanning tree (paired with a vertex) nor the facet of an
 * apparent pair; rows of the matrix are shared out among the threads. */
static void ph_edge_cols_task(void *arg, int tid) {
    ph_edge_job *J = arg;
    ph_engine *E = J->E;
    const ph_ctx *c = &E->c;
    ph_ws *ws = &E->ws[tid];
    for (;;) {
        int64_t i = atomic_fetch_add(&J->next, 1);
        if (i >= c->n) break;
        for (int64_t j = 0; j < i; j++) {
            int64_t e = i * (i - 1) / 2 + j;
            float x = c->lower[e];
            if (!(x <= c->threshold) || ph_map_get(J->tree, e) >= 0) continue;
            int64_t w[2] = {i, j};
            if (ph_has_apparent_cofacet_w(c, w, e, x, 1)) continue;
            if (ws->olen == ws->ocap) {
                int64_t cap = ws->ocap ? 2 * ws->ocap : 4096;
                ph_col *na = realloc(ws->out, (size_t)cap * sizeof *na);
                if (!na) { ws->oom = 1; return; }
                ws->out = na;
                ws->ocap = cap;
            }
            ws->out[ws->olen++] = (ph_col){e, x};
        }
    }
}

/* Sparse input: the same test for edges already listed (marked in keep). */
typedef struct {
    ph_engine *E;
    ph_col *edges;
    uint8_t *keep;
    int64_t count;
    atomic_llong next;
} ph_sparse_edge_job;

static void ph_edge_apparent_task(void *arg, int tid) {
    ph_sparse_edge_job *J = arg;
    (void)tid;
    for (;;) {
        int64_t lo = atomic_fetch_add(&J->next, 4096);
        if (lo >= J->count) break;
        int64_t hi = NV_MIN(J->count, lo + 4096);
        for (int64_t i = lo; i < hi; i++) {
            if (!J->keep[i]) continue;
            int64_t w[2];
            ph_edge_vertices(J->edges[i].idx, w);
            if (ph_has_apparent_cofacet_w(&J->E->c, w, J->edges[i].idx, J->edges[i].diam, 1)) J->keep[i] = 0;
        }
    }
}

static nv_status ph_gather_cols(ph_engine *E, int d, nv_error *err);
static nv_status ph_stage_columns(ph_engine *E, int d, int64_t *cleared, int64_t ncleared,
                                  nv_error *err);

/* H0 by the elder rule over the spanning forest in filtration order; leaves the
 * columns of dimension 1 (non-tree edges outside apparent pairs, in reduction
 * order) in E->cols. */
static nv_status ph_dim0(ph_engine *E, nv_error *err) {
    const ph_ctx *c = &E->c;
    const int64_t n = c->n;
    int64_t count = 0;
    ph_col *edges = NULL;
    int64_t *parent = NULL, *eldest = NULL, *bi = NULL;
    float *bd = NULL;
    uint8_t *keep = NULL;
    ph_map tree = {NULL, -1, 0};
    nv_status st = NV_OK;
    if (c->sparse) {
        count = c->row_ptr[n] / 2;
        edges = malloc((size_t)(count ? count : 1) * sizeof *edges);
        if (!edges) goto oom;
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t q = c->row_ptr[i]; q < c->row_ptr[i + 1] && c->col[q] < i; q++)
                if (c->val[q] <= c->threshold || E->keep_long_edges)
                    edges[k++] = (ph_col){i * (i - 1) / 2 + c->col[q], c->val[q]};
        count = k;
    } else {
        edges = malloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *edges);
        bd = malloc((size_t)n * sizeof *bd);
        bi = malloc((size_t)n * sizeof *bi);
        keep = malloc((size_t)n);
        if (!edges || !bd || !bi || !keep) goto oom;
        count = ph_prim(c, edges, bd, bi, keep);
        free(keep);
        keep = NULL;
    }
    /* reduction order is the reverse of the filtration: walk it backwards */
    ph_sort_cols(edges, count);
    parent = malloc((size_t)n * sizeof *parent);
    eldest = malloc((size_t)n * sizeof *eldest);
    keep = malloc((size_t)(count ? count : 1));
    if (!parent || !eldest || !keep) goto oom;
    for (int64_t i = 0; i < n; i++) parent[i] = eldest[i] = i;
    for (int64_t i = count; i-- > 0;) {
        int64_t w[2];
        ph_edge_vertices(edges[i].idx, w);
        int64_t a = ph_uf_find(parent, w[0]), b = ph_uf_find(parent, w[1]);
        keep[i] = 0;
        if (a != b) {
            /* elder rule: vertices enter in decreasing order (the tie-break), so the
             * component whose eldest vertex is smaller is the younger and dies */
            int64_t young = eldest[a] < eldest[b] ? a : b, old = young == a ? b : a;
            if (edges[i].diam != 0.0f)
                if (ph_pairs_add(&E->pairs, 0, 0.0f, edges[i].diam, eldest[young], edges[i].idx))
                    goto oom;
            parent[young] = old;
        } else {
            keep[i] = 1;
        }
    }
    for (int64_t i = 0; i < n; i++)
        if (ph_uf_find(parent, i) == i)
            if (ph_pairs_add(&E->pairs, 0, 0.0f, INFINITY, eldest[i], -1)) goto oom;
    if (c->max_dim >= 1 && E->use_stages) {
        /* the staged path: the edges that merged (keep[i] == 0) clear dimension 1 */
        int64_t k = 0;
        for (int64_t i = 0; i < count; i++)
            if (!keep[i]) edges[k++] = edges[i];
        int64_t *tree_idx = malloc((size_t)(k ? k : 1) * sizeof *tree_idx);
        if (!tree_idx) goto oom;
        for (int64_t i = 0; i < k; i++) tree_idx[i] = edges[i].idx;
        st = ph_stage_columns(E, 1, tree_idx, k, err);
        free(tree_idx);
    } else if (c->max_dim >= 1 && c->sparse) {
        ph_sparse_edge_job J = {E, edges, keep, count, 0};
        atomic_store(&J.next, 0);
        ph_pool_run(E->pool, ph_edge_apparent_task, &J);
        /* keep the columns, already in reduction order, in place */
        int64_t k = 0;
        for (int64_t i = 0; i < count; i++)
            if (keep[i]) edges[k++] = edges[i];
        E->cols = edges;
        E->ncols = k;
        edges = NULL;
    } else if (c->max_dim >= 1) {
        if (ph_map_init(&tree, count)) goto oom;
        for (int64_t i = 0; i < count; i++)
            if (ph_map_put(&tree, edges[i].idx, 0)) goto oom;
        free(edges);
        edges = NULL;
        ph_edge_job J = {E, &tree, 0};
        atomic_store(&J.next, 0);
        for (int t = 0; t < E->nthreads; t++) E->ws[t].olen = 0;
        ph_pool_run(E->pool, ph_edge_cols_task, &J);
        st = ph_gather_cols(E, 1, err);
    }
    goto done;
oom:
    st = nv_fail(err, NV_ENOMEM, "out of memory in dimension 0 (%lld edges)", (long long)count);
done:
    ph_map_free(&tree);
    free(edges);
    free(parent);
    free(eldest);
    free(keep);
    free(bd);
    free(bi);
    return st;
}

/* --- assembling the columns of dimension d >= 2 by a clique search ------------------ */

typedef struct {
    ph_engine *E;
    int d;
    atomic_llong next;
} ph_asm_job;

/* Whether the simplex with vertices v[0..d] (increasing) is in an apparent pair. */
static int ph_in_apparent_pair(const ph_ctx *c, int d, const int64_t *v, float diam) {
    int64_t idx = 0, w[PH_MAX_DIM + 2];
    ph_entry f;
    for (int i = 0; i <= d; i++) {
        idx += ph_C(c, v[i], i + 1);
        w[d - i] = v[i];
    }
    return (d >= 1 && ph_apparent_facet_w(c, w, idx, diam, d, &f)) || ph_has_apparent_cofacet_w(c, w, idx, diam, d);
}

static void ph_asm_emit(ph_engine *E, ph_ws *ws, int d, const int64_t *v, float diam) {
    const ph_ctx *c = &E->c;
    int64_t idx = 0, w[PH_MAX_DIM + 2];
    ph_entry f;
    for (int i = 0; i <= d; i++) {
        idx += ph_C(c, v[i], i + 1);
        w[d - i] = v[i];
    }
    if (ph_map_get(&E->map, idx) >= 0) return; /* clearing: paired one dimension down */
    if (ph_apparent_facet_w(c, w, idx, diam, d, &f)) return;
    if (ph_has_apparent_cofacet_w(c, w, idx, diam, d)) return;
    if (ws->olen == ws->ocap) {
        int64_t cap = ws->ocap ? 2 * ws->ocap : 4096;
        ph_col *a = realloc(ws->out, (size_t)cap * sizeof *a);
        if (!a) { ws->oom = 1; return; }
        ws->out = a;
        ws->ocap = cap;
    }
    ws->out[ws->olen++] = (ph_col){idx, diam};
}

/* Enumerates the simplices {v0 < v1 < ... < vd} with v0 = root and diameter <=
 * threshold. Level l holds the vertices u > v_l adjacent to v_0..v_l, each with its
 * largest distance to them; the simplex's diameter is the running maximum. */
static int64_t ph_clique_search(ph_engine *E, ph_ws *ws, int d, int64_t root, int emit) {
    const ph_ctx *c = &E->c;
    const int64_t n = c->n;
    int64_t v[PH_MAX_DIM + 2];
    float pd[PH_MAX_DIM + 2];  /* diameter of {v_0..v_l} */
    int64_t at[PH_MAX_DIM + 2];
    int64_t found = 0;
    int64_t *L0 = ws->lvl;
    float *D0 = ws->lvd;
    int64_t len = 0;
    v[0] = root;
    pd[0] = 0.0f;
    if (c->sparse) {
        for (int64_t q = c->row_ptr[root]; q < c->row_ptr[root + 1]; q++)
            if (c->col[q] > root && c->val[q] <= c->threshold) { L0[len] = c->col[q]; D0[len] = c->val[q]; len++; }
    } else {
        for (int64_t u = root + 1; u < n; u++) {
            float x = c->lower[u * (u - 1) / 2 + root];
            if (x <= c->threshold) { L0[len] = u; D0[len] = x; len++; }
        }
    }
    ws->lvn[0] = len;
    int l = 0; /* choosing v_{l+1} from level l */
    at[0] = 0;
    while (l >= 0) {
        int64_t *L = ws->lvl + (int64_t)l * n;
        float *D = ws->lvd + (int64_t)l * n;
        if (at[l] >= ws->lvn[l]) { l--; continue; }
        int64_t i = at[l]++;
        v[l + 1] = L[i];
        pd[l + 1] = pd[l] > D[i] ? pd[l] : D[i];
        if (l + 1 == d) {
            if (emit == 1) ph_asm_emit(E, ws, d, v, pd[l + 1]);
            else if (emit == 0) found++;
            else if (ws->est_seen++ % ws->est_stride == 0 && !ph_in_apparent_pair(&E->c, d, v, pd[l + 1]))
                found += ws->est_stride; /* a test of every stride-th simplex stands for all */
            continue;
        }
        /* next level: later vertices of this level adjacent to v_{l+1} */
        int64_t *L2 = ws->lvl + (int64_t)(l + 1) * n;
        float *D2 = ws->lvd + (int64_t)(l + 1) * n;
        int64_t len2 = 0, u1 = v[l + 1];
        if (c->sparse) {
            int64_t q = c->row_ptr[u1], qe = c->row_ptr[u1 + 1];
            for (int64_t k = i + 1; k < ws->lvn[l]; k++) {
                int64_t u = L[k];
                while (q < qe && c->col[q] < u) q++;
                if (q == qe) break;
                if (c->col[q] == u && c->val[q] <= c->threshold) {
                    L2[len2] = u;
                    D2[len2] = D[k] > c->val[q] ? D[k] : c->val[q];
                    len2++;
                }
            }
        } else {
            for (int64_t k = i + 1; k < ws->lvn[l]; k++) {
                int64_t u = L[k];
                float x = c->lower[u * (u - 1) / 2 + u1];
                if (x <= c->threshold) {
                    L2[len2] = u;
                    D2[len2] = D[k] > x ? D[k] : x;
                    len2++;
                }
            }
        }
        l++;
        ws->lvn[l] = len2;
        at[l] = 0;
    }
    return found;
}

static void ph_asm_task(void *arg, int tid) {
    ph_asm_job *J = arg;
    ph_engine *E = J->E;
    for (;;) {
        int64_t root = atomic_fetch_add(&J->next, 1);
        if (root >= E->c.n) break;
        ph_clique_search(E, &E->ws[tid], J->d, root, 1);
    }
}

/* Fills E->cols with the columns of dimension d, clearing against E->map (the
 * pivots of dimension d - 1), sorted into reduction order. */
static nv_status ph_assemble(ph_engine *E, int d, nv_error *err) {
    if (E->use_stages) { /* the pivots of dimension d - 1 clear */
        int64_t *keys = malloc((size_t)(E->map.count ? E->map.count : 1) * sizeof *keys), k = 0;
        if (!keys) return nv_fail(err, NV_ENOMEM, "out of memory assembling dimension %d", d);
        for (int64_t i = 0; E->map.s && i <= E->map.mask; i++)
            if (E->map.s[i].key >= 0) keys[k++] = E->map.s[i].key;
        nv_status st = ph_stage_columns(E, d, keys, k, err);
        free(keys);
        return st;
    }
    ph_asm_job J = {E, d, 0};
    atomic_store(&J.next, 0);
    for (int t = 0; t < E->nthreads; t++) E->ws[t].olen = 0;
    ph_pool_run(E->pool, ph_asm_task, &J);
    return ph_gather_cols(E, d, err);
}

/* Joins the threads' column buffers into E->cols, sorted into reduction order. */
static nv_status ph_gather_cols(ph_engine *E, int d, nv_error *err) {
    int64_t total = 0;
    for (int t = 0; t < E->nthreads; t++) {
        if (E->ws[t].oom) return nv_fail(err, NV_ENOMEM, "out of memory assembling dimension %d", d);
        total += E->ws[t].olen;
    }
    /* one thread: its buffer is the column array; several: concatenate */
    if (E->nthreads == 1) {
        E->cols = E->ws[0].out;
        E->ws[0].out = NULL;
        E->ws[0].ocap = 0;
    } else {
        E->cols = malloc((size_t)(total ? total : 1) * sizeof *E->cols);
        if (!E->cols) return nv_fail(err, NV_ENOMEM, "out of memory assembling dimension %d", d);
        int64_t k = 0;
        for (int t = 0; t < E->nthreads; t++) {
            if (E->ws[t].olen) memcpy(E->cols + k, E->ws[t].out, (size_t)E->ws[t].olen * sizeof *E->cols);
            k += E->ws[t].olen;
            free(E->ws[t].out);
            E->ws[t].out = NULL;
            E->ws[t].ocap = 0;
        }
    }
    E->ncols = total;
    ph_sort_cols(E->cols, total);
    return NV_OK;
}

/* --- the column stage of include/nerve/ph_stages.h ---------------------------------------- */

static int ph_cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Fills E->cols with the columns of dimension d from the chosen stage (the GPU's or
 * its CPU reference), cleared against cleared[0..ncleared) (sorted here): the same
 * columns as ph_assemble / ph_edge_cols_task, so the reduction that follows and its
 * pairs are the same. */
static nv_status ph_stage_columns(ph_engine *E, int d, int64_t *cleared, int64_t ncleared,
                                  nv_error *err) {
    qsort(cleared, (size_t)ncleared, sizeof *cleared, ph_cmp_i64);
    nv_ph_simplex *s = NULL;
    int64_t m = 0;
    nv_status st = E->stages.columns(E->stage_lower, E->c.n, E->c.threshold, d, cleared, ncleared,
                                     &s, &m, NULL, err);
    if (st) return st;
    E->cols = malloc((size_t)(m ? m : 1) * sizeof *E->cols);
    if (!E->cols) {
        free(s);
        return nv_fail(err, NV_ENOMEM, "out of memory for the columns of dimension %d", d);
    }
    for (int64_t i = 0; i < m; i++) E->cols[i] = (ph_col){s[i].idx, s[i].diam};
    free(s);
    E->ncols = m;
    /* in reduction order by contract: check in O(m), and sort only if it is not (a
     * full sort of 1e8 sorted columns would cost seconds the GPU just saved) */
    for (int64_t i = 1; i < m; i++)
        if (ph_col_first(&E->cols[i], &E->cols[i - 1])) {
            ph_sort_cols(E->cols, m);
            break;
        }
    return NV_OK;
}

/* --- setup ------------------------------------------------------------------------------ */

void nv_ph_params_defaults(nv_ph_params *p) {
    memset(p, 0, sizeof *p);
    p->max_dim = 1;
    p->threshold = INFINITY;
    p->ratio = 1.0f;
    p->modulus = 2;
    p->threads = 0;
    p->want_simplices = 0;
    p->memory_limit = 0;
}

static int ph_is_prime(uint32_t p) {
    if (p < 2) return 0;
    for (uint32_t q = 2; q * q <= p; q++)
        if (p % q == 0) return 0;
    return 1;
}

/* The smallest radius at which the complex is a cone: min over i of max over j. */
float nv_ph_enclosing_radius(const float *lower, int64_t n) {
    float best = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float r = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            float x = (i == j) ? 0.0f : (i > j ? lower[i * (i - 1) / 2 + j] : lower[j * (j - 1) / 2 + i]);
            if (x > r) r = x;
            if (r >= best) break;
        }
        if (r < best) best = r;
    }
    return best;
}

nv_status nv_ph__sparsify(const float *lower, int64_t n, float threshold, int64_t **row_ptr,
                          int64_t **col, float **val, nv_error *err) {
    int64_t *rp = calloc((size_t)n + 1, sizeof *rp);
    if (!rp) return nv_fail(err, NV_ENOMEM, "out of memory for the sparse matrix");
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            float x = lower[i * (i - 1) / 2 + j];
            if (x <= threshold && x < INFINITY) { rp[i + 1]++; rp[j + 1]++; }
        }
    for (int64_t i = 0; i < n; i++) rp[i + 1] += rp[i];
    int64_t nnz = rp[n];
    int64_t *cl = malloc((size_t)(nnz ? nnz : 1) * sizeof *cl);
    float *vl = malloc((size_t)(nnz ? nnz : 1) * sizeof *vl);
    int64_t *fill = malloc((size_t)(n ? n : 1) * sizeof *fill);
    if (!cl || !vl || !fill) {
        free(rp); free(cl); free(vl); free(fill);
        return nv_fail(err, NV_ENOMEM, "out of memory for the sparse matrix (%lld entries)",
                       (long long)nnz);
    }
    memcpy(fill, rp, (size_t)n * sizeof *fill);
    /* rows in increasing j: row i gets j < i first (from row i of lower), then j > i
     * (column i of later rows), so each list comes out sorted */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            float x = lower[i * (i - 1) / 2 + j];
            if (x <= threshold && x < INFINITY) {
                cl[fill[i]] = j; vl[fill[i]++] = x;
                cl[fill[j]] = i; vl[fill[j]++] = x;
            }
        }
    free(fill);
    *row_ptr = rp;
    *col = cl;
    *val = vl;
    return NV_OK;
}

static int ph_pair_cmp(const void *a, const void *b) {
    const nv_ph_pair *x = a, *y = b;
    if (x->dim != y->dim) return x->dim < y->dim ? -1 : 1;
    if (x->birth != y->birth) return x->birth < y->birth ? -1 : 1;
    if (x->death != y->death) return x->death < y->death ? -1 : 1;
    if (x->birth_simplex != y->birth_simplex) return x->birth_simplex < y->birth_simplex ? -1 : 1;
    return (x->death_simplex > y->death_simplex) - (x->death_simplex < y->death_simplex);
}

/* Validates the input: sizes, NaN, negative distances, sparse structure. */
static nv_status ph_check_input(const nv_ph_input *in, const nv_ph_params *p, nv_error *err) {
    if (!in || in->n < 1) return nv_fail(err, NV_EINPUT, "persistent homology needs at least 1 point");
    if (p->max_dim < 0 || p->max_dim > PH_MAX_DIM)
        return nv_fail(err, NV_EINPUT, "homology dimension %d: expected 0..%d", p->max_dim, PH_MAX_DIM);
    if (!ph_is_prime(p->modulus) || p->modulus > PH_MAX_MODULUS)
        return nv_fail(err, NV_EINPUT, "modulus %u: expected a prime <= %u", p->modulus, PH_MAX_MODULUS);
    if (!(p->ratio >= 1.0f)) return nv_fail(err, NV_EINPUT, "ratio %g: expected a number >= 1", p->ratio);
    if (isnan(p->threshold) || p->threshold < 0)
        return nv_fail(err, NV_EINPUT, "threshold %g: expected a number >= 0", p->threshold);
    if (in->kind == NV_PH_DENSE) {
        if (!in->lower && in->n > 1) return nv_fail(err, NV_EINPUT, "dense input without a distance matrix");
        for (int64_t i = 1; i < in->n; i++)
            for (int64_t j = 0; j < i; j++) {
                float x = in->lower[i * (i - 1) / 2 + j];
                if (isnan(x) || x < 0)
                    return nv_fail(err, NV_EINPUT, "distance (%lld, %lld) is %g: expected a number >= 0",
                                   (long long)i, (long long)j, x);
            }
    } else {
        if (!in->row_ptr || !in->col || !in->val) return nv_fail(err, NV_EINPUT, "sparse input without arrays");
        for (int64_t i = 0; i < in->n; i++) {
            if (in->row_ptr[i + 1] < in->row_ptr[i])
                return nv_fail(err, NV_EINPUT, "sparse input: row_ptr decreases at row %lld", (long long)i);
            for (int64_t q = in->row_ptr[i]; q < in->row_ptr[i + 1]; q++) {
                int64_t j = in->col[q];
                float x = in->val[q];
                if (j < 0 || j >= in->n || j == i)
                    return nv_fail(err, NV_EINPUT, "sparse input: row %lld has neighbour %lld (expected 0..%lld, not itself)",
                                   (long long)i, (long long)j, (long long)in->n - 1);
                if (isnan(x) || x < 0)
                    return nv_fail(err, NV_EINPUT, "sparse input: distance (%lld, %lld) is %g: expected a number >= 0",
                                   (long long)i, (long long)j, x);
                if (q > in->row_ptr[i] && in->col[q - 1] >= j)
                    return nv_fail(err, NV_EINPUT, "sparse input: neighbours of row %lld are not strictly increasing",
                                   (long long)i);
            }
        }
    }
    return NV_OK;
}

/* --- the memory estimate -------------------------------------------------------------- */

/* Estimates the columns of dimension d: the d-simplices (diameter <= threshold)
 * outside apparent pairs, which are the vast majority of the rest, counted from a
 * sample of root vertices (a simplex's smallest vertex) and scaled up. Exact when
 * every root is sampled; costs about 16/n of assembling the columns. */
#define PH_ESTIMATE_SAMPLES 16
#define PH_ESTIMATE_TESTS 20000.0
static double ph_estimate_columns(ph_engine *E, int d, int apparent) {
    const ph_ctx *c = &E->c;
    const int64_t n = c->n;
    const int64_t samples = NV_MIN(n, PH_ESTIMATE_SAMPLES);
    ph_ws *ws = &E->ws[0];
    int64_t found = 0;
    ws->est_stride = 1;
    if (apparent) {
        /* an apparent-pair test costs O(n): test about PH_ESTIMATE_TESTS sampled
         * simplices, evenly spread, so a refusal of a huge input stays quick */
        double all = ph_estimate_columns(E, d, 0) * (double)samples / (double)n;
        ws->est_stride = NV_MAX((int64_t)1, (int64_t)(all / PH_ESTIMATE_TESTS));
    }
    ws->est_seen = 0;
    for (int64_t s = 0; s < samples; s++) {
        int64_t root = (int64_t)(((double)s + 0.5) * (double)n / (double)samples);
        if (d >= 2) {
            found += ph_clique_search(E, ws, d, root, apparent ? 2 : 0);
            continue;
        }
        /* edges from the root to larger vertices */
        int64_t q = c->sparse ? c->row_ptr[root] : root + 1, qe = c->sparse ? c->row_ptr[root + 1] : n;
        for (; q < qe; q++) {
            int64_t u = c->sparse ? c->col[q] : q;
            float x = c->sparse ? c->val[q] : c->lower[u * (u - 1) / 2 + root];
            if (u <= root || !(x <= c->threshold)) continue;
            if (!apparent) {
                found++;
            } else if (ws->est_seen++ % ws->est_stride == 0) {
                int64_t v[2] = {root, u};
                if (!ph_in_apparent_pair(c, 1, v, x)) found += ws->est_stride;
            }
        }
    }
    return (double)found * (double)n / (double)samples;
}

typedef struct {
    double input, edges, columns[PH_MAX_DIM + 1];
    double workspace;  /* the threads' working space and a fixed reserve */
    double peak;       /* the larger of edges and every dimension's columns */
    int peak_dim;      /* the dimension whose columns are the peak; 0: the edges */
    double total;      /* input + peak + workspace */
} ph_estimate;

/* Bytes of what the engine stores: the input, the edges (sparse) or the spanning
 * tree (dense) of dimension 0, and per dimension the columns, the pivot map (kept
 * one dimension longer for clearing), the offsets and reduction columns of a few
 * entries each. Not included: the working coboundary of an exceptionally hard
 * column, which can reach hundreds of MiB (400 points on a 2-sphere in dimension 2).
 * apparent = 0 counts every simplex as a column: a quick upper bound. */
static void ph_estimate_engine(ph_engine *E, ph_estimate *est, int apparent) {
    const ph_ctx *c = &E->c;
    const double n = (double)c->n;
    memset(est, 0, sizeof *est);
    double nedges = c->sparse ? (double)c->row_ptr[c->n] / 2 : n - 1;
    est->input = c->sparse ? (double)c->row_ptr[c->n] * 12 + n * 8 : n * (n - 1) / 2 * 4;
    est->edges = nedges * (12 + 1) + n * 32;
    est->peak = est->edges;
    est->peak_dim = 0;
    double prev = n;
    for (int d = 1; d <= c->max_dim; d++) {
        double cols = ph_estimate_columns(E, d, apparent);
        double b = cols * 12 * (E->nthreads > 1 ? 2 : 1) + cols * 8 + cols * 16 * 4 + cols * 16 * 2;
        b += prev * 16 * 4; /* the pivots of the dimension below */
        est->columns[d] = b;
        if (b > est->peak) est->peak = b, est->peak_dim = d;
        prev = cols;
    }
    /* One dimension is held at a time (the edges, or one dimension's columns), next
     * to the input; so the total is the input, the largest of those, and the
     * threads' working space: three parts that add up. */
    est->workspace = (double)E->nthreads * ((double)(c->max_dim + 2) * n * 12 + 16 * n * 64) + 8e6;
    est->total = est->input + est->peak + est->workspace;
}

/* --- entry points ------------------------------------------------------------------- */

typedef struct {
    int64_t *row_ptr, *col;
    float *val;
} ph_owned;

static nv_status ph_engine_open(ph_engine *E, ph_owned *own, const nv_ph_input *in,
                                const nv_ph_params *p, nv_error *err) {
    memset(E, 0, sizeof *E);
    memset(own, 0, sizeof *own);
    nv_status st = ph_check_input(in, p, err);
    if (st) return st;
    ph_ctx *c = &E->c;
    c->n = in->n;
    c->max_dim = p->max_dim;
    c->p = p->modulus;
    E->ratio = p->ratio;
    E->want_simplices = p->want_simplices;
    E->keep_long_edges = p->keep_long_edges;
    E->nthreads = p->threads > 0 ? p->threads : nv_default_threads();
    if (E->nthreads > 256) E->nthreads = 256;
    if (in->kind == NV_PH_DENSE && isinf(p->threshold)) {
        c->sparse = 0;
        c->lower = in->lower;
        c->threshold = c->n > 1 ? nv_ph_enclosing_radius(in->lower, c->n) : 0.0f;
        /* an infinite entry is an absent edge (a disconnected kNN graph), never a
         * simplex: cut just below infinity */
        if (isinf(c->threshold)) c->threshold = 3.4028234663852886e38f;
    } else if (in->kind == NV_PH_DENSE) {
        /* Ripser's choice: with a threshold the complex is a graph */
        st = nv_ph__sparsify(in->lower, in->n, p->threshold, &own->row_ptr, &own->col, &own->val, err);
        if (st) return st;
        c->sparse = 1;
        c->row_ptr = own->row_ptr;
        c->col = own->col;
        c->val = own->val;
        c->threshold = p->threshold;
    } else {
        c->sparse = 1;
        c->threshold = p->threshold;
        if (isinf(p->threshold)) c->threshold = 3.4028234663852886e38f;
        /* drop edges above the threshold once, so enumeration never sees them */
        int64_t nnz = in->row_ptr[in->n], keep = 0;
        for (int64_t q = 0; q < nnz; q++) keep += p->keep_long_edges || in->val[q] <= c->threshold;
        if (keep == nnz - in->row_ptr[0]) {
            c->row_ptr = in->row_ptr;
            c->col = in->col;
            c->val = in->val;
        } else {
            own->row_ptr = malloc((size_t)(in->n + 1) * sizeof *own->row_ptr);
            own->col = malloc((size_t)(keep ? keep : 1) * sizeof *own->col);
            own->val = malloc((size_t)(keep ? keep : 1) * sizeof *own->val);
            if (!own->row_ptr || !own->col || !own->val)
                return nv_fail(err, NV_ENOMEM, "out of memory for the sparse matrix");
            int64_t k = 0;
            for (int64_t i = 0; i < in->n; i++) {
                own->row_ptr[i] = k;
                for (int64_t q = in->row_ptr[i]; q < in->row_ptr[i + 1]; q++)
                    if (p->keep_long_edges || in->val[q] <= c->threshold) { own->col[k] = in->col[q]; own->val[k++] = in->val[q]; }
            }
            own->row_ptr[in->n] = k;
            c->row_ptr = own->row_ptr;
            c->col = own->col;
            c->val = own->val;
        }
        /* a symmetric structure is what the enumeration relies on */
        for (int64_t i = 0; i < in->n; i++)
            for (int64_t q = c->row_ptr[i]; q < c->row_ptr[i + 1]; q++) {
                int64_t j = c->col[q];
                if (ph_dist_sparse(c, j, i) != c->val[q])
                    return nv_fail(err, NV_EINPUT,
                                   "sparse input: edge (%lld, %lld) has length %g but (%lld, %lld) has %g: expected a symmetric matrix",
                                   (long long)i, (long long)j, c->val[q], (long long)j, (long long)i,
                                   ph_dist_sparse(c, j, i));
            }
    }
    E->c.bstride = c->n + 1;
    st = phs_binomials(c->n, c->max_dim + 2, &c->binom, err);
    if (st) return st;
    c->inv = malloc((size_t)c->p * sizeof *c->inv);
    if (!c->inv) return nv_fail(err, NV_ENOMEM, "out of memory");
    /* inverses by Fermat: a^(p-2) */
    c->inv[0] = 0;
    for (uint32_t a = 1; a < c->p; a++) {
        uint64_t r = 1, b = a, e = c->p - 2;
        while (e) {
            if (e & 1) r = r * b % c->p;
            b = b * b % c->p;
            e >>= 1;
        }
        c->inv[a] = (uint32_t)r;
    }
    E->ws = calloc((size_t)E->nthreads, sizeof *E->ws);
    if (!E->ws) return nv_fail(err, NV_ENOMEM, "out of memory");
    E->nws = E->nthreads;
    int levels = c->max_dim + 2;
    for (int t = 0; t < E->nthreads; t++) {
        ph_ws *ws = &E->ws[t];
        ws->lvl = malloc((size_t)levels * (size_t)c->n * sizeof *ws->lvl);
        ws->lvd = malloc((size_t)levels * (size_t)c->n * sizeof *ws->lvd);
        ws->lvn = malloc((size_t)levels * sizeof *ws->lvn);
        if (!ws->lvl || !ws->lvd || !ws->lvn) return nv_fail(err, NV_ENOMEM, "out of memory");
    }
    E->map.mask = -1;
    return NV_OK;
}

static void ph_engine_close(ph_engine *E, ph_owned *own) {
    if (E->ws)
        for (int t = 0; t < E->nws; t++) {
            ph_ws *ws = &E->ws[t];
            ph_rq_free(&ws->cob);
            free(ws->red.a);
            free(ws->vbuf);
            free(ws->lvl);
            free(ws->lvd);
            free(ws->lvn);
            free(ws->out);
        }
    free(E->ws);
    free(E->c.binom);
    free(E->c.inv);
    free(E->cols);
    free(E->pairs.a);
    free(E->pend);
    free(E->aoff);
    free(E->arena);
    ph_map_free(&E->map);
    free(own->row_ptr);
    free(own->col);
    free(own->val);
}

size_t nv_ph_memory_estimate(const nv_ph_input *in, const nv_ph_params *p) {
    ph_engine E;
    ph_owned own;
    nv_ph_params q = *p;
    q.threads = 1; /* the sample search runs on one thread */
    ph_estimate est;
    if (ph_engine_open(&E, &own, in, &q, NULL)) {
        ph_engine_close(&E, &own);
        return 0;
    }
    E.nthreads = p->threads > 0 ? p->threads : nv_default_threads();
    ph_estimate_engine(&E, &est, 1);
    ph_engine_close(&E, &own);
    return est.total > 1.8e19 ? SIZE_MAX : (size_t)est.total;
}

/* Bytes for people: "512 B", "3.2 MiB", "41.0 GiB". */
static void ph_human(double b, char *out) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (b >= 1024 && u < 5) { b /= 1024; u++; }
    snprintf(out, 32, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

nv_status nv_ph_compute(const nv_ph_input *in, const nv_ph_params *p, nv_ph_result *out,
                        nv_error *err) {
    ph_engine E;
    ph_owned own;
    memset(out, 0, sizeof *out);
    nv_status st = ph_engine_open(&E, &own, in, p, err);
    if (st) goto done;
    if (p->memory_limit > 0) {
        ph_estimate est;
        ph_estimate_engine(&E, &est, 0); /* cheap; refine only when it is too much */
        if (est.total > (double)p->memory_limit) ph_estimate_engine(&E, &est, 1);
        if (est.total > (double)p->memory_limit) {
            char total[32], inb[32], peakb[32], workb[32], limit[32], what[48];
            ph_human(est.total, total);
            ph_human(est.input, inb);
            ph_human(est.peak, peakb);
            ph_human(est.workspace, workb);
            ph_human((double)p->memory_limit, limit);
            if (est.peak_dim) snprintf(what, sizeof what, "the columns of dimension %d", est.peak_dim);
            else snprintf(what, sizeof what, "the edges");
            /* a request the machine cannot serve is refused like bad input (exit 2) */
            st = nv_fail(err, NV_EINPUT,
                         "refusing to start: %lld points up to dimension %d need about %s = the "
                         "distances %s + %s %s + the working space of %d threads %s, above the "
                         "memory limit of %s; lower the threshold (--threshold), the dimension "
                         "(--dim), or the number of points (--landmarks), or raise --memory-limit",
                         (long long)in->n, p->max_dim, total, inb, what, peakb, E.nthreads, workb, limit);
            goto done;
        }
    }
    st = nv_ph_stages_select(in, p, &E.stages, &E.use_stages, err);
    if (st) goto done;
    E.stage_lower = in->lower;
    E.pool = calloc(1, sizeof *E.pool);
    if (!E.pool) {
        st = nv_fail(err, NV_ENOMEM, "out of memory");
        goto done;
    }
    ph_pool_start(E.pool, E.nthreads);
    E.nthreads = E.pool->nthreads; /* the threads we got */
    st = ph_dim0(&E, err);
    for (int d = 1; st == NV_OK && d <= E.c.max_dim; d++) {
        E.dim = d;
        if (d >= 2) {
            st = ph_assemble(&E, d, err); /* clears against the map of dimension d - 1 */
            if (st) break;
        }
        ph_map_free(&E.map);
        st = ph_reduce_dimension(&E, err);
        free(E.cols);
        E.cols = NULL;
    }
    ph_pool_stop(E.pool);
    free(E.pool);
    E.pool = NULL;
    if (st) goto done;
    qsort(E.pairs.a, (size_t)E.pairs.len, sizeof *E.pairs.a, ph_pair_cmp);
    if (!p->want_simplices)
        for (int64_t i = 0; i < E.pairs.len; i++) E.pairs.a[i].birth_simplex = E.pairs.a[i].death_simplex = -1;
    out->max_dim = p->max_dim;
    out->n = in->n;
    out->count = E.pairs.len;
    out->pairs = E.pairs.a;
    out->device = E.use_stages ? E.stages.device : NV_DEVICE_CPU;
    E.pairs.a = NULL;
done:
    ph_engine_close(&E, &own);
    return st;
}

void nv_ph_result_free(nv_ph_result *r) {
    if (!r) return;
    free(r->pairs);
    r->pairs = NULL;
    r->count = 0;
}

/* C(m, k) without a table, for callers outside a computation (output, tests). */
static int64_t ph_binom_slow(int64_t m, int k) {
    if (k < 0 || m < k) return 0;
    __int128 r = 1;
    for (int i = 1; i <= k; i++) r = r * (m - k + i) / i;
    return r > INT64_MAX ? INT64_MAX : (int64_t)r;
}

void nv_ph_simplex_vertices(int64_t index, int dim, int64_t n, int64_t *vertices) {
    int64_t top = n;
    for (int k = dim + 1; k >= 1; k--) {
        int64_t lo = k - 1, hi = top - 1; /* largest v < top with C(v,k) <= index */
        if (ph_binom_slow(hi, k) <= index) lo = hi;
        else
            while (hi - lo > 1) {
                int64_t mid = lo + (hi - lo) / 2;
                if (ph_binom_slow(mid, k) <= index) lo = mid;
                else hi = mid;
            }
        vertices[dim + 1 - k] = lo;
        index -= ph_binom_slow(lo, k);
        top = lo;
    }
}

int64_t nv_ph_betti_at(const nv_ph_result *r, int dim, float scale) {
    int64_t count = 0;
    for (int64_t i = 0; i < r->count; i++) {
        const nv_ph_pair *q = &r->pairs[i];
        if (q->dim == dim && q->birth <= scale && scale < q->death) count++;
    }
    return count;
}

/* --- many inputs in one call (nv_ph_compute_batch) ------------------------------------ */

typedef struct {
    const nv_ph_input *in;
    nv_ph_params p;          /* one thread, CPU */
    nv_ph_result *out;
    const int64_t *which;    /* the small inputs' positions */
} batch_job;

static nv_status batch_one(int64_t i, void *ctx, nv_error *err) {
    batch_job *J = ctx;
    int64_t k = J->which[i];
    nv_status st = nv_ph_compute(&J->in[k], &J->p, &J->out[k], err);
    if (st) nv_error_prefix(err, "input %lld of the batch: ", (long long)k);
    return st;
}

nv_status nv_ph_compute_batch(const nv_ph_input *in, int64_t count, const nv_ph_params *p,
                              nv_ph_result *out, nv_error *err) {
    nv_status st = NV_OK;
    if (count < 0 || (count > 0 && (!in || !out)))
        return nv_fail(err, NV_EINPUT, "ph batch: %lld inputs: expected count >= 0 and arrays",
                       (long long)count);
    memset(out, 0, (size_t)count * sizeof *out);
    int64_t *small = nv_malloc((size_t)(count ? count : 1) * sizeof *small, err);
    if (!small) return NV_ENOMEM;
    int64_t nsmall = 0;
    /* Large inputs (those the GPU stages would take; with no GPU, those of at least
     * the size rule) run one at a time with every thread; the rest in parallel. */
    int64_t min_points = p->gpu_min_points > 0 ? p->gpu_min_points : NV_PH_BATCH_LARGE_POINTS;
    for (int64_t k = 0; k < count && !st; k++) {
        int large = p->device == NV_DEVICE_CUDA || in[k].n >= min_points;
        if (!large) {
            small[nsmall++] = k;
            continue;
        }
        st = nv_ph_compute(&in[k], p, &out[k], err);
        if (st) nv_error_prefix(err, "input %lld of the batch: ", (long long)k);
    }
    if (!st && nsmall) {
        batch_job J = {in, *p, out, small};
        J.p.threads = 1;
        if (J.p.device == NV_DEVICE_AUTO) J.p.device = NV_DEVICE_CPU;
        int threads = p->threads > 0 ? p->threads : nv_default_threads();
        st = nv_parallel_for(nsmall, threads, batch_one, &J, err);
    }
    free(small);
    if (st)
        for (int64_t k = 0; k < count; k++) nv_ph_result_free(&out[k]);
    return st;
}
