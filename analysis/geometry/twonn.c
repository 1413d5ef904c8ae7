/* twonn.c: intrinsic dimension of a point cloud by TwoNN (Facco, d'Errico, Rodriguez,
 * Laio 2017), in the variant Ansuini et al. (2019) use for layer activations.
 *
 * For each point, mu = r2 / r1 (distances to its second and first nearest
 * neighbours) is Pareto distributed with exponent d on a d-dimensional manifold, so
 * -log(1 - F(mu)) = d log(mu). The fit sorts mu, takes the empirical CDF F_i = i/N,
 * drops the 10% largest mu (the tail, where the local-uniformity assumption breaks
 * first) and fits the slope through the origin by least squares.
 *
 * Exact duplicates (r1 = 0) are collapsed before the search: copies carry no
 * information about dimension and would make mu infinite, so the estimate is that
 * of the set of distinct points. Points with r1 == r2 (ties, e.g. on a lattice) are
 * dropped as Ansuini et al. do. Neighbours are exact: distances from coordinate
 * differences in double. The default search screens all pairs with one dgemm per
 * block of queries and recomputes exactly only the pairs that can be among the two
 * nearest (nn_screened: the same bytes as the exhaustive search, many times
 * faster); the exhaustive search (opts->exhaustive) is the reference, split over
 * threads by query point. Neither depends on the thread count.
 */
#include "nerve/stats.h"
#include "nerve/parallel.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const nv_real *x;
    int64_t d;
} row_order_ctx;

/* Lexicographic order of rows, then index: equal rows end up adjacent with the
 * lowest index first, which is the copy that is kept. */
static int cmp_rows(const void *a, const void *b, void *vctx) {
    const row_order_ctx *c = vctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    const nv_real *ri = c->x + i * c->d, *rj = c->x + j * c->d;
    for (int64_t t = 0; t < c->d; t++) {
        if (ri[t] < rj[t]) return -1;
        if (ri[t] > rj[t]) return 1;
    }
    return (i > j) - (i < j);
}

typedef struct {
    const double *u; /* (m, d) distinct points */
    int64_t m, d;
    double *mu;      /* (m): r2/r1, or 1 for a tie */
} nn_job;

/* Squared distance of a and b (d coordinates), or any value > cut once a partial
 * sum exceeds cut: sums of squares only grow, so such a pair cannot be among the two
 * nearest and the two smallest come out exactly as without the cut. Four running
 * sums (coordinates t mod 4) keep the adds independent for the pipeline; their
 * order is fixed, so the result does not depend on anything but the data. */
static double dist2_cut(const double *a, const double *b, int64_t d, double cut) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t t = 0;
    while (t + 4 <= d) {
        int64_t end = t + 32 <= d ? t + 32 : d - (d - t) % 4;
        for (; t < end; t += 4) {
            double e0 = a[t] - b[t], e1 = a[t + 1] - b[t + 1];
            double e2 = a[t + 2] - b[t + 2], e3 = a[t + 3] - b[t + 3];
            s0 += e0 * e0;
            s1 += e1 * e1;
            s2 += e2 * e2;
            s3 += e3 * e3;
        }
        if ((s0 + s1) + (s2 + s3) > cut) return (s0 + s1) + (s2 + s3);
    }
    for (; t < d; t++) {
        double e = a[t] - b[t];
        s0 += e * e;
    }
    return (s0 + s1) + (s2 + s3);
}

/* For each query, the two smallest squared distances to the other points. */
static void nn_rows(void *arg, int tid, int64_t q0, int64_t q1) {
    (void)tid;
    nn_job *job = arg;
    const int64_t d = job->d;
    for (int64_t i = q0; i < q1; i++) {
        const double *xi = job->u + i * d;
        double best1 = INFINITY, best2 = INFINITY;
        for (int64_t j = 0; j < job->m; j++) {
            if (j == i) continue;
            double s = dist2_cut(xi, job->u + j * d, d, best2);
            if (s > best2) continue;
            if (s < best1) {
                best2 = best1;
                best1 = s;
            } else {
                best2 = s;
            }
        }
        job->mu[i] = sqrt(best2 / best1);
    }
}

/* The screened search: approximate squared distances |v_i|^2 + |v_j|^2 - 2 v_i.v_j
 * for a block of queries against all points come from one dgemm on a centred copy v
 * (fast), and only the pairs that could be among the two nearest are recomputed
 * exactly from coordinate differences of the uncentred points (dist2_cut, as in the
 * exhaustive search), so the result is the exhaustive one, bit for bit.
 *
 * Why it is exact: the approximation error of a pair is below
 * margin_ij = (4 d + 32) eps (|v_i|^2 + |v_j|^2). The classical bounds add up to
 * about (4 d + 7) eps (|v_i|^2 + |v_j|^2): gamma_d for each dot product and norm,
 * a few eps for the additions, 4 eps for the rounding of the centring, and
 * 2 gamma_d for the rounding of the exact recomputation itself (its relative error
 * gamma_d times D <= 2 (|v_i|^2 + |v_j|^2)). If the approximately nearest two points are
 * j1, j2, the true second-nearest distance is at most
 * T = max(a_ij1 + margin_ij1, a_ij2 + margin_ij2); every point with a_ij - margin_ij
 * <= T is recomputed exactly, which includes every point at true distance <= T. */
static nv_status nn_screened(const double *u, int64_t m, int64_t d, double *mu, nv_error *err) {
    nv_status st = NV_OK;
    int64_t q = (int64_t)(4194304 / (m > 0 ? m : 1)); /* queries per block: ~32 MB of doubles */
    q = NV_MAX((int64_t)16, NV_MIN((int64_t)512, q));
    q = NV_MIN(q, m);
    double *v = nv_malloc((size_t)m * (size_t)d * sizeof *v, err);
    double *sq = nv_calloc((size_t)m, sizeof *sq, err);
    double *mean = nv_calloc((size_t)d, sizeof *mean, err);
    double *g = nv_malloc((size_t)q * (size_t)m * sizeof *g, err);
    if (!v || !sq || !mean || !g) {
        st = NV_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < m; i++)
        for (int64_t t = 0; t < d; t++) mean[t] += u[i * d + t];
    for (int64_t t = 0; t < d; t++) mean[t] /= (double)m;
    for (int64_t i = 0; i < m; i++)
        for (int64_t t = 0; t < d; t++) {
            v[i * d + t] = u[i * d + t] - mean[t];
            sq[i] += v[i * d + t] * v[i * d + t];
        }
    const double c = (4.0 * (double)d + 32.0) * DBL_EPSILON;
    for (int64_t q0 = 0; q0 < m; q0 += q) {
        int64_t rows = NV_MIN(q, m - q0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)m, (int)d, -2.0,
                    v + q0 * d, (int)d, v, (int)d, 0.0, g, (int)m);
        for (int64_t r = 0; r < rows; r++) {
            const int64_t i = q0 + r;
            double *a = g + r * m; /* becomes the approximate squared distances */
            double a1 = INFINITY, a2 = INFINITY, t1 = INFINITY, t2 = INFINITY;
            for (int64_t j = 0; j < m; j++) {
                if (j == i) continue;
                a[j] += sq[i] + sq[j];
                double up = a[j] + c * (sq[i] + sq[j]);
                if (a[j] < a1) {
                    a2 = a1, t2 = t1;
                    a1 = a[j], t1 = up;
                } else if (a[j] < a2) {
                    a2 = a[j], t2 = up;
                }
            }
            const double bound = fmax(t1, t2);
            double b1 = INFINITY, b2 = INFINITY;
            for (int64_t j = 0; j < m; j++) {
                if (j == i || a[j] - c * (sq[i] + sq[j]) > bound) continue;
                double s2 = dist2_cut(u + i * d, u + j * d, d, b2);
                if (s2 > b2) continue;
                if (s2 < b1) {
                    b2 = b1;
                    b1 = s2;
                } else {
                    b2 = s2;
                }
            }
            mu[i] = sqrt(b2 / b1);
        }
    }
done:
    free(v);
    free(sq);
    free(mean);
    free(g);
    return st;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

nv_status nv_twonn_fit(double *mu, int64_t m, double discard_fraction, double *dimension,
                       int64_t *n_fit, nv_error *err) {
    if (!(discard_fraction >= 0.0 && discard_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "twonn: discard fraction %g: expected 0 <= f < 1",
                       discard_fraction);
    qsort(mu, (size_t)m, sizeof *mu, cmp_double);
    int64_t npoints = (int64_t)floor((double)m * (1.0 - discard_fraction));
    if (npoints >= m) npoints = m - 1; /* F = 1 at the last point: log(0) */
    double sxx = 0.0, sxy = 0.0;
    for (int64_t i = 0; i < npoints; i++) {
        double lx = log(mu[i]);
        double ly = -log(1.0 - (double)(i + 1) / (double)m);
        sxx += lx * lx;
        sxy += lx * ly;
    }
    if (npoints < 1 || !(sxx > 0.0))
        return nv_fail(err, NV_EINPUT,
                       "twonn: %lld usable neighbour ratios (%lld fitted): expected at least 2 "
                       "points with r2 > r1 to fit a dimension",
                       (long long)m, (long long)npoints);
    *dimension = sxy / sxx;
    *n_fit = npoints;
    return NV_OK;
}

nv_status nv_twonn(const nv_real *x, int64_t n, int64_t d, const nv_twonn_opts *opts,
                   nv_twonn_result *out, nv_error *err) {
    nv_status st = NV_OK;
    int64_t *order = NULL;
    double *u = NULL, *mu = NULL;
    memset(out, 0, sizeof *out);
    double discard = opts && opts->discard_fraction > 0.0 ? opts->discard_fraction : 0.1;
    int threads = opts && opts->threads > 0 ? opts->threads : nv_default_threads();
    int exhaustive = opts && opts->exhaustive;
    if (!x || n < 1 || d < 1)
        return nv_fail(err, NV_EINPUT, "twonn: matrix of %lld x %lld: expected n >= 3, d >= 1",
                       (long long)n, (long long)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]))
                return nv_fail(err, NV_EINPUT,
                               "twonn: matrix entry at row %lld, column %lld is %g: expected a "
                               "finite number",
                               (long long)i, (long long)j, (double)x[i * d + j]);

    /* Collapse exact duplicates: sort row indices, keep the first of each run. */
    order = nv_malloc((size_t)n * sizeof *order, err);
    if (!order) { st = NV_ENOMEM; goto done; }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    row_order_ctx ctx = {x, d};
    qsort_r(order, (size_t)n, sizeof *order, cmp_rows, &ctx);
    int64_t m = 0;
    for (int64_t s = 0; s < n; s++) {
        if (s > 0) {
            const nv_real *a = x + order[s] * d, *b = x + order[m - 1] * d;
            int64_t t = 0;
            while (t < d && a[t] == b[t]) t++; /* == treats -0 and +0 as one point */
            if (t == d) continue;
        }
        order[m++] = order[s];
    }
    out->n_unique = m;
    out->n_duplicates = n - m;
    if (m < 3) {
        st = nv_fail(err, NV_EINPUT,
                     "twonn: %lld distinct points among %lld rows: expected at least 3",
                     (long long)m, (long long)n);
        goto done;
    }
    /* Back to input order, so the result does not depend on the sort. */
    qsort(order, (size_t)m, sizeof *order, cmp_i64);
    u = nv_malloc((size_t)m * (size_t)d * sizeof *u, err);
    mu = nv_malloc((size_t)m * sizeof *mu, err);
    if (!u || !mu) { st = NV_ENOMEM; goto done; }
    for (int64_t i = 0; i < m; i++)
        for (int64_t t = 0; t < d; t++) u[i * d + t] = (double)x[order[i] * d + t];

    if (!exhaustive) {
        if ((st = nn_screened(u, m, d, mu, err)) != NV_OK) goto done;
    } else {
        /* query points over threads (parallel.h); each point's pair of nearest
         * distances does not depend on which thread finds it */
        nn_job job = {u, m, d, mu};
        nv_parallel_ranges(m, threads, nn_rows, &job);
    }

    /* Drop ties (mu == 1: r1 == r2), then fit. */
    int64_t kept = 0;
    for (int64_t i = 0; i < m; i++)
        if (mu[i] > 1.0) mu[kept++] = mu[i];
    out->n_ties = m - kept;
    st = nv_twonn_fit(mu, kept, discard, &out->dimension, &out->n_fit, err);
done:
    free(order);
    free(u);
    free(mu);
    return st;
}
