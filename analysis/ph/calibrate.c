/* calibrate.c: the scale calibration of Naitzat, Zhitnikov and Lim, "Topology of
 * Deep Neural Networks" (JMLR 2020), declared in include/nerve/calibrate.h.
 *
 * Betti numbers of a point cloud depend on the scale at which they are read. The
 * paper fixes the scale once, on a reference layer whose topology is known (the
 * input: nine disks have beta0 = 9), by choosing the kNN graph's k and the scale so
 * that the input shows its known Betti numbers, and then reads every later layer at
 * that same k and scale. This file finds that (k, scale): for k = k_min, k_min+1,
 * ... it builds the kNN-geodesic metric (metric.c), computes the Betti numbers as a
 * function of the scale, and stops at the first k where some interval of scales
 * gives the target; the scale is the middle of the longest such interval, which is
 * the reading least sensitive to the choice.
 *
 * beta0 alone (ndims == 1) needs no persistence engine: the components of the Rips
 * complex at scale t under a kNN-geodesic metric are those of the kNN graph
 * restricted to edges of length <= t (any path of length <= t uses only such
 * edges; hop counts: every edge is one hop), so union-find over the sorted graph
 * edges gives every merge scale, faster than the engine and on the same values.
 * Higher Betti numbers come from the engine (nv_ph_compute, analysis/ph*.c) on the
 * dense geodesic matrix.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/calibrate.h"
#include "nerve/metric.h"
#include "nerve/ph.h"

#define MAX_DIMS 8

/* ---------------------------------------------------------------- union-find */

static int64_t uf_find(int64_t *parent, int64_t x) {
    while (parent[x] != x) {
        parent[x] = parent[parent[x]]; /* path halving */
        x = parent[x];
    }
    return x;
}

typedef struct {
    float len;
    int64_t i, j;
} edge;

static int cmp_edge(const void *a, const void *b) {
    const edge *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* Merge scales of single linkage on graph g (Kruskal): heights[0..*count) ascending;
 * beta0(t) = n - #{heights <= t}. */
static nv_status merge_heights(const nv_knn_graph *g, int hops, float **heights, int64_t *count,
                               nv_error *err) {
    int64_t n = g->n, m = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = g->row_ptr[i]; p < g->row_ptr[i + 1]; p++)
            if (g->col[p] < i) m++;
    edge *e = nv_malloc((size_t)(m ? m : 1) * sizeof(edge), err);
    int64_t *parent = nv_malloc((size_t)n * sizeof(int64_t), err);
    float *h = nv_malloc((size_t)n * sizeof(float), err);
    if (!e || !parent || !h) {
        free(e);
        free(parent);
        free(h);
        return NV_ENOMEM;
    }
    m = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = g->row_ptr[i]; p < g->row_ptr[i + 1]; p++)
            if (g->col[p] < i) e[m++] = (edge){hops ? 1.0f : g->len[p], i, g->col[p]};
    qsort(e, (size_t)m, sizeof(edge), cmp_edge);
    for (int64_t i = 0; i < n; i++) parent[i] = i;
    int64_t c = 0;
    for (int64_t a = 0; a < m; a++) {
        int64_t ri = uf_find(parent, e[a].i), rj = uf_find(parent, e[a].j);
        if (ri == rj) continue;
        parent[ri < rj ? rj : ri] = ri < rj ? ri : rj;
        h[c++] = e[a].len;
    }
    free(e);
    free(parent);
    *heights = h;
    *count = c;
    return NV_OK;
}

/* ---------------------------------------------------------------- the scan */

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..*m) and removes duplicates and non-finite values; prepends 0. The
 * result (capacity *m + 1) lists the scales where a Betti number may change. */
static void breakpoints(float *v, int64_t *m) {
    qsort(v, (size_t)*m, sizeof(float), cmp_float);
    int64_t out = 0;
    for (int64_t a = 0; a < *m; a++) {
        if (!isfinite(v[a]) || v[a] < 0.0f) continue;
        if (out > 0 && v[out - 1] == v[a]) continue;
        v[out++] = v[a];
    }
    if (out == 0 || v[0] > 0.0f) {
        memmove(v + 1, v, (size_t)out * sizeof(float));
        v[0] = 0.0f;
        out++;
    }
    *m = out;
}

/* What one k gives: Betti vectors on [bp[j], bp[j+1]) (the last to infinity). */
typedef struct {
    int64_t nbp;
    float *bp;          /* (nbp + 1) breakpoints, bp[0] = 0 */
    int64_t *betti;     /* (nbp, ndims) */
    float dmax;         /* the largest finite distance of the metric */
} betti_curve;

static void curve_free(betti_curve *c) {
    free(c->bp);
    free(c->betti);
    memset(c, 0, sizeof *c);
}

static nv_status curve_beta0(const nv_knn_graph *g, int hops, betti_curve *c, nv_error *err) {
    float *h = NULL;
    int64_t m = 0;
    nv_status st = merge_heights(g, hops, &h, &m, err);
    if (st != NV_OK) return st;
    float *bp = nv_malloc((size_t)(m + 1) * sizeof(float), err);
    int64_t *betti = nv_malloc((size_t)(m + 1) * sizeof(int64_t), err);
    if (!bp || !betti) {
        free(h);
        free(bp);
        free(betti);
        return NV_ENOMEM;
    }
    memcpy(bp, h, (size_t)m * sizeof(float));
    int64_t nbp = m;
    breakpoints(bp, &nbp);
    /* heights are sorted: a sweep counts those <= each breakpoint. */
    int64_t merged = 0;
    for (int64_t j = 0; j < nbp; j++) {
        while (merged < m && h[merged] <= bp[j]) merged++;
        betti[j] = g->n - merged;
    }
    free(h);
    c->nbp = nbp;
    c->bp = bp;
    c->betti = betti;
    return NV_OK;
}

static nv_status curve_engine(const float *geo, int64_t n, int ndims, betti_curve *c,
                              nv_error *err) {
    /* Pairs in different kNN components are at INFINITY: the engine leaves those
     * edges out (as Ripser does for a sparse matrix), so the components' H0 classes
     * are essential, as they should be. */
    nv_ph_input in;
    memset(&in, 0, sizeof in);
    in.kind = NV_PH_DENSE;
    in.n = n;
    in.lower = geo;
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = ndims - 1;
    p.threshold = INFINITY;
    nv_ph_result r;
    memset(&r, 0, sizeof r);
    nv_status st = nv_ph_compute(&in, &p, &r, err);
    if (st != NV_OK) {
        nv_error_prefix(err, "nv_calibrate: ");
        return st;
    }
    float *bp = nv_malloc((size_t)(2 * r.count + 2) * sizeof(float), err);
    if (!bp) {
        nv_ph_result_free(&r);
        return NV_ENOMEM;
    }
    int64_t nbp = 0;
    for (int64_t a = 0; a < r.count; a++) {
        bp[nbp++] = r.pairs[a].birth;
        if (isfinite(r.pairs[a].death)) bp[nbp++] = r.pairs[a].death;
    }
    breakpoints(bp, &nbp);
    int64_t *betti = nv_malloc((size_t)(nbp ? nbp : 1) * (size_t)ndims * sizeof(int64_t), err);
    if (!betti) {
        free(bp);
        nv_ph_result_free(&r);
        return NV_ENOMEM;
    }
    for (int64_t j = 0; j < nbp; j++)
        for (int dim = 0; dim < ndims; dim++) betti[j * ndims + dim] = nv_ph_betti_at(&r, dim, bp[j]);
    nv_ph_result_free(&r);
    c->nbp = nbp;
    c->bp = bp;
    c->betti = betti;
    return NV_OK;
}

/* The longest run of breakpoint intervals whose Betti vector is `target`.
 * Unbounded runs (to infinity) are measured up to dmax, the largest finite
 * distance: past it every component is a full simplex and nothing more can be
 * learned from a larger scale. Returns 0 if no interval matches. */
static int best_interval(const betti_curve *c, int ndims, const int64_t *target, int hops,
                         nv_calibration *out) {
    int found = 0;
    double best_len = -1.0;
    for (int64_t j = 0; j < c->nbp;) {
        if (memcmp(c->betti + j * ndims, target, (size_t)ndims * sizeof(int64_t)) != 0) {
            j++;
            continue;
        }
        int64_t e = j;
        while (e + 1 < c->nbp &&
               memcmp(c->betti + (e + 1) * ndims, target, (size_t)ndims * sizeof(int64_t)) == 0)
            e++;
        float lo = c->bp[j];
        float hi = e + 1 < c->nbp ? c->bp[e + 1] : INFINITY;
        double end = isfinite(hi) ? (double)hi : NV_MAX((double)c->dmax, (double)lo);
        double len = end - (double)lo;
        /* Strictly longer wins: on equal lengths the smaller scale is kept (less
         * merging, closer to the data). */
        if (len > best_len) {
            best_len = len;
            found = 1;
            out->scale_lo = lo;
            out->scale_hi = hi;
            if (hops) {
                /* Integer hops in [lo, hi): lo .. hi-1 (or .. dmax when unbounded). */
                double last = isfinite(hi) ? (double)hi - 1.0 : end;
                out->scale = (float)((double)lo + floor((last - (double)lo) / 2.0));
            } else {
                float mid = (float)(0.5 * ((double)lo + end));
                /* The rounded midpoint must stay inside [lo, hi). */
                if (!(mid >= lo) || (isfinite(hi) && mid >= hi)) mid = lo;
                out->scale = mid;
            }
        }
        j = e + 1;
    }
    return found;
}

static void format_betti(char *buf, size_t cap, const int64_t *b, int ndims) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndims && used + 24 < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)b[i]);
}

nv_status nv_calibrate(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                       const int64_t *target, int ndims, int k_min, int k_max,
                       nv_calibration *out, nv_error *err) {
    const char *who = "nv_calibrate";
    if (!out) return nv_fail(err, NV_EINPUT, "%s: output is NULL", who);
    memset(out, 0, sizeof *out);
    nv_status st = nv_metric_check_points(x, n, d, who, err);
    if (st != NV_OK) return st;
    if (kind != NV_METRIC_KNN_HOPS && kind != NV_METRIC_KNN_WEIGHTED)
        return nv_fail(err, NV_EINPUT, "%s: metric '%s': expected knn-hops or knn-weighted (the "
                                       "scale is calibrated on a kNN graph)", who,
                       nv_metric_name(kind));
    if (!target) return nv_fail(err, NV_EINPUT, "%s: target Betti numbers are NULL", who);
    if (ndims < 1 || ndims > MAX_DIMS)
        return nv_fail(err, NV_EINPUT, "%s: %d target Betti numbers: expected 1 to %d", who, ndims,
                       MAX_DIMS);
    for (int i = 0; i < ndims; i++)
        if (target[i] < 0 || target[i] > n)
            return nv_fail(err, NV_EINPUT, "%s: target beta%d = %lld: expected 0 <= beta <= n = %lld",
                           who, i, (long long)target[i], (long long)n);
    if (k_min < 1 || k_max < k_min || (int64_t)k_max >= n)
        return nv_fail(err, NV_EINPUT, "%s: k range [%d, %d]: expected 1 <= k_min <= k_max < n = %lld",
                       who, k_min, k_max, (long long)n);

    int hops = kind == NV_METRIC_KNN_HOPS;
    float *eu = NULL;
    st = nv_metric_euclidean_lower(x, n, d, &eu, err);
    if (st != NV_OK) return st;
    int found = 0;
    char last_range[256] = "";
    for (int k = k_min; k <= k_max && !found && st == NV_OK; k++) {
        nv_knn_graph g;
        st = nv_metric_knn_graph(eu, n, k, &g, err);
        if (st != NV_OK) break;
        betti_curve c;
        memset(&c, 0, sizeof c);
        nv_calibration cand;
        memset(&cand, 0, sizeof cand);
        /* beta0 alone comes from the graph; the geodesic matrix is then needed only
         * for dmax, and only when the target shows up at this k. */
        int need_geo = 1;
        if (ndims == 1) {
            st = curve_beta0(&g, hops, &c, err);
            need_geo = st == NV_OK && best_interval(&c, ndims, target, hops, &cand);
        }
        if (need_geo) {
            float *geo = NULL;
            st = nv_metric_geodesic_lower(&g, !hops, &geo, err);
            if (st == NV_OK) {
                int64_t m = n * (n - 1) / 2;
                for (int64_t e = 0; e < m; e++)
                    if (isfinite(geo[e]) && geo[e] > c.dmax) c.dmax = geo[e];
                if (ndims > 1) st = curve_engine(geo, n, ndims, &c, err);
            }
            free(geo);
        }
        nv_knn_graph_free(&g);
        if (st != NV_OK) {
            curve_free(&c);
            break;
        }
        if (best_interval(&c, ndims, target, hops, &cand)) {
            cand.k = k;
            *out = cand;
            found = 1;
        } else {
            char a[64], b[64];
            format_betti(a, sizeof a, c.betti, ndims);
            format_betti(b, sizeof b, c.betti + (c.nbp - 1) * ndims, ndims);
            snprintf(last_range, sizeof last_range, "at k = %d the Betti numbers go from (%s) to (%s)",
                     k, a, b);
        }
        curve_free(&c);
    }
    free(eu);
    if (st != NV_OK) return st;
    if (!found) {
        char t[64];
        format_betti(t, sizeof t, target, ndims);
        return nv_fail(err, NV_EINPUT,
                       "%s: no k in [%d, %d] and no scale give the target Betti numbers (%s) on "
                       "%lld points (%s); widen the k range or check the target",
                       who, k_min, k_max, t, (long long)n, last_range);
    }
    return NV_OK;
}
