/* landmarks.c: landmark subsampling for large inputs (include/nerve/metric.h).
 *
 * Persistent homology of n points costs O(n^2) memory for the distances alone and
 * far more for the complex, so `nerve ph --landmarks COUNT` first picks COUNT rows:
 *   max-min (the greedy permutation; de Silva and Carlsson 2004): start from one
 *     row, repeatedly add the row farthest from the chosen set. The chosen set is
 *     an r-net (every point within r = the cover radius of a landmark, landmarks
 *     pairwise >= r apart) for every prefix. Since the landmarks are a subset at
 *     Hausdorff distance r, the Rips barcodes (filtered by edge length, as Ripser
 *     does) are within bottleneck distance 2r of the full ones (Chazal, de Silva
 *     and Oudot 2014): the recorded cover radius says how close.
 *   random: a uniform sample without replacement from the seeded counter-based RNG
 *     (stream NV_STREAM_LANDMARK), so a run is reproducible from its seed.
 * The method, the seed and the cover radius belong in the output next to the barcode;
 * the caller writes them (src/cli/cmd_ph.c prints the chosen rows).
 *
 * Distances are the Ripser-exact Euclidean ones of metric.c (symmetric to the bit:
 * (a-b)^2 == (b-a)^2 in float), so a max-min choice is the same whatever computes it. Each iteration of max-min updates the n
 * nearest-landmark distances in parallel (rows split over threads, each row's value
 * computed by one thread), then takes the argmax serially: deterministic.
 */
#include "nerve/metric.h"
#include "nerve/parallel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nerve/rng.h"

const char *nv_landmark_name(nv_landmark_kind k) {
    switch (k) {
    case NV_LANDMARK_MAXMIN: return "maxmin";
    case NV_LANDMARK_RANDOM: return "random";
    }
    return "unknown";
}

int nv_landmark_parse(const char *s) {
    if (!s) return -1;
    if (strcmp(s, "maxmin") == 0 || strcmp(s, "max-min") == 0) return NV_LANDMARK_MAXMIN;
    if (strcmp(s, "random") == 0) return NV_LANDMARK_RANDOM;
    return -1;
}

/* Nearest-landmark distances of every point, updated with one new landmark. */
typedef struct {
    const nv_real *x;
    int64_t d;
    const nv_real *land;   /* (d) the newest landmark's row */
    float *mind;           /* (n) distance to the nearest landmark so far */
} update_ctx;

static void update_rows(void *p, int tid, int64_t start, int64_t end) {
    update_ctx *c = p;
    for (int64_t i = start; i < end; i++) {
        float v = nv_metric_euclid_pair(c->x + i * c->d, c->land, c->d);
        if (v < c->mind[i]) c->mind[i] = v;
    }
}

/* Point-major is n*d work per landmark; splitting it is worth a thread only when
 * there is enough of it (a thread start costs ~10-50 us). */
static int threads_for(int64_t n, int64_t d) {
    int t = nv_default_threads();
    if (n * d < 200000) return 1;
    return t;
}

static nv_status maxmin(const nv_real *x, int64_t n, int64_t d, int64_t count, int64_t first,
                        int64_t *idx, double *cover_radius, nv_error *err) {
    float *mind = nv_malloc((size_t)n * sizeof(float), err);
    unsigned char *chosen = mind ? nv_calloc((size_t)n, 1, err) : NULL;
    if (!mind || !chosen) {
        free(mind);
        return NV_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) mind[i] = INFINITY;
    int threads = threads_for(n, d);
    update_ctx c = {x, d, NULL, mind};
    int64_t cur = first;
    for (int64_t s = 0;; s++) {
        idx[s] = cur;
        chosen[cur] = 1;
        c.land = x + cur * d;
        nv_parallel_ranges(n, threads, update_rows, &c);
        if (s + 1 == count) break;
        /* The unchosen point farthest from the chosen set; strict > keeps the lowest
         * index on ties. Skipping chosen rows keeps the landmarks distinct even when
         * only duplicates (distance 0) remain. */
        int64_t best = -1;
        float bestd = -1.0f;
        for (int64_t i = 0; i < n; i++)
            if (!chosen[i] && mind[i] > bestd) {
                bestd = mind[i];
                best = i;
            }
        cur = best; /* exists: count < n */
    }
    if (cover_radius) {
        float r = 0.0f;
        for (int64_t i = 0; i < n; i++)
            if (mind[i] > r) r = mind[i];
        *cover_radius = (double)r;
    }
    free(chosen);
    free(mind);
    return NV_OK;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Partial Fisher-Yates: pick j-th from the n - j not yet picked with draw j of the
 * stream, so the first m picks are the same whatever count is asked for (a larger
 * sample extends a smaller one). */
static nv_status random_sample(const nv_real *x, int64_t n, int64_t d, int64_t count,
                               uint64_t seed, int64_t *idx, double *cover_radius, nv_error *err) {
    uint32_t *perm = nv_malloc((size_t)n * sizeof(uint32_t), err);
    if (!perm) return NV_ENOMEM;
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    for (int64_t j = 0; j < count; j++) {
        uint32_t r = nv_rng_below(seed, NV_STREAM_LANDMARK, (uint64_t)j, (uint32_t)(n - j));
        int64_t t = j + (int64_t)r;
        uint32_t tmp = perm[j];
        perm[j] = perm[t];
        perm[t] = tmp;
        idx[j] = perm[j];
    }
    free(perm);
    qsort(idx, (size_t)count, sizeof(int64_t), cmp_i64);
    if (cover_radius) {
        float *mind = nv_malloc((size_t)n * sizeof(float), err);
        if (!mind) return NV_ENOMEM;
        for (int64_t i = 0; i < n; i++) mind[i] = INFINITY;
        update_ctx c = {x, d, NULL, mind};
        int threads = threads_for(n, d);
        for (int64_t s = 0; s < count; s++) {
            c.land = x + idx[s] * d;
            nv_parallel_ranges(n, threads, update_rows, &c);
        }
        float r = 0.0f;
        for (int64_t i = 0; i < n; i++)
            if (mind[i] > r) r = mind[i];
        *cover_radius = (double)r;
        free(mind);
    }
    return NV_OK;
}

nv_status nv_landmarks_select(const nv_real *x, int64_t n, int64_t d, int64_t count,
                              nv_landmark_kind kind, uint64_t seed, int64_t first,
                              int64_t *idx, double *cover_radius, nv_error *err) {
    const char *who = "nv_landmarks_select";
    nv_status st = nv_metric_check_points(x, n, d, who, err);
    if (st != NV_OK) return st;
    if (!idx) return nv_fail(err, NV_EINPUT, "%s: idx is NULL", who);
    if (count < 1)
        return nv_fail(err, NV_EINPUT, "%s: landmark count %lld: expected >= 1", who,
                       (long long)count);
    if (kind != NV_LANDMARK_MAXMIN && kind != NV_LANDMARK_RANDOM)
        return nv_fail(err, NV_EINPUT, "%s: landmark kind %d: expected maxmin or random", who,
                       (int)kind);
    if (kind == NV_LANDMARK_MAXMIN && (first < 0 || first >= n))
        return nv_fail(err, NV_EINPUT, "%s: first landmark %lld: expected a row in [0, %lld)", who,
                       (long long)first, (long long)n);
    if (kind == NV_LANDMARK_RANDOM && n > (int64_t)UINT32_MAX)
        return nv_fail(err, NV_EINPUT, "%s: random landmarks from %lld rows: at most 2^32 - 1 "
                                       "rows are supported", who, (long long)n);
    if (count >= n) {
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        if (cover_radius) *cover_radius = 0.0;
        return NV_OK;
    }
    if (kind == NV_LANDMARK_MAXMIN) return maxmin(x, n, d, count, first, idx, cover_radius, err);
    return random_sample(x, n, d, count, seed, idx, cover_radius, err);
}
