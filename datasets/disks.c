/* disks.c: the nine-disks generator, data set D-I of Naitzat, Zhitnikov and Lim,
 * "Topology of Deep Neural Networks" (JMLR 2020): a 2-D point cloud whose class a
 * has nine components (beta0 = 9) and whose class b is connected with nine holes
 * (beta0 = 1, beta1 = 9).
 *
 * Geometry (dataset.h has the contract): the square [-1, 1]^2 and nine disks of
 * radius r centred on the 3 x 3 grid {-2/3, 0, 2/3}^2. Class 0 (a) is uniform in the
 * union of the disks; class 1 (b) is uniform in the square minus the disks widened
 * by `gap` (so the classes are separated by a band of width gap).
 *
 * Sampling is rejection from the square: candidate t of class c is
 * (2u - 1, 2v - 1) with u, v the two uniforms of RNG elements 2 * idx and
 * 2 * idx + 1 of NV_STREAM_DATA, idx = (c << 40) | t; candidates are tried in
 * order and the first points_per_class that fall in the class's region are kept.
 * Uniform restricted to a region is uniform on it, every draw has a fixed index,
 * and the arithmetic is a few double operations on exact float uniforms, so the
 * same parameters give the same bytes on every machine. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nerve/dataset.h"
#include "nerve/rng.h"

/* Candidates tried per wanted point before giving up (class a covers about 28% of
 * the square at the default radius; a radius so small that this is not enough is
 * refused rather than looping). */
#define CANDIDATES_PER_POINT 1000
#define GRID_STEP (2.0 / 3.0)

void nv_disks_defaults(nv_disks_params *p) {
    memset(p, 0, sizeof *p);
    p->points_per_class = 2000;
    p->radius = 0.2;
    p->gap = 0.05;
    p->test_fraction = 0.2;
    p->seed = 1;
}

nv_status nv_disks_validate(const nv_disks_params *p, nv_error *err) {
    if (p->points_per_class < 1 || p->points_per_class > 10000000)
        return nv_fail(err, NV_EINPUT, "disks: points_per_class %lld: expected 1 .. 10000000",
                       (long long)p->points_per_class);
    /* the disks must be disjoint and inside the square, widened by the gap:
     * 2 (r + gap) < 2/3 between neighbours, 2/3 + r + gap < 1 at the edges */
    if (!(p->radius > 0.0) || !isfinite(p->radius))
        return nv_fail(err, NV_EINPUT, "disks: radius %g: expected a number > 0", p->radius);
    if (!(p->gap >= 0.0) || !isfinite(p->gap))
        return nv_fail(err, NV_EINPUT, "disks: gap %g: expected a number >= 0", p->gap);
    if (!(p->radius + p->gap < 1.0 / 3.0))
        return nv_fail(err, NV_EINPUT,
                       "disks: radius %g + gap %g must be < 1/3 (the disks, widened by the gap, must be "
                       "disjoint and inside the square)",
                       p->radius, p->gap);
    if (!(p->test_fraction >= 0.0 && p->test_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "disks: test_fraction %g: expected a number in [0, 1)",
                       p->test_fraction);
    return NV_OK;
}

double nv_disks_distance(double x, double y) {
    /* the nearest centre is the grid point nearest in each coordinate */
    double cx = GRID_STEP * floor(x / GRID_STEP + 0.5), cy = GRID_STEP * floor(y / GRID_STEP + 0.5);
    if (cx < -GRID_STEP) cx = -GRID_STEP;
    if (cx > GRID_STEP) cx = GRID_STEP;
    if (cy < -GRID_STEP) cy = -GRID_STEP;
    if (cy > GRID_STEP) cy = GRID_STEP;
    return sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
}

nv_status nv_disks_sample(const nv_disks_params *p, nv_dataset *all, nv_error *err) {
    nv_status st;
    memset(all, 0, sizeof *all);
    if ((st = nv_disks_validate(p, err))) return st;
    const int64_t npc = p->points_per_class;
    if ((st = nv_dataset_alloc(all, 2 * npc, 2, err))) return st;
    all->nclasses = 2;
    const uint64_t max_cand = (uint64_t)npc * CANDIDATES_PER_POINT;
    int64_t row = 0;
    for (int c = 0; c < 2; c++) {
        int64_t got = 0;
        for (uint64_t t = 0; t < max_cand && got < npc; t++) {
            const uint64_t idx = ((uint64_t)c << 40) | t;
            const double x = 2.0 * (double)nv_rng_uniform(p->seed, NV_STREAM_DATA, 2 * idx) - 1.0;
            const double y = 2.0 * (double)nv_rng_uniform(p->seed, NV_STREAM_DATA, 2 * idx + 1) - 1.0;
            const double dist = nv_disks_distance(x, y);
            const int keep = c == 0 ? dist <= p->radius : dist > p->radius + p->gap;
            if (!keep) continue;
            all->x[row * 2] = (nv_real)x;
            all->x[row * 2 + 1] = (nv_real)y;
            all->y[row] = c;
            all->ids[row] = row;
            row++;
            got++;
        }
        if (got < npc) {
            nv_dataset_free(all);
            return nv_fail(err, NV_EINPUT,
                           "disks: class %d: only %lld of %lld points after %llu candidates; "
                           "enlarge the radius",
                           c, (long long)got, (long long)npc, (unsigned long long)max_cand);
        }
    }
    return NV_OK;
}

nv_status nv_disks_generate(const nv_disks_params *p, nv_dataset *train, nv_dataset *test,
                            nv_error *err) {
    nv_dataset all;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    nv_status st = nv_disks_sample(p, &all, err);
    if (st) return st;
    st = nv_dataset_split(&all, p->test_fraction, p->seed, train, test, err);
    nv_dataset_free(&all);
    return st;
}

void nv_disks_describe(const nv_disks_params *p, char *buf, size_t len) {
    snprintf(buf, len,
             "disks: nine disks on a 3x3 grid in [-1,1]^2, points_per_class %lld, radius %.15g, "
             "gap %.15g, test_fraction %.15g, seed %llu",
             (long long)p->points_per_class, p->radius, p->gap, p->test_fraction,
             (unsigned long long)p->seed);
}
