/* neighbors.c: neighbour ranks and the minimum spanning tree of a point cloud
 * straight from its coordinates (metric.h), for readings that depend on the order
 * of distances only: the labelled kNN filtration (labelled.h) and the
 * Friedman-Rafsky cross-label share of the minimum spanning tree.
 *
 * Why not the kNN lists of metric.c: those compare Ripser's float distances,
 * which is what the barcodes need, but float rounding of the square root and of
 * the sum makes near ties break differently when a layer is rescaled. Here squared
 * distances are accumulated in double from the float coordinates and never rooted;
 * multiplying every coordinate by c > 0 multiplies every squared distance by c^2,
 * so the ranks, and everything computed from them, stay the same up to the float
 * rounding of the scaled coordinates themselves (exactly the same for c a power of
 * two).
 *
 * Work is O(n^2 d) time and O(n k) memory: no n x n matrix.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/metric.h"
#include "nerve/parallel.h"

/* Squared Euclidean distance in double, coordinates in order. */
static inline double sqdist(const nv_real *a, const nv_real *b, int64_t d) {
    double s = 0.0;
    for (int64_t k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

/* (squared distance, index): nearer first, ties to the lower index. */
static inline int closer(double da, int64_t ia, double db, int64_t ib) {
    return da < db || (da == db && ia < ib);
}

typedef struct {
    const nv_real *x;
    int64_t n, d;
    int k;
    int64_t *nb;  /* (n, k) */
} knn_job;

/* Row i: a sorted insertion list of the k best candidates (k is small, ~20). */
static void knn_rows(void *p, int tid, int64_t start, int64_t end) {
    (void)tid;
    knn_job *c = p;
    const int k = c->k;
    double *bd = malloc((size_t)k * sizeof *bd);
    int64_t *bi = malloc((size_t)k * sizeof *bi);
    if (!bd || !bi) {
        /* out of memory in a worker: mark the rows so the caller notices */
        for (int64_t i = start; i < end; i++) c->nb[i * k] = -1;
        free(bd);
        free(bi);
        return;
    }
    for (int64_t i = start; i < end; i++) {
        const nv_real *xi = c->x + i * c->d;
        int size = 0;
        for (int64_t j = 0; j < c->n; j++) {
            if (j == i) continue;
            double dj = sqdist(xi, c->x + j * c->d, c->d);
            if (size == k && !closer(dj, j, bd[k - 1], bi[k - 1])) continue;
            int pos = size < k ? size++ : k - 1;
            while (pos > 0 && closer(dj, j, bd[pos - 1], bi[pos - 1])) {
                bd[pos] = bd[pos - 1];
                bi[pos] = bi[pos - 1];
                pos--;
            }
            bd[pos] = dj;
            bi[pos] = j;
        }
        memcpy(c->nb + i * k, bi, (size_t)k * sizeof *bi);
    }
    free(bd);
    free(bi);
}

nv_status nv_metric_knn_points(const nv_real *x, int64_t n, int64_t d, int k, int threads,
                               int64_t **nb, nv_error *err) {
    const char *who = "nv_metric_knn_points";
    if (!nb) return nv_fail(err, NV_EINPUT, "%s: output pointer is NULL", who);
    *nb = NULL;
    nv_status st = nv_metric_check_points(x, n, d, who, err);
    if (st != NV_OK) return st;
    if (k < 1 || (int64_t)k >= n)
        return nv_fail(err, NV_EINPUT, "%s: k = %d: expected 1 <= k < n = %lld", who, k, (long long)n);
    int64_t *out = nv_malloc((size_t)n * (size_t)k * sizeof *out, err);
    if (!out) return NV_ENOMEM;
    knn_job c = {x, n, d, k, out};
    nv_parallel_ranges(n, threads > 0 ? threads : nv_default_threads(), knn_rows, &c);
    for (int64_t i = 0; i < n; i++)
        if (out[i * k] < 0) {
            free(out);
            return nv_fail(err, NV_ENOMEM, "%s: out of memory in a worker thread", who);
        }
    *nb = out;
    return NV_OK;
}

nv_status nv_metric_mst_points(const nv_real *x, int64_t n, int64_t d, int64_t **parent,
                               nv_error *err) {
    const char *who = "nv_metric_mst_points";
    if (!parent) return nv_fail(err, NV_EINPUT, "%s: output pointer is NULL", who);
    *parent = NULL;
    nv_status st = nv_metric_check_points(x, n, d, who, err);
    if (st != NV_OK) return st;
    int64_t *par = nv_malloc((size_t)n * sizeof *par, err);
    double *best = par ? nv_malloc((size_t)n * sizeof *best, err) : NULL;
    unsigned char *in = best ? nv_calloc((size_t)n, 1, err) : NULL;
    if (!par || !best || !in) {
        free(par);
        free(best);
        return NV_ENOMEM;
    }
    /* Prim from vertex 0 on the complete graph: O(n^2 d). The next vertex is the
     * one with the smallest (distance to the tree, index); its tree neighbour is
     * the nearest tree vertex, ties to the one that entered the tree first. */
    for (int64_t i = 0; i < n; i++) {
        best[i] = INFINITY;
        par[i] = -1;
    }
    int64_t v = 0;
    for (int64_t step = 0; step < n; step++) {
        in[v] = 1;
        const nv_real *xv = x + v * d;
        int64_t next = -1;
        for (int64_t j = 0; j < n; j++) {
            if (in[j]) continue;
            double dj = sqdist(xv, x + j * d, d);
            if (dj < best[j]) {
                best[j] = dj;
                par[j] = v;
            }
            if (next < 0 || closer(best[j], j, best[next], next)) next = j;
        }
        if (next < 0) break;
        v = next;
    }
    free(best);
    free(in);
    *parent = par;
    return NV_OK;
}
