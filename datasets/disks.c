/* disks.c: the nine-disks generator, data set D-I of Naitzat, Zhitnikov and Lim,
 * "Topology of Deep Neural Networks" (JMLR 2020): a 2-D point cloud whose class a
 * has nine components (beta0 = 9) and whose class b is connected with nine holes
 * (beta0 = 1, beta1 = 9). dataset.h has the contract of both layouts.
 *
 * The naitzat layout (the default) is the paper's data as its public code builds it
 * (docs/naitzat-di.md): a regular grid over [-10, 10)^2, nine disks of radius 1.3
 * (eight on the circle of radius 7, one at the origin), the ring between 1.3 and 1.8
 * from every centre removed, then each coordinate divided by its largest absolute
 * value. Grid coordinates are -10 + i * step in double; distances are compared
 * squared, in double; so the same parameters give the same bytes everywhere.
 *
 * The grid layout (nerve's first reading of the paper) draws by rejection from the
 * square [-1, 1]^2: candidate t of class c is (2u - 1, 2v - 1) with u, v the two
 * uniforms of RNG elements 2 * idx and 2 * idx + 1 of NV_STREAM_DATA,
 * idx = (c << 40) | t; candidates are tried in order and the first
 * points_per_class that fall in the class's region are kept. */
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

/* The naitzat layout's fixed geometry: the square's half-width and the circle the
 * eight outer centres lie on (the paper's values). */
#define NAITZAT_HALF 10.0
#define NAITZAT_CIRCLE 7.0

const char *nv_disks_layout_name(nv_disks_layout l) {
    return l == NV_DISKS_NAITZAT ? "naitzat" : l == NV_DISKS_GRID ? "grid" : "unknown";
}

int nv_disks_layout_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "naitzat")) return NV_DISKS_NAITZAT;
    if (!strcmp(s, "grid")) return NV_DISKS_GRID;
    return -1;
}

void nv_disks_layout_defaults(nv_disks_params *p, nv_disks_layout layout) {
    memset(p, 0, sizeof *p);
    p->layout = layout;
    p->points_per_class = 2000;
    p->seed = 1;
    p->step = 0.19;
    if (layout == NV_DISKS_GRID) {
        p->radius = 0.2;
        p->gap = 0.05;
        p->test_fraction = 0.2;
    } else {
        p->radius = 1.3;
        p->gap = 0.5;
        p->test_fraction = 0.2;
    }
}

void nv_disks_defaults(nv_disks_params *p) { nv_disks_layout_defaults(p, NV_DISKS_NAITZAT); }

nv_status nv_disks_validate(const nv_disks_params *p, nv_error *err) {
    if (p->layout != NV_DISKS_NAITZAT && p->layout != NV_DISKS_GRID)
        return nv_fail(err, NV_EINPUT, "disks: layout %d: expected naitzat or grid", (int)p->layout);
    if (!(p->radius > 0.0) || !isfinite(p->radius))
        return nv_fail(err, NV_EINPUT, "disks: radius %g: expected a number > 0", p->radius);
    if (!(p->gap >= 0.0) || !isfinite(p->gap))
        return nv_fail(err, NV_EINPUT, "disks: gap %g: expected a number >= 0", p->gap);
    if (!(p->test_fraction >= 0.0 && p->test_fraction < 1.0))
        return nv_fail(err, NV_EINPUT, "disks: test_fraction %g: expected a number in [0, 1)",
                       p->test_fraction);
    if (p->layout == NV_DISKS_NAITZAT) {
        /* neighbouring outer centres are 2 * 7 * sin(22.5 deg) = 5.357 apart, and 7
         * from the origin; each disk with its ring must stay inside the square */
        const double spacing = 2.0 * NAITZAT_CIRCLE * sin(M_PI / 8.0);
        if (!(2.0 * (p->radius + p->gap) < spacing))
            return nv_fail(err, NV_EINPUT,
                           "disks: radius %g + gap %g must be < %.4g (the naitzat layout's disks, "
                           "widened by the gap, must be disjoint)",
                           p->radius, p->gap, spacing / 2.0);
        if (!(NAITZAT_CIRCLE + p->radius + p->gap < NAITZAT_HALF))
            return nv_fail(err, NV_EINPUT,
                           "disks: radius %g + gap %g must be < 3 (the outer disks must stay inside "
                           "the square [-10, 10]^2)",
                           p->radius, p->gap);
        if (!(p->step >= 0.01 && p->step <= 2.0))
            return nv_fail(err, NV_EINPUT, "disks: step %g: expected a number in [0.01, 2]", p->step);
        return NV_OK;
    }
    if (p->points_per_class < 1 || p->points_per_class > 10000000)
        return nv_fail(err, NV_EINPUT, "disks: points_per_class %lld: expected 1 .. 10000000",
                       (long long)p->points_per_class);
    /* the disks must be disjoint and inside the square, widened by the gap:
     * 2 (r + gap) < 2/3 between neighbours, 2/3 + r + gap < 1 at the edges */
    if (!(p->radius + p->gap < 1.0 / 3.0))
        return nv_fail(err, NV_EINPUT,
                       "disks: radius %g + gap %g must be < 1/3 (the disks, widened by the gap, must be "
                       "disjoint and inside the square)",
                       p->radius, p->gap);
    return NV_OK;
}

/* Squared distance from (x, y) to the nearest naitzat centre. */
static double naitzat_d2(double x, double y) {
    /* the eight outer centres at 0, 45, ..., 315 degrees; cos 45 deg as sqrt(0.5),
     * which IEEE arithmetic rounds the same everywhere (libm's cos need not) */
    const double h = sqrt(0.5);
    static const double u[8][2] = {{1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}};
    double best = x * x + y * y;
    for (int a = 0; a < 8; a++) {
        const double f = (a % 2) ? h : 1.0;
        const double cx = NAITZAT_CIRCLE * f * u[a][0], cy = NAITZAT_CIRCLE * f * u[a][1];
        const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        if (d2 < best) best = d2;
    }
    return best;
}

double nv_disks_naitzat_distance(double x, double y) { return sqrt(naitzat_d2(x, y)); }

/* The naitzat layout: the grid, classified, the ring removed, MaxAbs-scaled. Two
 * passes over the grid: the first counts each class and finds each coordinate's
 * largest absolute value over the kept points; the second stores class 0, then
 * class 1, in grid order (y outer, x inner, as numpy's meshgrid), each coordinate
 * divided by its largest absolute value in double and rounded to float once. */
static nv_status sample_naitzat(const nv_disks_params *p, nv_dataset *all, nv_error *err) {
    int64_t m = 0;
    while (-NAITZAT_HALF + (double)m * p->step < NAITZAT_HALF) m++;
    const double r2 = p->radius * p->radius, o2 = (p->radius + p->gap) * (p->radius + p->gap);
    int64_t count[2] = {0, 0};
    double mx[2] = {0.0, 0.0};
    for (int pass = 0; pass < 2; pass++) {
        int64_t row[2] = {0, count[0]};
        for (int64_t iy = 0; iy < m; iy++)
            for (int64_t ix = 0; ix < m; ix++) {
                const double x = -NAITZAT_HALF + (double)ix * p->step, y = -NAITZAT_HALF + (double)iy * p->step;
                const double d2 = naitzat_d2(x, y);
                const int c = d2 < r2 ? 0 : d2 < o2 ? -1 : 1;
                if (c < 0) continue;
                if (pass == 0) {
                    count[c]++;
                    mx[0] = fmax(mx[0], fabs(x));
                    mx[1] = fmax(mx[1], fabs(y));
                    continue;
                }
                int64_t i = row[c]++;
                all->x[2 * i] = (nv_real)(x / mx[0]);
                all->x[2 * i + 1] = (nv_real)(y / mx[1]);
                all->y[i] = c;
                all->ids[i] = i;
            }
        if (pass == 0) {
            if (count[0] == 0 || count[1] == 0)
                return nv_fail(err, NV_EINPUT, "disks: step %g leaves class %d empty; use a smaller step",
                               p->step, count[0] == 0 ? 0 : 1);
            nv_status st = nv_dataset_alloc(all, count[0] + count[1], 2, err);
            if (st) return st;
            all->nclasses = 2;
        }
    }
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
    if (p->layout == NV_DISKS_NAITZAT) return sample_naitzat(p, all, err);
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
    if (p->layout == NV_DISKS_NAITZAT)
        snprintf(buf, len,
                 "disks: Naitzat et al.'s D-I, grid step %.15g over [-10,10)^2, nine disks of radius "
                 "%.15g (eight on the circle of radius 7, one at the origin), ring %.15g removed, "
                 "MaxAbs-scaled, test_fraction %.15g, seed %llu",
                 p->step, p->radius, p->gap, p->test_fraction, (unsigned long long)p->seed);
    else
        snprintf(buf, len,
                 "disks: nine disks on a 3x3 grid in [-1,1]^2, points_per_class %lld, radius %.15g, "
                 "gap %.15g, test_fraction %.15g, seed %llu",
                 (long long)p->points_per_class, p->radius, p->gap, p->test_fraction,
                 (unsigned long long)p->seed);
}
