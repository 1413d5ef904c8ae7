/* calibrate.h: the scale calibration of Naitzat, Zhitnikov and Lim, "Topology of
 * Deep Neural Networks" (JMLR 2020) (analysis/ph/calibrate.c): the kNN graph's k and
 * the scale at which a reference layer shows its known Betti numbers, so that every
 * later layer is read at that same (k, scale). It runs the persistence engine
 * (ph.h) on the distances of the metric module (metric.h).
 */
#ifndef NERVE_CALIBRATE_H
#define NERVE_CALIBRATE_H

#include <stdint.h>

#include "nerve/common.h"
#include "nerve/metric.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Finds the smallest k in [k_min, k_max] and a scale at which the Vietoris-Rips
 * Betti numbers of x under the kNN metric (kind NV_METRIC_KNN_HOPS or _WEIGHTED)
 * equal `target` (target[0..ndims)), choosing the scale in the middle of the
 * longest interval where they do. Returns NV_EINPUT with a message when no k in
 * range achieves the target.
 *
 * The Betti numbers as a function of the scale t are those of the Rips complex at
 * t (bars with birth <= t < death), so they are constant on half-open intervals
 * [lo, hi) between consecutive filtration values; scale_lo and scale_hi are the
 * ends of the longest such run. hi is INFINITY when the target holds at every
 * larger scale (beta0 of a disconnected kNN graph); such a run is measured, and its
 * middle taken, up to the largest finite distance dmax of the metric, past which
 * nothing changes: scale = middle of [lo, max(lo, dmax)]. Ties in length go to the
 * smaller scale. For hop counts the scale is an integer number of hops: the lower
 * middle of the integers lo .. hi-1 (or lo .. dmax).
 * ndims == 1 (beta0 only) is computed by union-find on the kNN graph and never
 * calls the persistence engine; ndims >= 2 runs nv_ph_compute (dense, max_dim =
 * ndims - 1), which must fit in memory for n points (use landmarks first). Scales
 * are in the units of the metric without normalisation. Bad input (NV_EINPUT): x
 * invalid as for nv_distance_matrix, another kind, ndims outside [1, 8], a target
 * outside [0, n], not 1 <= k_min <= k_max < n. */
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
