/* metric.h: the distances persistent homology is computed on (analysis/metric.c),
 * landmark subsampling (analysis/landmarks.c), and the scale calibration of
 * Naitzat, Zhitnikov and Lim, "Topology of Deep Neural Networks" (JMLR 2020).
 *
 * Why more than Euclidean: deep layers of a trained net stretch and fold the data,
 * and Vietoris-Rips at a fixed Euclidean scale then sees dust (beta0 in the tens)
 * where the graph-geodesic distance on a k-nearest-neighbour graph sees the
 * components the paper reports. Betti numbers are read at one scale calibrated on a
 * reference layer (the input), then kept for every layer.
 *
 * Distance matrices are dense compressed lower triangles (n*(n-1)/2 floats,
 * entry (i, j), i > j, at i*(i-1)/2 + j), the engine's nv_ph_input layout. Pairs
 * the kNN graph does not connect are INFINITY. Every function allocates its output
 * with malloc; the caller frees.
 */
#ifndef NERVE_METRIC_H
#define NERVE_METRIC_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NV_METRIC_EUCLIDEAN = 0,
    NV_METRIC_COSINE,        /* 1 - cos(angle); a zero vector is an error */
    NV_METRIC_KNN_HOPS,      /* hop count on the symmetrised kNN graph */
    NV_METRIC_KNN_WEIGHTED   /* shortest path with Euclidean edge lengths */
} nv_metric_kind;

typedef struct {
    nv_metric_kind kind;
    int k;                   /* neighbours for the kNN graph (Naitzat et al.: 14) */
    int normalize;           /* 1: divide by the median k-th neighbour Euclidean
                                distance (per-layer scale normalisation) */
} nv_metric_spec;

const char *nv_metric_name(nv_metric_kind k);
int nv_metric_parse(const char *s);  /* "euclidean", "cosine", "knn-hops", "knn-weighted"; -1 */

/* Pairwise distances of x (n, d) under m, into *lower (malloc'd). Euclidean
 * distances are computed from coordinate differences, accumulated in double, and
 * rounded to float once, exactly as Ripser 1.2.1's point-cloud reader does. */
nv_status nv_distance_matrix(const nv_real *x, int64_t n, int64_t d, const nv_metric_spec *m,
                             float **lower, nv_error *err);

/* The sub-matrix of `lower` (n points) on the vertices idx[0..count). */
nv_status nv_distance_restrict(const float *lower, int64_t n, const int64_t *idx, int64_t count,
                               float **sub, nv_error *err);

/* --- landmarks ----------------------------------------------------------------- */
typedef enum { NV_LANDMARK_MAXMIN = 0, NV_LANDMARK_RANDOM } nv_landmark_kind;

/* Chooses `count` of the n rows of x (n, d): max-min (greedy permutation, Euclidean,
 * starting from row `first`) or uniformly at random from the seeded RNG (stream
 * NV_STREAM_LANDMARK), sorted ascending for random. idx (count) is caller-provided.
 * *cover_radius (may be NULL) gets the max over points of the distance to the
 * nearest landmark. count >= n selects every row. */
nv_status nv_landmarks_select(const nv_real *x, int64_t n, int64_t d, int64_t count,
                              nv_landmark_kind kind, uint64_t seed, int64_t first,
                              int64_t *idx, double *cover_radius, nv_error *err);

/* --- calibration ---------------------------------------------------------------- */
/* Finds the smallest k in [k_min, k_max] and a scale at which the Vietoris-Rips
 * Betti numbers of x under the kNN metric (kind NV_METRIC_KNN_HOPS or _WEIGHTED)
 * equal `target` (target[0..ndims)), choosing the scale in the middle of the
 * longest interval where they do. Returns NV_EINPUT with a message when no k in
 * range achieves the target. */
typedef struct {
    int k;
    float scale;
    float scale_lo, scale_hi;   /* the interval of scales with the target Betti numbers */
} nv_calibration;

nv_status nv_calibrate(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                       const int64_t *target, int ndims, int k_min, int k_max,
                       nv_calibration *out, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
