/* labelled.c: the labelled kNN filtration (labelled.h): H0 of the same-class
 * subgraphs of the kNN graph of a layer, k = 1..k_max, by union-find.
 *
 * The graphs: the kNN lists of every point (nv_metric_knn_points, ranks only);
 * G(k) has the edge {i, j} when j is among i's k nearest or i among j's, so the
 * edge enters the filtration at k = 1 + min(rank of j in i's list, rank of i in
 * j's list). Walking k upwards and adding, for every point i, the edge to its k-th
 * neighbour builds G(k) from G(k-1) (an edge added twice is harmless to
 * union-find); G_c(k) gets the same edges when both ends have class c. Components
 * are counted down from the number of points at each successful union. Edge counts
 * (for the cross-class share) count each undirected edge once, at the k it enters.
 * Everything is O(n k_max) after the O(n^2 d) neighbour search, and the result does
 * not depend on the thread count.
 */
#include "nerve/labelled.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/metric.h"

static int64_t uf_find(int64_t *p, int64_t i) {
    while (p[i] != i) {
        p[i] = p[p[i]]; /* path halving */
        i = p[i];
    }
    return i;
}

/* 1 if i and j were in different sets (now one, the smaller root kept). */
static int uf_union(int64_t *p, int64_t i, int64_t j) {
    int64_t a = uf_find(p, i), b = uf_find(p, j);
    if (a == b) return 0;
    if (a < b) p[b] = a;
    else p[a] = b;
    return 1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void nv_labelled_free(nv_labelled *r) {
    if (!r) return;
    free(r->classes);
    free(r->class_n);
    free(r->beta0);
    free(r->beta0_all);
    free(r->edges);
    free(r->cross_edges);
    memset(r, 0, sizeof *r);
}

nv_status nv_labelled_compute(const nv_real *x, int64_t n, int64_t d, const int64_t *labels,
                              int k_max, int with_mst, int threads, nv_labelled *out,
                              nv_error *err) {
    const char *who = "nv_labelled_compute";
    if (!out) return nv_fail(err, NV_EINPUT, "%s: output pointer is NULL", who);
    memset(out, 0, sizeof *out);
    if (!x || !labels) return nv_fail(err, NV_EINPUT, "%s: points or labels NULL", who);
    if (n < 2) return nv_fail(err, NV_EINPUT, "%s: %lld points: expected at least 2", who, (long long)n);
    if (k_max < 1 || (int64_t)k_max >= n)
        return nv_fail(err, NV_EINPUT, "%s: k_max = %d: expected 1 <= k_max < n = %lld", who, k_max,
                       (long long)n);
    nv_status st = NV_OK;
    int64_t *nb = NULL, *cls_of = NULL, *pa = NULL, *pc = NULL, *parent = NULL;
    st = nv_metric_knn_points(x, n, d, k_max, threads, &nb, err);
    if (st) return st;
    /* the classes present, ascending (at most n) */
    int64_t *sorted = nv_malloc((size_t)n * sizeof *sorted, err);
    cls_of = nv_malloc((size_t)n * sizeof *cls_of, err);
    pa = nv_malloc((size_t)n * sizeof *pa, err);
    pc = nv_malloc((size_t)n * sizeof *pc, err);
    if (!sorted || !cls_of || !pa || !pc) {
        st = NV_ENOMEM;
        free(sorted);
        goto done;
    }
    memcpy(sorted, labels, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
    int nc = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[i - 1]) sorted[nc++] = sorted[i];
    out->n = n;
    out->k_max = k_max;
    out->n_classes = nc;
    out->classes = nv_malloc((size_t)nc * sizeof(int64_t), err);
    out->class_n = nv_calloc((size_t)nc, sizeof(int64_t), err);
    out->beta0 = nv_malloc((size_t)nc * (size_t)k_max * sizeof(int64_t), err);
    out->beta0_all = nv_malloc((size_t)k_max * sizeof(int64_t), err);
    out->edges = nv_calloc((size_t)k_max, sizeof(int64_t), err);
    out->cross_edges = nv_calloc((size_t)k_max, sizeof(int64_t), err);
    if (!out->classes || !out->class_n || !out->beta0 || !out->beta0_all || !out->edges || !out->cross_edges) {
        free(sorted);
        st = NV_ENOMEM;
        goto done;
    }
    memcpy(out->classes, sorted, (size_t)nc * sizeof(int64_t));
    free(sorted);
    for (int64_t i = 0; i < n; i++) {
        /* binary search of the label among the classes */
        int lo = 0, hi = nc - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (out->classes[mid] < labels[i]) lo = mid + 1;
            else hi = mid;
        }
        cls_of[i] = lo;
        out->class_n[lo]++;
    }
    /* edge counts: the undirected edge {i, j} enters at 1 + min(r_ij, r_ji), where
     * r_ji = k_max when i is not in j's list; counted from the side that reaches
     * it first (the lower index on a tie) */
    for (int64_t i = 0; i < n; i++)
        for (int r = 0; r < k_max; r++) {
            int64_t j = nb[i * k_max + r];
            int back = k_max;
            for (int s = 0; s < k_max; s++)
                if (nb[j * k_max + s] == i) {
                    back = s;
                    break;
                }
            if (back < r || (back == r && j < i)) continue;
            out->edges[r]++;
            if (cls_of[i] != cls_of[j]) out->cross_edges[r]++;
        }
    for (int r = 1; r < k_max; r++) {
        out->edges[r] += out->edges[r - 1];
        out->cross_edges[r] += out->cross_edges[r - 1];
    }
    /* components, k = 1..k_max */
    for (int64_t i = 0; i < n; i++) pa[i] = pc[i] = i;
    int64_t comp_all = n;
    int64_t *comp_c = out->beta0; /* column k-1 filled below; running counts in a scratch row */
    int64_t *run = nv_malloc((size_t)nc * sizeof *run, err);
    if (!run) {
        st = NV_ENOMEM;
        goto done;
    }
    memcpy(run, out->class_n, (size_t)nc * sizeof *run);
    for (int r = 0; r < k_max; r++) {
        for (int64_t i = 0; i < n; i++) {
            int64_t j = nb[i * k_max + r];
            comp_all -= uf_union(pa, i, j);
            if (cls_of[i] == cls_of[j]) run[cls_of[i]] -= uf_union(pc, i, j);
        }
        out->beta0_all[r] = comp_all;
        for (int c = 0; c < nc; c++) comp_c[(int64_t)c * k_max + r] = run[c];
    }
    free(run);
    out->mst_cross = NAN;
    if (with_mst) {
        st = nv_metric_mst_points(x, n, d, &parent, err);
        if (st) goto done;
        int64_t cross = 0;
        for (int64_t i = 1; i < n; i++) cross += cls_of[i] != cls_of[parent[i]];
        out->mst_cross = (double)cross / (double)(n - 1);
    }
done:
    free(nb);
    free(cls_of);
    free(pa);
    free(pc);
    free(parent);
    if (st) nv_labelled_free(out);
    return st;
}

double nv_labelled_mixing(const nv_labelled *r) {
    if (!r || r->n <= 0) return NAN;
    double s = 0.0;
    for (int k = 0; k < r->k_max; k++) {
        int64_t sum = 0;
        for (int c = 0; c < r->n_classes; c++) sum += r->beta0[(int64_t)c * r->k_max + k];
        int64_t floor_k = r->beta0_all[k] > r->n_classes ? r->beta0_all[k] : r->n_classes;
        s += (double)(sum - floor_k);
    }
    return s / (double)r->n;
}

double nv_labelled_persistence(const nv_labelled *r) {
    if (!r || r->n <= 0) return NAN;
    double s = 0.0;
    for (int k = 0; k < r->k_max; k++)
        for (int c = 0; c < r->n_classes; c++) s += (double)(r->beta0[(int64_t)c * r->k_max + k] - 1);
    return s / (double)r->n;
}

double nv_labelled_unlabelled_persistence(const nv_labelled *r) {
    if (!r || r->n <= 0) return NAN;
    double s = 0.0;
    for (int k = 0; k < r->k_max; k++) s += (double)(r->beta0_all[k] - 1);
    return s / (double)r->n;
}

double nv_labelled_cross_share(const nv_labelled *r, int k) {
    if (!r || k < 1 || k > r->k_max || r->edges[k - 1] == 0) return 0.0;
    return (double)r->cross_edges[k - 1] / (double)r->edges[k - 1];
}
