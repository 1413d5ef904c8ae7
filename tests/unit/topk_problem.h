/* topk_problem.h: random problems for the batched top-k of nerve query's
 * contributions (include/nerve/query.h, nv_topk_problem), shared by the CPU test
 * (tests/unit/test_query.c) and the CUDA parity test (tests/gpu/test_query_parity.c)
 * so both check the kernels on the same inputs. */
#ifndef NERVE_TEST_TOPK_PROBLEM_H
#define NERVE_TEST_TOPK_PROBLEM_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/query.h"
#include "nerve/rng.h"

typedef struct {
    nv_topk_problem p;
    int64_t *start;
    float *dt, *a;
} problem;

/* groups of 1..maxrep rows; values normal, some repeated to make ties, some NaN */
static inline void make(problem *pb, int64_t ngroups, int maxrep, int64_t R, int64_t C, uint64_t seed, int ties, int nans) {
    memset(pb, 0, sizeof *pb);
    pb->start = malloc(sizeof(int64_t) * (size_t)(ngroups + 1));
    int64_t n = 0;
    for (int64_t g = 0; g < ngroups; g++) {
        pb->start[g] = n;
        n += 1 + (int64_t)(nv_rng_u32(seed, NV_STREAM_TEST, (uint64_t)g) % (uint32_t)maxrep);
    }
    pb->start[ngroups] = n;
    pb->dt = malloc(sizeof(float) * (size_t)(R * n + 1));
    pb->a = malloc(sizeof(float) * (size_t)(n * C + 1));
    for (int64_t i = 0; i < R * n; i++) pb->dt[i] = nv_rng_normal(seed + 1, NV_STREAM_TEST, (uint64_t)i);
    for (int64_t i = 0; i < n * C; i++) pb->a[i] = nv_rng_normal(seed + 2, NV_STREAM_TEST, (uint64_t)i);
    if (ties) /* every fifth row repeats the one before: equal sums among groups of one row */
        for (int64_t j = 1; j < n; j += 5) {
            for (int64_t r = 0; r < R; r++) pb->dt[r * n + j] = pb->dt[r * n + j - 1];
            for (int64_t c = 0; c < C; c++) pb->a[j * C + c] = pb->a[(j - 1) * C + c];
        }
    if (nans)
        for (int64_t j = 3; j < n; j += 17) pb->a[j * C + (j % C)] = NAN;
    pb->p = (nv_topk_problem){.ngroups = ngroups, .start = pb->start, .nrows = n, .R = R, .C = C, .dt = pb->dt,
                              .a = pb->a, .r0 = 0, .r1 = R, .c0 = 0, .c1 = C + 1, .k = 5, .by = NV_RANK_ABS};
}

static inline void drop(problem *pb) {
    free(pb->start);
    free(pb->dt);
    free(pb->a);
}

#endif
