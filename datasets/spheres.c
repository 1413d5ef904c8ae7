/* spheres.c: the intersecting-spheres generator, the synthetic data set of the
 * paired-network experiment (two classes, each an m-sphere in R^d).
 *
 * Geometry (dataset.h has the contract): class c is the sphere of radius r_c about
 * centre_c = (c ? +offset/2 : -offset/2) e_0. A point is centre_c + r_c * Q_c u with
 * u uniform on the unit m-sphere in R^(m+1) (a normalised vector of m+1 normals)
 * and Q_c a d x (m+1) matrix with orthonormal columns: the identity for m = d-1 (so
 * full spheres stay axis-aligned and intersect symmetrically about e_0), otherwise
 * the first m+1 columns of the Gram-Schmidt QR of a Gaussian d x d matrix, one per
 * class. Optional Gaussian noise is added in R^d.
 *
 * Same parameters, same bytes on every machine: everything is computed in double
 * and rounded to float once; the only libm calls are sqrt (correctly rounded) and
 * the log/cos inside nv_rng_normal (rounded to float there). Every draw has a fixed
 * RNG index, so no result depends on the order of computation:
 *   block index = (purpose << 48) | (class << 40) | k,   k < 2^40
 *   purpose 0: sphere coordinate j of point p      k = p * (m+1) + j
 *   purpose 1: noise coordinate j of point p       k = p * d + j
 *   purpose 2: rotation entry (row i, column j)    k = j * d + i
 * Points p < points_per_class are the regular ones; p >= points_per_class are the
 * oversampling candidates, so adding oversampling never changes the regular points.
 * Column-major rotation indices make Q_c's first columns the same for every m.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/dataset.h"
#include "nerve/rng.h"

#define PURPOSE_SPHERE 0u
#define PURPOSE_NOISE 1u
#define PURPOSE_ROTATION 2u
#define K_LIMIT ((uint64_t)1 << 40)

/* Oversampling draws at most this many candidates per wanted extra point before
 * giving up: the band near the other surface can be a small fraction of a
 * high-dimensional sphere, but an empty band must not loop for ever. */
#define CANDIDATES_PER_EXTRA 2000

static uint64_t rng_index(unsigned purpose, int c, uint64_t k) {
    return ((uint64_t)purpose << 48) | ((uint64_t)c << 40) | k;
}

void nv_spheres_defaults(nv_spheres_params *p) {
    memset(p, 0, sizeof *p);
    p->dim = 12;
    p->sphere_dim = 11;
    p->points_per_class = 2000;
    p->radius[0] = 1.0;
    p->radius[1] = 1.3;
    p->offset = 0.4;
    p->noise = 0.0;
    p->oversample = 0.0;
    p->oversample_width = 0.1;
    p->test_fraction = 0.2;
    p->seed = 1;
}

/* Extra points wanted per class. */
static int64_t extra_wanted(const nv_spheres_params *p) {
    return (int64_t)floor(p->oversample * (double)p->points_per_class + 0.5);
}

nv_status nv_spheres_validate(const nv_spheres_params *p, nv_error *err) {
    if (p->dim < 2 || p->dim > 100000)
        return nv_fail(err, NV_EINPUT, "spheres: dim %lld: expected 2 .. 100000", (long long)p->dim);
    if (p->sphere_dim < 1 || p->sphere_dim > p->dim - 1)
        return nv_fail(err, NV_EINPUT, "spheres: sphere_dim %lld: expected 1 .. dim-1 = %lld",
                       (long long)p->sphere_dim, (long long)(p->dim - 1));
    if (p->points_per_class < 1 || p->points_per_class > 100000000)
        return nv_fail(err, NV_EINPUT, "spheres: points_per_class %lld: expected 1 .. 100000000",
                       (long long)p->points_per_class);
    for (int c = 0; c < 2; c++)
        if (!(p->radius[c] > 0.0) || !isfinite(p->radius[c]))
            return nv_fail(err, NV_EINPUT, "spheres: radius[%d] %g: expected a finite number > 0", c,
                           p->radius[c]);
    if (!(p->offset >= 0.0) || !isfinite(p->offset))
        return nv_fail(err, NV_EINPUT, "spheres: offset %g: expected a finite number >= 0", p->offset);
    if (!(p->noise >= 0.0) || !isfinite(p->noise))
        return nv_fail(err, NV_EINPUT, "spheres: noise %g: expected a finite number >= 0", p->noise);
    if (!(p->oversample >= 0.0) || !(p->oversample <= 100.0))
        return nv_fail(err, NV_EINPUT, "spheres: oversample %g: expected 0 .. 100", p->oversample);
    if (!(p->oversample_width > 0.0) || !isfinite(p->oversample_width))
        return nv_fail(err, NV_EINPUT, "spheres: oversample_width %g: expected a finite number > 0",
                       p->oversample_width);
    if (!(p->test_fraction >= 0.0 && p->test_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "spheres: test_fraction %g: expected a number in [0, 1)",
                       p->test_fraction);
    /* Every RNG index must fit its 40-bit field (see the top of this file). */
    uint64_t points = (uint64_t)p->points_per_class +
                      (uint64_t)extra_wanted(p) * CANDIDATES_PER_EXTRA;
    uint64_t width = (uint64_t)p->dim; /* >= m+1 */
    if (points > K_LIMIT / width)
        return nv_fail(err, NV_EINPUT,
                       "spheres: %llu points (with oversampling candidates) x dim %lld exceed the "
                       "generator's index range 2^40; reduce points_per_class or oversample",
                       (unsigned long long)points, (long long)p->dim);
    if ((uint64_t)(2 * (p->points_per_class + extra_wanted(p))) > UINT32_MAX)
        return nv_fail(err, NV_EINPUT, "spheres: too many points for the split (at most 2^32)");
    return NV_OK;
}

/* Q (d x (m+1), column-major: column j at q + j*d) for class c. */
static void make_rotation(const nv_spheres_params *p, int c, double *q) {
    const int64_t d = p->dim, k = p->sphere_dim + 1;
    if (k == d) {
        /* Full spheres: the identity keeps both centres on e_0 and the intersection
         * a (d-2)-sphere orthogonal to it, which is what the experiment studies. */
        for (int64_t j = 0; j < k; j++)
            for (int64_t i = 0; i < d; i++) q[j * d + i] = (i == j) ? 1.0 : 0.0;
        return;
    }
    for (int64_t j = 0; j < k; j++)
        for (int64_t i = 0; i < d; i++)
            q[j * d + i] = (double)nv_rng_normal(p->seed, NV_STREAM_DATA,
                                                 rng_index(PURPOSE_ROTATION, c, (uint64_t)(j * d + i)));
    /* Modified Gram-Schmidt, each column projected twice: one pass loses
     * orthogonality like cond(G) * eps, the second brings it back to eps. A Gaussian
     * matrix has full rank with probability one; a (practically impossible) zero
     * column would only make the points degenerate, never crash. */
    for (int64_t j = 0; j < k; j++) {
        double *v = q + j * d;
        for (int pass = 0; pass < 2; pass++)
            for (int64_t l = 0; l < j; l++) {
                const double *u = q + l * d;
                double dot = 0.0;
                for (int64_t i = 0; i < d; i++) dot += u[i] * v[i];
                for (int64_t i = 0; i < d; i++) v[i] -= dot * u[i];
            }
        double nrm = 0.0;
        for (int64_t i = 0; i < d; i++) nrm += v[i] * v[i];
        nrm = sqrt(nrm);
        if (nrm > 0.0)
            for (int64_t i = 0; i < d; i++) v[i] /= nrm;
    }
}

/* Point p of class c without noise, in double: out (d). u is scratch (m+1). */
static void clean_point(const nv_spheres_params *p, int c, const double *q, uint64_t pt,
                        double *u, double *out) {
    const int64_t d = p->dim, k = p->sphere_dim + 1;
    double nrm = 0.0;
    for (int64_t j = 0; j < k; j++) {
        u[j] = (double)nv_rng_normal(p->seed, NV_STREAM_DATA,
                                     rng_index(PURPOSE_SPHERE, c, pt * (uint64_t)k + (uint64_t)j));
        nrm += u[j] * u[j];
    }
    nrm = sqrt(nrm);
    if (nrm == 0.0) { /* all draws exactly zero: never seen, but keep the point on the sphere */
        u[0] = 1.0;
        nrm = 1.0;
    }
    const double r = p->radius[c];
    const double centre0 = (c ? 0.5 : -0.5) * p->offset;
    for (int64_t i = 0; i < d; i++) out[i] = 0.0;
    out[0] = centre0;
    if (k == d) { /* Q = I: skip the d x d product (same values: only zeros dropped) */
        for (int64_t j = 0; j < d; j++) out[j] += r * (u[j] / nrm);
        return;
    }
    for (int64_t j = 0; j < k; j++) {
        const double s = r * (u[j] / nrm);
        const double *col = q + j * d;
        for (int64_t i = 0; i < d; i++) out[i] += s * col[i];
    }
}

/* Distance from x (d) to the sphere of class c (an m-sphere in the span of Q_c about
 * centre_c): sqrt(|y_perp|^2 + (|y_par| - r)^2) with y = x - centre_c. */
static double dist_to_sphere(const nv_spheres_params *p, int c, const double *q, const double *x) {
    const int64_t d = p->dim, k = p->sphere_dim + 1;
    const double centre0 = (c ? 0.5 : -0.5) * p->offset;
    double yy = 0.0, par2 = 0.0;
    for (int64_t i = 0; i < d; i++) {
        const double y = x[i] - (i == 0 ? centre0 : 0.0);
        yy += y * y;
    }
    if (k == d) { /* Q = I: the distance to a full sphere */
        const double radial = sqrt(yy) - p->radius[c];
        return radial < 0 ? -radial : radial;
    }
    for (int64_t j = 0; j < k; j++) {
        const double *col = q + j * d;
        double a = 0.0;
        for (int64_t i = 0; i < d; i++) a += col[i] * (x[i] - (i == 0 ? centre0 : 0.0));
        par2 += a * a;
    }
    double perp2 = yy - par2;
    if (perp2 < 0.0) perp2 = 0.0; /* rounding when x lies in the span */
    const double radial = sqrt(par2) - p->radius[c];
    return sqrt(perp2 + radial * radial);
}

/* Writes point p of class c (with noise) as row `row` of ds. */
static void store_point(const nv_spheres_params *p, int c, uint64_t pt, const double *clean,
                        nv_dataset *ds, int64_t row) {
    const int64_t d = p->dim;
    nv_real *dst = ds->x + row * d;
    for (int64_t i = 0; i < d; i++) {
        double v = clean[i];
        if (p->noise > 0.0)
            v += p->noise * (double)nv_rng_normal(p->seed, NV_STREAM_DATA,
                                                  rng_index(PURPOSE_NOISE, c, pt * (uint64_t)d + (uint64_t)i));
        dst[i] = (nv_real)v;
    }
    ds->y[row] = c;
    ds->ids[row] = row;
}

nv_status nv_spheres_sample(const nv_spheres_params *p, nv_dataset *all, nv_error *err) {
    nv_status st;
    memset(all, 0, sizeof *all);
    if ((st = nv_spheres_validate(p, err))) return st;
    const int64_t d = p->dim, k = p->sphere_dim + 1, npc = p->points_per_class;
    const int64_t extra = extra_wanted(p);
    double *q[2] = {NULL, NULL}, *u = NULL, *x = NULL;
    uint64_t *kept[2] = {NULL, NULL}; /* candidate indices kept for oversampling */
    int64_t nkept[2] = {0, 0};

    for (int c = 0; c < 2; c++) {
        q[c] = nv_malloc((size_t)(d * k) * sizeof(double), err);
        kept[c] = nv_malloc((size_t)(extra ? extra : 1) * sizeof(uint64_t), err);
        if (!q[c] || !kept[c]) { st = NV_ENOMEM; goto done; }
        make_rotation(p, c, q[c]);
    }
    u = nv_malloc((size_t)k * sizeof(double), err);
    x = nv_malloc((size_t)d * sizeof(double), err);
    if (!u || !x) { st = NV_ENOMEM; goto done; }

    /* Oversampling: candidates in index order, kept while within the band about the
     * other class's surface; the first `extra` kept ones win. */
    for (int c = 0; c < 2 && extra > 0; c++) {
        const uint64_t max_cand = (uint64_t)extra * CANDIDATES_PER_EXTRA;
        for (uint64_t t = 0; t < max_cand && nkept[c] < extra; t++) {
            const uint64_t pt = (uint64_t)npc + t;
            clean_point(p, c, q[c], pt, u, x);
            if (dist_to_sphere(p, 1 - c, q[1 - c], x) <= p->oversample_width) kept[c][nkept[c]++] = pt;
        }
        if (nkept[c] < extra) {
            st = nv_fail(err, NV_EINPUT,
                         "spheres: oversampling class %d: only %lld of %lld wanted points lie within "
                         "oversample_width %g of the other sphere after %llu candidates (the spheres "
                         "barely meet); widen oversample_width or lower oversample",
                         c, (long long)nkept[c], (long long)extra, p->oversample_width,
                         (unsigned long long)max_cand);
            goto done;
        }
    }

    if ((st = nv_dataset_alloc(all, 2 * (npc + extra), d, err))) goto done;
    all->nclasses = 2;
    int64_t row = 0;
    for (int c = 0; c < 2; c++) {
        for (int64_t i = 0; i < npc + extra; i++) {
            const uint64_t pt = i < npc ? (uint64_t)i : kept[c][i - npc];
            clean_point(p, c, q[c], pt, u, x);
            store_point(p, c, pt, x, all, row++);
        }
    }

done:
    if (st) nv_dataset_free(all);
    for (int c = 0; c < 2; c++) {
        free(q[c]);
        free(kept[c]);
    }
    free(u);
    free(x);
    return st;
}

nv_status nv_spheres_generate(const nv_spheres_params *p, nv_dataset *train, nv_dataset *test,
                              nv_error *err) {
    nv_dataset all;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    nv_status st = nv_spheres_sample(p, &all, err);
    if (st) return st;
    st = nv_dataset_split(&all, p->test_fraction, p->seed, train, test, err);
    nv_dataset_free(&all);
    return st;
}

/* The shortest of %.15g / %.17g that reads back as the same double, so the source
 * line is both readable ("0.4") and exact. */
static const char *num(double v, char *buf, size_t len) {
    snprintf(buf, len, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, len, "%.17g", v);
    return buf;
}

void nv_spheres_describe(const nv_spheres_params *p, char *buf, size_t len) {
    char b[7][32];
    snprintf(buf, len,
             "spheres: dim %lld, sphere_dim %lld, points_per_class %lld, radius %s,%s, "
             "offset %s, noise %s, oversample %s, oversample_width %s, test_fraction %s, seed %llu",
             (long long)p->dim, (long long)p->sphere_dim, (long long)p->points_per_class,
             num(p->radius[0], b[0], 32), num(p->radius[1], b[1], 32), num(p->offset, b[2], 32),
             num(p->noise, b[3], 32), num(p->oversample, b[4], 32),
             num(p->oversample_width, b[5], 32), num(p->test_fraction, b[6], 32),
             (unsigned long long)p->seed);
}
