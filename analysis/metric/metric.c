/* metric.c: the distance matrices persistent homology runs on (include/nerve/metric.h):
 * Euclidean (Ripser's arithmetic, to the bit), cosine, and the graph-geodesic
 * distances on a symmetrised k-nearest-neighbour graph (hop counts by BFS, edge-length
 * sums by Dijkstra) of Naitzat, Zhitnikov and Lim (JMLR 2020), with the optional
 * per-layer normalisation by the median k-th neighbour distance.
 *
 * Pipeline: `nerve ph --metric ... --landmarks ...` reads activations, picks landmarks
 * (landmarks.c), builds one of these matrices and hands it to the engine (ph*.c) as
 * NV_PH_DENSE input; calibrate.c reuses the kNN pieces across k.
 *
 * Memory is O(n^2) floats (the output) plus O(n k) for the graph; n is a few thousand
 * after landmarks. nv_distance_landmarks gives the landmarks' sub-matrix without the
 * n x n one (the kNN graph still spans all points) for large layers. Work is split
 * over rows between threads (nv_parallel_ranges); every entry is computed by exactly one thread with a
 * fixed arithmetic order, so the bytes do not depend on the thread count.
 */
#include "nerve/metric.h"
#include "nerve/device.h"
#include "nerve/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

static const char *const metric_names[] = {"euclidean", "cosine", "knn-hops", "knn-weighted"};

const char *nv_metric_name(nv_metric_kind k) {
    if ((int)k < 0 || (size_t)k >= NV_ARRAY_LEN(metric_names)) return "unknown";
    return metric_names[k];
}

int nv_metric_parse(const char *s) {
    if (!s) return -1;
    for (size_t i = 0; i < NV_ARRAY_LEN(metric_names); i++)
        if (strcmp(s, metric_names[i]) == 0) return (int)i;
    return -1;
}

/* ---------------------------------------------------------------- input checks */

nv_status nv_metric_check_points(const nv_real *x, int64_t n, int64_t d, const char *who,
                                 nv_error *err) {
    if (!x) return nv_fail(err, NV_EINPUT, "%s: points x is NULL", who);
    if (n < 1) return nv_fail(err, NV_EINPUT, "%s: expected at least 1 point, found n = %lld", who,
                              (long long)n);
    if (d < 1) return nv_fail(err, NV_EINPUT, "%s: expected dimension d >= 1, found d = %lld", who,
                              (long long)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < d; c++) {
            nv_real v = x[i * d + c];
            if (!isfinite(v))
                return nv_fail(err, NV_EINPUT,
                               "%s: point row %lld, column %lld is %s: expected finite coordinates "
                               "(a diverged layer?)",
                               who, (long long)i, (long long)c, isnan(v) ? "NaN" : "Inf");
        }
    return NV_OK;
}

static nv_status check_k(int k, int64_t n, const char *why, const char *who, nv_error *err) {
    if (k < 1 || (int64_t)k >= n)
        return nv_fail(err, NV_EINPUT,
                       "%s: k = %d neighbours (%s): expected 1 <= k < n = %lld (the number of points)",
                       who, k, why, (long long)n);
    return NV_OK;
}

static nv_status alloc_lower(int64_t n, float **lower, nv_error *err) {
    /* n*(n-1)/2 must not overflow int64_t before it is compared */
    if (n > 3037000499LL || (uint64_t)(n * (n - 1) / 2) > SIZE_MAX / sizeof(float))
        return nv_fail(err, NV_ENOMEM, "distance matrix of %lld points does not fit in memory; "
                                       "use landmarks", (long long)n);
    *lower = nv_malloc((size_t)(n * (n - 1) / 2) * sizeof(float), err);
    return *lower ? NV_OK : NV_ENOMEM;
}

/* ---------------------------------------------------------------- Euclidean */

/* Exactly Ripser 1.2.1's euclidean_distance_matrix::operator(): std::inner_product
 * with value_t() = 0.0f as the start, (u - v) * (u - v) in float, summed in float
 * left to right, then std::sqrt(float). Built without -ffast-math and (C11, ISO
 * mode) without FP contraction, the compiler may not reorder or fuse this. */
float nv_metric_euclid_pair(const nv_real *a, const nv_real *b, int64_t d) {
    float s = 0.0f;
    for (int64_t c = 0; c < d; c++) {
        float t = a[c] - b[c];
        s += t * t;
    }
    return sqrtf(s);
}

/* Cosine distance of rows i > j: the dot product in double in coordinate order,
 * times 1/|x_i| then 1/|x_j|; clamped, because rounding can push parallel vectors a
 * hair below 0 and a distance may not be negative. */
static inline float cosine_pair(const nv_real *xi, const nv_real *xj, int64_t d, double inv_i,
                                double inv_j) {
    double dot = 0.0;
    for (int64_t k = 0; k < d; k++) dot += (double)xi[k] * (double)xj[k];
    double v = 1.0 - dot * inv_i * inv_j;
    return (float)(v > 0.0 ? v : 0.0);
}

/* Where pairwise distances come from: a stored lower triangle, or points (Euclidean,
 * or cosine with inverse norms) computed on demand with exactly the arithmetic that
 * fills the stored triangle, row i > column j. Both give the same floats, which is
 * what lets nv_distance_landmarks skip the n x n matrix and still equal
 * nv_distance_restrict of it. */
typedef struct {
    const float *lower;       /* stored triangle, or NULL */
    const nv_real *x;         /* (n, d) points when lower is NULL */
    int64_t d;
    const double *inv_norm;   /* (n) 1/|x_i| for cosine; NULL for Euclidean */
} dist_src;

static inline float src_at(const dist_src *s, int64_t i, int64_t j) {
    if (i == j) return 0.0f;
    if (i < j) {
        int64_t t = i;
        i = j;
        j = t;
    }
    if (s->lower) return s->lower[i * (i - 1) / 2 + j];
    const nv_real *xi = s->x + i * s->d, *xj = s->x + j * s->d;
    if (s->inv_norm) return cosine_pair(xi, xj, s->d, s->inv_norm[i], s->inv_norm[j]);
    return nv_metric_euclid_pair(xi, xj, s->d);
}

typedef struct {
    dist_src src;
    float *lower;
} fill_ctx;

static void fill_rows(void *p, int tid, int64_t start, int64_t end) {
    fill_ctx *c = p;
    for (int64_t i = start; i < end; i++) {
        float *row = c->lower + i * (i - 1) / 2;
        for (int64_t j = 0; j < i; j++) row[j] = src_at(&c->src, i, j);
    }
}

/* The full lower triangle of a point source. */
static nv_status fill_lower(const dist_src *src, int64_t n, float **lower, nv_error *err) {
    nv_status st = alloc_lower(n, lower, err);
    if (st != NV_OK) return st;
    fill_ctx c = {*src, *lower};
    nv_parallel_ranges(n, nv_default_threads(), fill_rows, &c);
    return NV_OK;
}

nv_status nv_metric_euclidean_lower(const nv_real *x, int64_t n, int64_t d, float **lower,
                                    nv_error *err) {
    dist_src src = {NULL, x, d, NULL};
    return fill_lower(&src, n, lower, err);
}

/* ---------------------------------------------------------------- cosine */

/* 1/|x_i| for every row (malloc'd); a zero row is bad input, named. */
static nv_status inverse_norms(const nv_real *x, int64_t n, int64_t d, double **inv_out,
                               nv_error *err) {
    double *inv = nv_malloc((size_t)n * sizeof(double), err);
    if (!inv) return NV_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t k = 0; k < d; k++) s += (double)x[i * d + k] * (double)x[i * d + k];
        if (s == 0.0) {
            free(inv);
            return nv_fail(err, NV_EINPUT,
                           "nv_distance_matrix: cosine distance: point row %lld is the zero "
                           "vector, whose angle is undefined (dead units? use euclidean)",
                           (long long)i);
        }
        inv[i] = 1.0 / sqrt(s);
    }
    *inv_out = inv;
    return NV_OK;
}

/* ---------------------------------------------------------------- kNN graph */

/* Entry (i, j) of a compressed lower triangle, either order, 0 on the diagonal. */
static inline float lower_at(const float *lower, int64_t i, int64_t j) {
    dist_src s = {lower, NULL, 0, NULL};
    return src_at(&s, i, j);
}

/* (distance, index) ordered lexicographically: nearer first, ties to the lower
 * index, which is what makes the kNN sets well defined on duplicates and grids. */
static inline int nb_less(float da, int64_t ia, float db, int64_t ib) {
    return da < db || (da == db && ia < ib);
}

/* Max-heap of the k best candidates seen so far (root = the worst of them). */
static void heap_sift_down(float *hd, int64_t *hi, int k, int pos) {
    for (;;) {
        int l = 2 * pos + 1, r = l + 1, top = pos;
        if (l < k && nb_less(hd[top], hi[top], hd[l], hi[l])) top = l;
        if (r < k && nb_less(hd[top], hi[top], hd[r], hi[r])) top = r;
        if (top == pos) return;
        float td = hd[pos]; hd[pos] = hd[top]; hd[top] = td;
        int64_t ti = hi[pos]; hi[pos] = hi[top]; hi[top] = ti;
        pos = top;
    }
}

static void heap_sift_up(float *hd, int64_t *hi, int pos) {
    while (pos > 0) {
        int parent = (pos - 1) / 2;
        if (!nb_less(hd[parent], hi[parent], hd[pos], hi[pos])) return;
        float td = hd[pos]; hd[pos] = hd[parent]; hd[parent] = td;
        int64_t ti = hi[pos]; hi[pos] = hi[parent]; hi[parent] = ti;
        pos = parent;
    }
}

/* The k nearest of point i under `src`, sorted nearest first, into nb[0..k) and
 * their distances into nd[0..k). O(n log k). */
static void knn_of(const dist_src *src, int64_t n, int64_t i, int k, int64_t *nb, float *nd) {
    int size = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == i) continue;
        float dj = src_at(src, i, j);
        if (size < k) {
            nd[size] = dj;
            nb[size] = j;
            heap_sift_up(nd, nb, size);
            size++;
        } else if (nb_less(dj, j, nd[0], nb[0])) {
            nd[0] = dj;
            nb[0] = j;
            heap_sift_down(nd, nb, k, 0);
        }
    }
    /* Heap sort in place: pop the worst to the back. */
    for (int end = size - 1; end > 0; end--) {
        float td = nd[0]; nd[0] = nd[end]; nd[end] = td;
        int64_t ti = nb[0]; nb[0] = nb[end]; nb[end] = ti;
        heap_sift_down(nd, nb, end, 0);
    }
}

typedef struct {
    dist_src src;
    int64_t n;
    int k;
    int64_t *nb;   /* (n, k) */
    float *nd;     /* (n, k) */
} knn_ctx;

static void knn_rows(void *p, int tid, int64_t start, int64_t end) {
    knn_ctx *c = p;
    for (int64_t i = start; i < end; i++)
        knn_of(&c->src, c->n, i, c->k, c->nb + i * c->k, c->nd + i * c->k);
}

static nv_status knn_lists_src(const dist_src *src, int64_t n, int k, int64_t **nb, float **nd,
                               nv_error *err) {
    *nb = NULL;
    *nd = NULL;
    int64_t *b = nv_malloc((size_t)n * (size_t)k * sizeof(int64_t), err);
    float *dd = b ? nv_malloc((size_t)n * (size_t)k * sizeof(float), err) : NULL;
    if (!b || !dd) {
        free(b);
        return NV_ENOMEM;
    }
    knn_ctx c = {*src, n, k, b, dd};
    nv_parallel_ranges(n, nv_default_threads(), knn_rows, &c);
    *nb = b;
    *nd = dd;
    return NV_OK;
}

nv_status nv_metric_knn_lists(const float *lower, int64_t n, int k, int64_t **nb, float **nd,
                              nv_error *err) {
    dist_src src = {lower, NULL, 0, NULL};
    return knn_lists_src(&src, n, k, nb, nd, err);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void nv_knn_graph_free(nv_knn_graph *g) {
    if (!g) return;
    free(g->row_ptr);
    free(g->col);
    free(g->len);
    memset(g, 0, sizeof *g);
}

static nv_status knn_graph_src(const dist_src *src, int64_t n, int k, nv_knn_graph *g,
                               nv_error *err) {
    memset(g, 0, sizeof *g);
    int64_t *nb = NULL;
    float *nd = NULL;
    nv_status st = knn_lists_src(src, n, k, &nb, &nd, err);
    if (st != NV_OK) return st;
    int64_t *deg = nv_calloc((size_t)n + 1, sizeof(int64_t), err);
    int64_t *fill = NULL;
    if (!deg) {
        st = NV_ENOMEM;
        goto done;
    }
    /* Symmetrise: each directed kNN edge i->j contributes to both rows; duplicates
     * (j also lists i) are removed after sorting each row. */
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < k; a++) {
            deg[i + 1]++;
            deg[nb[i * k + a] + 1]++;
        }
    for (int64_t i = 0; i < n; i++) deg[i + 1] += deg[i];
    int64_t total = deg[n];
    int64_t *col = nv_malloc((size_t)total * sizeof(int64_t), err);
    fill = nv_malloc((size_t)n * sizeof(int64_t), err);
    if (!col || !fill) {
        free(col);
        st = NV_ENOMEM;
        goto done;
    }
    memcpy(fill, deg, (size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        for (int a = 0; a < k; a++) {
            int64_t j = nb[i * k + a];
            col[fill[i]++] = j;
            col[fill[j]++] = i;
        }
    /* Compact in place: sorted, unique neighbour lists. */
    int64_t out = 0;
    int64_t *row_ptr = deg; /* reused: row_ptr[i] is rewritten after row i-1 is read */
    int64_t prev_start = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t s = prev_start, e = row_ptr[i + 1];
        qsort(col + s, (size_t)(e - s), sizeof(int64_t), cmp_i64);
        row_ptr[i] = out;
        for (int64_t p = s; p < e; p++)
            if (p == s || col[p] != col[p - 1]) col[out++] = col[p];
        prev_start = e;
    }
    row_ptr[n] = out;
    float *len = nv_malloc((size_t)(out ? out : 1) * sizeof(float), err);
    if (!len) {
        free(col);
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = row_ptr[i]; p < row_ptr[i + 1]; p++) len[p] = src_at(src, i, col[p]);
    g->n = n;
    g->row_ptr = row_ptr;
    g->col = col;
    g->len = len;
    deg = NULL; /* owned by g now */
done:
    free(deg);
    free(fill);
    free(nb);
    free(nd);
    return st;
}

nv_status nv_metric_knn_graph(const float *lower, int64_t n, int k, nv_knn_graph *g,
                              nv_error *err) {
    dist_src src = {lower, NULL, 0, NULL};
    return knn_graph_src(&src, n, k, g, err);
}

/* ---------------------------------------------------------------- geodesics */

/* Per-thread scratch for one single-source search. */
typedef struct {
    double *dist;         /* (n) tentative distances (hops counted in double too) */
    unsigned char *done;  /* (n) settled (Dijkstra) or discovered (BFS) */
    int64_t *queue;       /* (n) BFS queue */
    int64_t *heap;        /* (n) Dijkstra binary heap of vertices, keyed by dist */
    int64_t *pos;         /* (n) vertex -> heap slot, -1 if not in the heap */
} geo_scratch;

static inline int heap_before(const double *dist, int64_t a, int64_t b) {
    return dist[a] < dist[b] || (dist[a] == dist[b] && a < b);
}

static void dheap_up(geo_scratch *s, int64_t slot) {
    int64_t v = s->heap[slot];
    while (slot > 0) {
        int64_t parent = (slot - 1) / 2;
        int64_t u = s->heap[parent];
        if (!heap_before(s->dist, v, u)) break;
        s->heap[slot] = u;
        s->pos[u] = slot;
        slot = parent;
    }
    s->heap[slot] = v;
    s->pos[v] = slot;
}

static void dheap_down(geo_scratch *s, int64_t size, int64_t slot) {
    int64_t v = s->heap[slot];
    for (;;) {
        int64_t l = 2 * slot + 1, r = l + 1, best = slot;
        int64_t bv = v;
        if (l < size && heap_before(s->dist, s->heap[l], bv)) { best = l; bv = s->heap[l]; }
        if (r < size && heap_before(s->dist, s->heap[r], bv)) { best = r; bv = s->heap[r]; }
        if (best == slot) break;
        s->heap[slot] = bv;
        s->pos[bv] = slot;
        slot = best;
    }
    s->heap[slot] = v;
    s->pos[v] = slot;
}

/* Graph distances from `src` into s->dist (INFINITY where unreached). The search
 * stops once `need` target vertices are final: targets are those with
 * target[v] != 0, or, when target is NULL, the vertices v < src (one row of the
 * lower triangle). Stopping early never changes a final value: BFS fixes a hop
 * count on discovery, Dijkstra a distance when the vertex is settled; so a row
 * computed with any stopping rule has the same floats. */
static void geodesic_search(const nv_knn_graph *g, int weighted, int64_t src,
                            const unsigned char *target, int64_t need, geo_scratch *s) {
    int64_t n = g->n;
#define IS_TARGET(v) (target ? target[v] != 0 : (v) < src)
    for (int64_t v = 0; v < n; v++) {
        s->dist[v] = INFINITY;
        s->done[v] = 0;
    }
    s->dist[src] = 0.0;
    if (!weighted) {
        /* BFS: hop counts; the order of discovery does not change a hop count. */
        int64_t head = 0, tail = 0;
        s->queue[tail++] = src;
        s->done[src] = 1;
        if (IS_TARGET(src)) need--;
        while (head < tail && need > 0) {
            int64_t u = s->queue[head++];
            for (int64_t p = g->row_ptr[u]; p < g->row_ptr[u + 1]; p++) {
                int64_t v = g->col[p];
                if (s->done[v]) continue;
                s->done[v] = 1;
                s->dist[v] = s->dist[u] + 1.0;
                if (IS_TARGET(v)) need--;
                s->queue[tail++] = v;
            }
        }
    } else {
        /* Dijkstra. A vertex's final value is the minimum over paths of the
         * left-to-right double sum of its edge lengths (fl(a + w) is monotone in a),
         * so it does not depend on heap tie-breaking or on the source's thread. */
        for (int64_t v = 0; v < n; v++) s->pos[v] = -1;
        s->heap[0] = src;
        s->pos[src] = 0;
        int64_t size = 1;
        while (size > 0 && need > 0) {
            int64_t u = s->heap[0];
            size--;
            s->pos[u] = -1;
            if (size > 0) {
                s->heap[0] = s->heap[size];
                dheap_down(s, size, 0);
            }
            s->done[u] = 1;
            if (IS_TARGET(u)) need--;
            double du = s->dist[u];
            for (int64_t p = g->row_ptr[u]; p < g->row_ptr[u + 1]; p++) {
                int64_t v = g->col[p];
                if (s->done[v]) continue;
                double nd = du + (double)g->len[p];
                if (nd < s->dist[v]) {
                    s->dist[v] = nd;
                    if (s->pos[v] < 0) {
                        s->heap[size] = v;
                        s->pos[v] = size;
                        size++;
                    }
                    dheap_up(s, s->pos[v]);
                }
            }
        }
    }
#undef IS_TARGET
}

static void scratch_free(geo_scratch *s, int threads) {
    for (int t = 0; t < threads; t++) {
        free(s[t].dist);
        free(s[t].done);
        free(s[t].queue);
        free(s[t].heap);
        free(s[t].pos);
    }
}

static nv_status scratch_alloc(geo_scratch *s, int threads, int64_t n, nv_error *err) {
    memset(s, 0, (size_t)threads * sizeof *s);
    for (int t = 0; t < threads; t++) {
        s[t].dist = nv_malloc((size_t)n * sizeof(double), err);
        s[t].done = nv_malloc((size_t)n, err);
        s[t].queue = nv_malloc((size_t)n * sizeof(int64_t), err);
        s[t].heap = nv_malloc((size_t)n * sizeof(int64_t), err);
        s[t].pos = nv_malloc((size_t)n * sizeof(int64_t), err);
        if (!s[t].dist || !s[t].done || !s[t].queue || !s[t].heap || !s[t].pos) {
            scratch_free(s, threads);
            return NV_ENOMEM;
        }
    }
    return NV_OK;
}

static int geo_threads(void) {
    int t = NV_MIN(nv_default_threads(), NV_PARALLEL_MAX_THREADS);
    return t < 1 ? 1 : t;
}

typedef struct {
    const nv_knn_graph *g;
    int weighted;
    float *lower;
    geo_scratch *scratch;   /* one per thread */
} geo_ctx;

static void geo_rows(void *p, int tid, int64_t start, int64_t end) {
    geo_ctx *c = p;
    for (int64_t i = start; i < end; i++) {
        if (i == 0) continue; /* row 0 of a lower triangle is empty */
        geo_scratch *s = &c->scratch[tid];
        geodesic_search(c->g, c->weighted, i, NULL, i, s);
        float *row = c->lower + i * (i - 1) / 2;
        for (int64_t j = 0; j < i; j++) row[j] = (float)s->dist[j]; /* INFINITY: unreachable */
    }
}

nv_status nv_metric_geodesic_lower(const nv_knn_graph *g, int weighted, float **lower,
                                   nv_error *err) {
    *lower = NULL;
    int threads = geo_threads();
    geo_scratch s[NV_PARALLEL_MAX_THREADS];
    nv_status st = scratch_alloc(s, threads, g->n, err);
    if (st != NV_OK) return st;
    float *out = NULL;
    st = alloc_lower(g->n, &out, err);
    if (st == NV_OK) {
        geo_ctx c = {g, weighted, out, s};
        nv_parallel_ranges(g->n, threads, geo_rows, &c);
        *lower = out;
    }
    scratch_free(s, threads);
    return st;
}

/* ---------------------------------------------------------------- normalisation */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static nv_status median_kth_src(const dist_src *src, int64_t n, int k, double *median,
                                nv_error *err) {
    int64_t *nb = NULL;
    float *nd = NULL;
    nv_status st = knn_lists_src(src, n, k, &nb, &nd, err);
    if (st != NV_OK) return st;
    double *kth = nv_malloc((size_t)n * sizeof(double), err);
    if (!kth) {
        free(nb);
        free(nd);
        return NV_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) kth[i] = (double)nd[i * k + (k - 1)];
    qsort(kth, (size_t)n, sizeof(double), cmp_double);
    *median = (n % 2) ? kth[n / 2] : 0.5 * (kth[n / 2 - 1] + kth[n / 2]);
    free(kth);
    free(nb);
    free(nd);
    return NV_OK;
}

nv_status nv_median_kth_neighbor(const float *lower, int64_t n, int k, double *median,
                                 nv_error *err) {
    if (!median) return nv_fail(err, NV_EINPUT, "nv_median_kth_neighbor: output is NULL");
    if (!lower && n > 1) return nv_fail(err, NV_EINPUT, "nv_median_kth_neighbor: lower is NULL");
    if (k < 1 || (int64_t)k >= n)
        return nv_fail(err, NV_EINPUT,
                       "nv_median_kth_neighbor: k = %d: expected 1 <= k < n = %lld", k,
                       (long long)n);
    dist_src src = {lower, NULL, 0, NULL};
    return median_kth_src(&src, n, k, median, err);
}

/* The divisor of spec.normalize for base distances `src`, refused when it is 0. */
static nv_status normaliser(const dist_src *src, int64_t n, int k, double *med, nv_error *err) {
    nv_status st = median_kth_src(src, n, k, med, err);
    if (st != NV_OK) return st;
    if (!(*med > 0.0) || !isfinite(*med))
        return nv_fail(err, NV_EINPUT,
                       "nv_distance_matrix: normalisation: the median distance to the k = %d-th "
                       "neighbour is %g; expected > 0 (more than k copies of most points? use a "
                       "larger k or no normalisation)",
                       k, *med);
    return NV_OK;
}

static void divide_by(float *v, int64_t m, double med) {
    for (int64_t e = 0; e < m; e++) v[e] = (float)((double)v[e] / med);
}

/* ---------------------------------------------------------------- entry points */

static nv_status check_spec(const nv_metric_spec *m, int64_t n, int from_matrix, const char *who,
                            nv_error *err) {
    if (!m) return nv_fail(err, NV_EINPUT, "%s: metric spec is NULL", who);
    if ((int)m->kind < 0 || (int)m->kind > (int)NV_METRIC_KNN_WEIGHTED)
        return nv_fail(err, NV_EINPUT, "%s: metric kind %d: expected one of euclidean, cosine, "
                                       "knn-hops, knn-weighted", who, (int)m->kind);
    if (from_matrix && m->kind == NV_METRIC_COSINE)
        return nv_fail(err, NV_EINPUT, "%s: the cosine metric needs point coordinates, not a "
                                       "distance matrix", who);
    if (m->normalize && m->kind == NV_METRIC_KNN_HOPS)
        return nv_fail(err, NV_EINPUT,
                       "%s: metric knn-hops with normalisation: hop counts have no length scale "
                       "to normalise; use knn-weighted or drop the normalisation", who);
    if (m->kind == NV_METRIC_KNN_HOPS || m->kind == NV_METRIC_KNN_WEIGHTED)
        return check_k(m->k, n, "kNN graph", who, err);
    if (m->normalize) return check_k(m->k, n, "normalisation", who, err);
    return NV_OK;
}

static int is_knn(nv_metric_kind k) { return k == NV_METRIC_KNN_HOPS || k == NV_METRIC_KNN_WEIGHTED; }

/* The requested metric on all n points from base distances `src` (points or a
 * stored triangle), into *lower. */
static nv_status metric_from_src(const dist_src *src, int64_t n, const nv_metric_spec *m,
                                 float **lower, nv_error *err) {
    nv_status st;
    float *out = NULL;
    if (!is_knn(m->kind)) {
        st = fill_lower(src, n, &out, err);
    } else {
        nv_knn_graph g;
        st = knn_graph_src(src, n, m->k, &g, err);
        if (st == NV_OK)
            st = nv_metric_geodesic(&g, m->kind == NV_METRIC_KNN_WEIGHTED, m->device, &out, NULL, err);
        nv_knn_graph_free(&g);
    }
    if (st == NV_OK && m->normalize) {
        double med = 0.0;
        st = normaliser(src, n, m->k, &med, err);
        if (st == NV_OK) divide_by(out, n * (n - 1) / 2, med);
    }
    if (st != NV_OK) {
        free(out);
        return st;
    }
    *lower = out;
    return NV_OK;
}

nv_status nv_distance_matrix(const nv_real *x, int64_t n, int64_t d, const nv_metric_spec *m,
                             float **lower, nv_error *err) {
    if (!lower) return nv_fail(err, NV_EINPUT, "nv_distance_matrix: output pointer is NULL");
    *lower = NULL;
    nv_status st = nv_metric_check_points(x, n, d, "nv_distance_matrix", err);
    if (st != NV_OK) return st;
    st = check_spec(m, n, 0, "nv_distance_matrix", err);
    if (st != NV_OK) return st;
    dist_src src = {NULL, x, d, NULL};
    double *inv = NULL;
    if (m->kind == NV_METRIC_COSINE) {
        st = inverse_norms(x, n, d, &inv, err);
        if (st != NV_OK) return st;
        src.inv_norm = inv;
    }
    if (is_knn(m->kind) || m->normalize) {
        /* The kNN search and the median read every pair: fill the base triangle
         * once rather than computing each pair twice on demand. */
        float *base = NULL;
        st = fill_lower(&src, n, &base, err);
        if (st == NV_OK) {
            dist_src stored = {base, NULL, 0, NULL};
            st = metric_from_src(&stored, n, m, lower, err);
        }
        free(base);
    } else {
        st = metric_from_src(&src, n, m, lower, err);
    }
    free(inv);
    return st;
}

nv_status nv_distance_from_matrix(const float *given, int64_t n, const nv_metric_spec *m,
                                  float **lower, nv_error *err) {
    if (!lower) return nv_fail(err, NV_EINPUT, "nv_distance_from_matrix: output pointer is NULL");
    *lower = NULL;
    if (n < 1) return nv_fail(err, NV_EINPUT, "nv_distance_from_matrix: expected at least 1 point, "
                                              "found n = %lld", (long long)n);
    if (!given && n > 1) return nv_fail(err, NV_EINPUT, "nv_distance_from_matrix: matrix is NULL");
    nv_status st = check_spec(m, n, 1, "nv_distance_from_matrix", err);
    if (st != NV_OK) return st;
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            float v = given[i * (i - 1) / 2 + j];
            if (!(v >= 0.0f) || !isfinite(v))
                return nv_fail(err, NV_EINPUT,
                               "nv_distance_from_matrix: entry (%lld, %lld) is %g: expected a "
                               "finite distance >= 0", (long long)i, (long long)j, (double)v);
        }
    dist_src src = {given, NULL, 0, NULL};
    return metric_from_src(&src, n, m, lower, err);
}

static nv_status check_idx(const int64_t *idx, int64_t count, int64_t n, const char *who,
                           nv_error *err) {
    if (count < 0) return nv_fail(err, NV_EINPUT, "%s: count = %lld: expected >= 0", who, (long long)count);
    if (count > 0 && !idx) return nv_fail(err, NV_EINPUT, "%s: idx is NULL", who);
    for (int64_t a = 0; a < count; a++)
        if (idx[a] < 0 || idx[a] >= n)
            return nv_fail(err, NV_EINPUT, "%s: idx[%lld] = %lld: expected a vertex in [0, %lld)",
                           who, (long long)a, (long long)idx[a], (long long)n);
    return NV_OK;
}

nv_status nv_distance_restrict(const float *lower, int64_t n, const int64_t *idx, int64_t count,
                               float **sub, nv_error *err) {
    if (!sub) return nv_fail(err, NV_EINPUT, "nv_distance_restrict: output pointer is NULL");
    *sub = NULL;
    if (n < 0) return nv_fail(err, NV_EINPUT, "nv_distance_restrict: n = %lld: expected >= 0",
                              (long long)n);
    if (n > 1 && !lower) return nv_fail(err, NV_EINPUT, "nv_distance_restrict: matrix is NULL");
    nv_status st = check_idx(idx, count, n, "nv_distance_restrict", err);
    if (st != NV_OK) return st;
    float *out = NULL;
    st = alloc_lower(count, &out, err);
    if (st != NV_OK) return st;
    for (int64_t a = 1; a < count; a++)
        for (int64_t b = 0; b < a; b++) out[a * (a - 1) / 2 + b] = lower_at(lower, idx[a], idx[b]);
    *sub = out;
    return NV_OK;
}

/* Geodesics from each landmark to every landmark: rows[a * count + b]. */
typedef struct {
    const nv_knn_graph *g;
    int weighted;
    const int64_t *idx;
    int64_t count;
    const unsigned char *target;  /* (n) 1 on landmark vertices */
    int64_t ntarget;              /* distinct landmark vertices */
    float *rows;                  /* (count, count) */
    geo_scratch *scratch;
} lgeo_ctx;

static void lgeo_rows(void *p, int tid, int64_t start, int64_t end) {
    lgeo_ctx *c = p;
    geo_scratch *s = &c->scratch[tid];
    for (int64_t a = start; a < end; a++) {
        geodesic_search(c->g, c->weighted, c->idx[a], c->target, c->ntarget, s);
        for (int64_t b = 0; b < c->count; b++) c->rows[a * c->count + b] = (float)s->dist[c->idx[b]];
    }
}

nv_status nv_distance_landmarks(const nv_real *x, int64_t n, int64_t d, const nv_metric_spec *m,
                                const int64_t *idx, int64_t count, float **sub, nv_error *err) {
    const char *who = "nv_distance_landmarks";
    if (!sub) return nv_fail(err, NV_EINPUT, "%s: output pointer is NULL", who);
    *sub = NULL;
    nv_status st = nv_metric_check_points(x, n, d, who, err);
    if (st != NV_OK) return st;
    st = check_spec(m, n, 0, who, err);
    if (st != NV_OK) return st;
    st = check_idx(idx, count, n, who, err);
    if (st != NV_OK) return st;
    dist_src src = {NULL, x, d, NULL};
    double *inv = NULL;
    float *out = NULL, *rows = NULL;
    unsigned char *target = NULL;
    nv_knn_graph g;
    memset(&g, 0, sizeof g);
    int threads = geo_threads();
    geo_scratch s[NV_PARALLEL_MAX_THREADS];
    int have_scratch = 0;
    if (m->kind == NV_METRIC_COSINE) {
        st = inverse_norms(x, n, d, &inv, err);
        if (st != NV_OK) goto done;
        src.inv_norm = inv;
    }
    st = alloc_lower(count, &out, err);
    if (st != NV_OK) goto done;
    if (!is_knn(m->kind)) {
        /* Pairs straight from the points, in the canonical (larger row first) order. */
        for (int64_t a = 1; a < count; a++)
            for (int64_t b = 0; b < a; b++) out[a * (a - 1) / 2 + b] = src_at(&src, idx[a], idx[b]);
    } else {
        st = knn_graph_src(&src, n, m->k, &g, err);
        if (st != NV_OK) goto done;
        target = nv_calloc((size_t)n, 1, err);
        rows = target ? nv_malloc((size_t)count * (size_t)count * sizeof(float) + 1, err) : NULL;
        if (!target || !rows) {
            st = NV_ENOMEM;
            goto done;
        }
        int64_t ntarget = 0;
        for (int64_t a = 0; a < count; a++)
            if (!target[idx[a]]) {
                target[idx[a]] = 1;
                ntarget++;
            }
        st = scratch_alloc(s, threads, n, err);
        if (st != NV_OK) goto done;
        have_scratch = 1;
        lgeo_ctx c = {&g, m->kind == NV_METRIC_KNN_WEIGHTED, idx, count, target, ntarget, rows, s};
        nv_parallel_ranges(count, threads, lgeo_rows, &c);
        /* The full matrix takes entry (i, j), i > j, from the search out of i: take
         * the same one, so the floats equal nv_distance_restrict of it. */
        for (int64_t a = 1; a < count; a++)
            for (int64_t b = 0; b < a; b++) {
                float v;
                if (idx[a] == idx[b]) v = 0.0f;
                else if (idx[a] > idx[b]) v = rows[a * count + b];
                else v = rows[b * count + a];
                out[a * (a - 1) / 2 + b] = v;
            }
    }
    if (m->normalize) {
        double med = 0.0;
        st = normaliser(&src, n, m->k, &med, err);
        if (st != NV_OK) goto done;
        divide_by(out, count * (count - 1) / 2, med);
    }
    *sub = out;
    out = NULL;
done:
    if (have_scratch) scratch_free(s, threads);
    nv_knn_graph_free(&g);
    free(target);
    free(rows);
    free(out);
    free(inv);
    return st;
}

/* ---- the distances on either device (metric.h) -------------------------------------------- */

nv_status nv_metric_distances_check(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                                const float *lower, nv_error *err) {
    if (n < 1 || d < 1 || !x || (!lower && n > 1))
        return nv_fail(err, NV_EINPUT, "distances: %lld points of dimension %lld: expected "
                                       "n >= 1, d >= 1 and arrays", (long long)n, (long long)d);
    if (kind != NV_METRIC_EUCLIDEAN && kind != NV_METRIC_COSINE)
        return nv_fail(err, NV_EINPUT, "distances: metric '%s': expected euclidean or cosine "
                                       "(the graph metrics run on the CPU)", nv_metric_name(kind));
    return NV_OK;
}

nv_status nv_metric_distances_cpu(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                              float *lower, nv_error *err) {
    nv_status st = nv_metric_distances_check(x, n, d, kind, lower, err);
    if (st) return st;
    /* the reference is metric.c's own arithmetic, not a second copy of it */
    nv_metric_spec spec = {.kind = kind};
    float *m = NULL;
    if ((st = nv_distance_matrix(x, n, d, &spec, &m, err))) return st;
    memcpy(lower, m, (size_t)(n * (n - 1) / 2) * sizeof *lower);
    free(m);
    return NV_OK;
}


nv_status nv_metric_geodesic_relax_cpu(const nv_knn_graph *g, int weighted, float *lower,
                                   nv_error *err) {
    const int64_t n = g->n;
    if (n < 2) return NV_OK;
    double *dist = nv_malloc((size_t)n * sizeof *dist, err);
    if (!dist) return NV_ENOMEM;
    for (int64_t src = 1; src < n; src++) {
        for (int64_t v = 0; v < n; v++) dist[v] = INFINITY;
        dist[src] = 0.0;
        for (int changed = 1; changed;) {
            changed = 0;
            for (int64_t v = 0; v < n; v++) {
                double best = dist[v];
                for (int64_t p = g->row_ptr[v]; p < g->row_ptr[v + 1]; p++) {
                    /* len[p] is the length of (v, u) read from the symmetric matrix:
                     * the same float as (u, v) in u's row, which Dijkstra adds */
                    double c = dist[g->col[p]] + (weighted ? (double)g->len[p] : 1.0);
                    if (c < best) best = c;
                }
                if (best < dist[v]) dist[v] = best, changed = 1;
            }
        }
        float *row = lower + src * (src - 1) / 2;
        for (int64_t j = 0; j < src; j++) row[j] = (float)dist[j];
    }
    free(dist);
    return NV_OK;
}

/* The lower triangle of n points that a GPU form fills (one float for n < 2, so the
 * pointer is never NULL). */
static float *lower_new(int64_t n, nv_error *err) {
    return nv_malloc((size_t)(n > 1 ? n * (n - 1) / 2 : 1) * sizeof(float), err);
}

typedef nv_status (*distances_fn)(const nv_real *, int64_t, int64_t, nv_metric_kind, float *,
                                  nv_error *);
typedef nv_status (*geodesic_fn)(const nv_knn_graph *, int, float *, nv_error *);

nv_status nv_metric_distances(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                              nv_device_kind want, float **lower, nv_device_kind *used,
                              nv_error *err) {
    *lower = NULL;
    if (used) *used = NV_DEVICE_CPU;
    nv_status st = nv_metric_check_points(x, n, d, "distances", err);
    if (st) return st;
    if (n > 3037000499LL)
        return nv_fail(err, NV_ENOMEM, "distances: %lld points: the matrix does not fit in "
                                       "memory; use landmarks", (long long)n);
    if (kind != NV_METRIC_EUCLIDEAN && kind != NV_METRIC_COSINE)
        return nv_fail(err, NV_EINPUT, "distances: metric '%s': expected euclidean or cosine "
                                       "(the graph metrics take nv_distance_matrix)", nv_metric_name(kind));
    void *gpu = NULL;
    st = nv_device_select(want, "distances", "nv_metric_distances_cuda", 1, &gpu, NULL, err);
    if (st) return st;
    if (!gpu) {
        /* the CPU: the threaded rows of nv_distance_matrix (what nv_metric_distances_cpu
         * also returns, the reference the GPU is tested against) */
        nv_metric_spec spec = {.kind = kind};
        return nv_distance_matrix(x, n, d, &spec, lower, err);
    }
    float *out = lower_new(n, err);
    if (!out) return NV_ENOMEM;
    nv_device_lock();
    st = ((distances_fn)gpu)(x, n, d, kind, out, err);
    nv_device_unlock();
    if (st) {
        free(out);
        return st;
    }
    *lower = out;
    if (used) *used = NV_DEVICE_CUDA;
    return NV_OK;
}

nv_status nv_metric_geodesic(const nv_knn_graph *g, int weighted, nv_device_kind want,
                             float **lower, nv_device_kind *used, nv_error *err) {
    *lower = NULL;
    if (used) *used = NV_DEVICE_CPU;
    /* AUTO: the CPU, until the GPU form has run and been measured on a GPU */
    void *gpu = NULL;
    nv_status st = nv_device_select(want, "graph distances", "nv_metric_geodesic_cuda", 0, &gpu,
                                    NULL, err);
    if (st) return st;
    if (!gpu) return nv_metric_geodesic_lower(g, weighted, lower, err);
    float *out = lower_new(g->n, err);
    if (!out) return NV_ENOMEM;
    nv_device_lock();
    st = ((geodesic_fn)gpu)(g, weighted, out, err);
    nv_device_unlock();
    if (st) {
        free(out);
        return st;
    }
    *lower = out;
    if (used) *used = NV_DEVICE_CUDA;
    return NV_OK;
}
