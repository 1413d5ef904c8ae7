/* tori.c: the linked-tori generator, a data set in the spirit of D-II of Naitzat,
 * Zhitnikov and Lim, "Topology of Deep Neural Networks" (JMLR 2020): nine pairs of
 * interlocked solid tori in R^3, one torus of each pair in each class, so both
 * classes are nine solid tori, (beta0, beta1, beta2) = (9, 9, 0). dataset.h has
 * the geometry and the RNG indices.
 *
 * Why not the paper's own layout: its code builds each torus as two noisy circles
 * and places the pairs 3 apart on the corners of a cube and at its centre, where
 * neighbouring pairs overlap (a sample of it has points of different classes 0.01
 * apart: no net can separate them, and components of a class merge). The pairs
 * here keep the paper's centres, orientations and label flips, with the spacing
 * widened so that they are disjoint, and the tori are uniform solid tori. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nerve/dataset.h"
#include "nerve/rng.h"

/* Candidates per wanted point before giving up: a solid torus fills
 * pi^2 R r^2 / (2 (R + r)^2 r) = pi^2 R r / (2 (R + r)^2) of its bounding box
 * (about 0.9 at the defaults; always > 0.2 when 2r < R). */
#define CANDIDATES_PER_POINT 100

/* The paper's pair centres (in units of the spacing) and which class the xy torus
 * of each pair has (its `flip`; the xz torus has the other). */
static const int CENTRE[9][3] = {{1, 1, 1},   {-1, -1, 1}, {-1, 1, -1}, {1, -1, -1}, {0, 0, 0},
                                 {-1, -1, -1}, {1, 1, -1}, {-1, 1, 1},  {1, -1, 1}};
static const int FLIP[9] = {0, 1, 0, 1, 0, 0, 1, 0, 1};

void nv_tori_defaults(nv_tori_params *p) {
    memset(p, 0, sizeof *p);
    p->points_per_torus = 400;
    p->major_radius = 2.2;
    p->minor_radius = 0.7;
    p->spacing = 7.0;
    p->test_fraction = 0.2;
    p->seed = 1;
}

nv_status nv_tori_validate(const nv_tori_params *p, nv_error *err) {
    if (p->points_per_torus < 1 || p->points_per_torus > 10000000)
        return nv_fail(err, NV_EINPUT, "tori: points_per_torus %lld: expected 1 .. 10000000",
                       (long long)p->points_per_torus);
    if (!(p->major_radius > 0.0) || !isfinite(p->major_radius))
        return nv_fail(err, NV_EINPUT, "tori: major_radius %g: expected a number > 0", p->major_radius);
    if (!(p->minor_radius > 0.0) || !(2.0 * p->minor_radius < p->major_radius))
        return nv_fail(err, NV_EINPUT,
                       "tori: minor_radius %g: expected > 0 and < major_radius / 2 = %g (the two tubes of "
                       "a pair are major_radius apart and must not touch)",
                       p->minor_radius, p->major_radius / 2.0);
    if (!(p->spacing > 2.0 * (p->major_radius + p->minor_radius)) || !isfinite(p->spacing))
        return nv_fail(err, NV_EINPUT,
                       "tori: spacing %g: expected > 2 (major_radius + minor_radius) = %g (pairs must "
                       "not touch)",
                       p->spacing, 2.0 * (p->major_radius + p->minor_radius));
    if (!(p->test_fraction >= 0.0 && p->test_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "tori: test_fraction %g: expected a number in [0, 1)", p->test_fraction);
    return NV_OK;
}

/* points_per_torus points of torus t (pair t / 2; t % 2 == 0: the xy torus) into
 * rows x[0..), unscaled. */
static nv_status one_torus(const nv_tori_params *p, int t, nv_real *x, nv_error *err) {
    const double R = p->major_radius, r = p->minor_radius, s = p->spacing;
    const int pair = t / 2, xz = t % 2;
    const double cx = s * CENTRE[pair][0], cy = s * CENTRE[pair][1], cz = s * CENTRE[pair][2];
    const uint64_t max_cand = (uint64_t)p->points_per_torus * CANDIDATES_PER_POINT;
    int64_t got = 0;
    for (uint64_t j = 0; j < max_cand && got < p->points_per_torus; j++) {
        const uint64_t idx = ((uint64_t)t << 40) | j;
        /* a point of the box [-(R+r), R+r]^2 x [-r, r] in the torus's own frame */
        const double u = (2.0 * (double)nv_rng_uniform(p->seed, NV_STREAM_DATA, 3 * idx) - 1.0) * (R + r);
        const double v = (2.0 * (double)nv_rng_uniform(p->seed, NV_STREAM_DATA, 3 * idx + 1) - 1.0) * (R + r);
        const double w = (2.0 * (double)nv_rng_uniform(p->seed, NV_STREAM_DATA, 3 * idx + 2) - 1.0) * r;
        const double rho = sqrt(u * u + v * v) - R;
        if (rho * rho + w * w > r * r) continue;
        nv_real *o = x + 3 * got;
        if (!xz) { /* the xy-plane torus, centred at (R/2, 0, 0) */
            o[0] = (nv_real)(cx + R / 2.0 + u);
            o[1] = (nv_real)(cy + v);
            o[2] = (nv_real)(cz + w);
        } else { /* the xz-plane torus, centred at (-R/2, 0, 0) */
            o[0] = (nv_real)(cx - R / 2.0 + u);
            o[1] = (nv_real)(cy + w);
            o[2] = (nv_real)(cz + v);
        }
        got++;
    }
    if (got < p->points_per_torus)
        return nv_fail(err, NV_EINPUT, "tori: torus %d: only %lld of %lld points after %llu candidates", t,
                       (long long)got, (long long)p->points_per_torus, (unsigned long long)max_cand);
    return NV_OK;
}

nv_status nv_tori_sample(const nv_tori_params *p, nv_dataset *all, nv_error *err) {
    memset(all, 0, sizeof *all);
    nv_status st = nv_tori_validate(p, err);
    if (st) return st;
    const int64_t m = p->points_per_torus;
    if ((st = nv_dataset_alloc(all, 18 * m, 3, err))) return st;
    all->nclasses = 2;
    int64_t row = 0;
    for (int c = 0; c < 2 && !st; c++)
        for (int pair = 0; pair < 9 && !st; pair++) {
            /* the torus of this pair that has class c */
            const int t = 2 * pair + (FLIP[pair] == c ? 0 : 1);
            st = one_torus(p, t, all->x + 3 * row, err);
            for (int64_t i = 0; i < m; i++, row++) {
                all->y[row] = c;
                all->ids[row] = row;
            }
        }
    if (st) {
        nv_dataset_free(all);
        return st;
    }
    /* MaxAbs scaling per coordinate (in double, rounded to float once) */
    for (int k = 0; k < 3; k++) {
        double mx = 0.0;
        for (int64_t i = 0; i < all->n; i++) mx = fmax(mx, fabs((double)all->x[3 * i + k]));
        for (int64_t i = 0; i < all->n; i++) all->x[3 * i + k] = (nv_real)((double)all->x[3 * i + k] / mx);
    }
    return NV_OK;
}

nv_status nv_tori_generate(const nv_tori_params *p, nv_dataset *train, nv_dataset *test, nv_error *err) {
    nv_dataset all;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    nv_status st = nv_tori_sample(p, &all, err);
    if (st) return st;
    st = nv_dataset_split(&all, p->test_fraction, p->seed, train, test, err);
    nv_dataset_free(&all);
    return st;
}

void nv_tori_describe(const nv_tori_params *p, char *buf, size_t len) {
    snprintf(buf, len,
             "tori: nine pairs of linked solid tori in R^3 (D-II-like), points_per_torus %lld, "
             "major_radius %.15g, minor_radius %.15g, spacing %.15g, MaxAbs-scaled, test_fraction %.15g, "
             "seed %llu",
             (long long)p->points_per_torus, p->major_radius, p->minor_radius, p->spacing, p->test_fraction,
             (unsigned long long)p->seed);
}
