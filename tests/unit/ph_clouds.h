/* ph_clouds.h: the point clouds of the CPU oracle suite (tests/integration/
 * ph_ripser.py) rebuilt in C from the project's RNG, for the tests of the GPU
 * stages: the unit test of their CPU references (tests/unit/test_ph_gpu.c) and the
 * GPU parity test (tests/gpu/test_ph_parity.c) use the same clouds, and the same
 * exact comparison of two results. Include after testutil.h (cmocka). */
#ifndef NERVE_TEST_PH_CLOUDS_H
#define NERVE_TEST_PH_CLOUDS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "nerve/ph.h"
#include "nerve/rng.h"

typedef enum {
    PH_CLOUD_CIRCLE = 0,   /* noisy circle in R^2 */
    PH_CLOUD_TWO_CIRCLES,  /* two crossing circles in R^2 */
    PH_CLOUD_SPHERE,       /* 2-sphere in R^3 */
    PH_CLOUD_TORUS,        /* torus in R^3 */
    PH_CLOUD_R8,           /* uniform in the cube of R^8 */
    PH_CLOUD_GRID,         /* integer grid in R^2: many equal distances (ties) */
    PH_CLOUD_DUPLICATES,   /* a circle whose points each appear twice (zero edges) */
    PH_CLOUD_KINDS
} ph_cloud_kind;

static const char *const ph_cloud_names[PH_CLOUD_KINDS] = {
    "circle", "two-circles", "sphere", "torus", "R^8", "grid", "duplicates"};

static inline float ph_cloud_u(uint64_t seed, uint64_t i) {
    return nv_rng_uniform(seed, NV_STREAM_TEST, i);
}

/* n points of the kind (n, *dim), malloc'd. */
static inline float *ph_cloud_make(ph_cloud_kind kind, int64_t n, uint64_t seed, int64_t *dim) {
    int64_t d = kind == PH_CLOUD_R8 ? 8 : (kind == PH_CLOUD_SPHERE || kind == PH_CLOUD_TORUS) ? 3 : 2;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    const double tau = 6.283185307179586;
    for (int64_t i = 0; i < n; i++) {
        double a = tau * ph_cloud_u(seed, 4 * i), b = tau * ph_cloud_u(seed, 4 * i + 1);
        double e1 = 0.1 * (ph_cloud_u(seed, 4 * i + 2) - 0.5), e2 = 0.1 * (ph_cloud_u(seed, 4 * i + 3) - 0.5);
        float *p = x + i * d;
        switch (kind) {
        case PH_CLOUD_CIRCLE:
            p[0] = (float)(cos(a) + e1);
            p[1] = (float)(sin(a) + e2);
            break;
        case PH_CLOUD_TWO_CIRCLES:
            p[0] = (float)(cos(a) + (i % 2 ? 1.2 : 0.0) + e1);
            p[1] = (float)(sin(a) + e2);
            break;
        case PH_CLOUD_SPHERE: {
            double z = 2.0 * ph_cloud_u(seed, 4 * i + 2) - 1.0, r = sqrt(1.0 - z * z);
            p[0] = (float)(r * cos(a));
            p[1] = (float)(r * sin(a));
            p[2] = (float)z;
            break;
        }
        case PH_CLOUD_TORUS:
            p[0] = (float)((2.0 + cos(b)) * cos(a));
            p[1] = (float)((2.0 + cos(b)) * sin(a));
            p[2] = (float)sin(b);
            break;
        case PH_CLOUD_R8:
            for (int64_t k = 0; k < 8; k++) p[k] = ph_cloud_u(seed, 8 * i + k);
            break;
        case PH_CLOUD_GRID: {
            int64_t side = (int64_t)ceil(sqrt((double)n));
            p[0] = (float)(i % side);
            p[1] = (float)(i / side);
            break;
        }
        case PH_CLOUD_DUPLICATES: {
            double c = tau * ph_cloud_u(seed, 4 * (i / 2));
            p[0] = (float)cos(c);
            p[1] = (float)sin(c);
            break;
        }
        default:
            break;
        }
    }
    *dim = d;
    return x;
}

/* The engine's defaults for a dense cloud up to max_dim, recording simplices (what
 * the exact comparisons below need). */
static inline nv_ph_params ph_params(int max_dim) {
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = max_dim;
    p.want_simplices = 1;
    return p;
}

/* The engine on a dense lower triangle of n points; a failure fails the test, and a
 * device asked for (not AUTO) must be the one that ran. */
static inline nv_ph_result ph_run_dense(const float *lower, int64_t n, const nv_ph_params *p) {
    nv_ph_input in = {NV_PH_DENSE, n, lower, NULL, NULL, NULL};
    nv_ph_result r;
    nv_error err = {0};
    if (nv_ph_compute(&in, p, &r, &err)) fail_msg("nv_ph_compute: %s", err.msg);
    if (p->device != NV_DEVICE_AUTO) assert_int_equal(r.device, p->device);
    return r;
}

/* Two results with the same pairs in the same order: dimension, birth, death and
 * both simplices (exact; this implies docs/CONTRACTS.md's matching rule). */
static inline void assert_same_pairs(const nv_ph_result *a, const nv_ph_result *b, const char *what) {
    if (a->count != b->count) fail_msg("%s: %lld pairs vs %lld", what, (long long)a->count, (long long)b->count);
    for (int64_t i = 0; i < a->count; i++) {
        const nv_ph_pair *x = &a->pairs[i], *y = &b->pairs[i];
        if (x->dim != y->dim || x->birth != y->birth || x->death != y->death ||
            x->birth_simplex != y->birth_simplex || x->death_simplex != y->death_simplex)
            fail_msg("%s: pair %lld: (%d %g %g %lld %lld) vs (%d %g %g %lld %lld)", what, (long long)i,
                     x->dim, x->birth, x->death, (long long)x->birth_simplex, (long long)x->death_simplex,
                     y->dim, y->birth, y->death, (long long)y->birth_simplex, (long long)y->death_simplex);
    }
}

#endif
