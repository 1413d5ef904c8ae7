/* ph_stages.h: the stages of the persistent homology engine that can run on a GPU,
 * each with one contract and two implementations: a plain CPU reference
 * (analysis/ph/ph_stages.c, in libnerve) and a CUDA one (cuda/ph_stages.cu, in the
 * plug-in libnerve_cuda.so, found through src/core/device.c). The split is the one
 * of Ripser++ (Zhang, Xiao, Wang, "GPU-accelerated computation of Vietoris-Rips
 * persistence barcodes", SoCG 2020): the embarrassingly parallel work on the GPU,
 * the column reduction (sequential by nature) on the CPU.
 *
 *   1. distances   points -> the dense lower triangle (Euclidean, cosine), from
 *                  coordinate differences / dot products in the CPU's exact order, so
 *                  the floats are the same bits (docs/CONTRACTS.md: never |x|^2 + |y|^2 -
 *                  2 x.y, which loses the precision that decides ties and tiny bars)
 *   2. edges       the edges under a threshold in filtration order (a device sort);
 *                  nv_ph_h0_from_edges turns them into the H0 bars (CPU, union-find)
 *   3. columns     the d-simplices under the threshold that the reduction must
 *                  process: not cleared (not a pivot of dimension d-1) and in no
 *                  apparent pair, in reduction order
 * nv_ph_compute (ph.h) takes stage 3 from here when nv_ph_params.device says so
 * (analysis/ph/ph_device.c decides, per call, by size). Stage 1 is the metric
 * module's (metric.h, nv_metric_distances), as are the kNN-graph distances.
 *
 * STATUS: the CUDA code compiles (sm_90 + PTX) but has not yet been run on a GPU;
 * tests/gpu/test_ph_parity.c checks it against the references here where there is
 * one. The references are checked against the engine in tests/unit/test_ph_gpu.c.
 *
 * Conventions shared by every stage:
 *  - lower: the engine's dense compressed lower triangle, lower[i(i-1)/2 + j] =
 *    d(i, j) for 0 <= j < i < n. The colex index of edge {j < i} is that position.
 *  - An edge is present when its length is <= threshold and finite; a simplex when
 *    all its edges are; its diameter is its longest edge (0 for a vertex). Pass the
 *    threshold the engine uses (the enclosing radius when the user gave none).
 *  - Filtration order: diameter ascending, ties by decreasing colex index (Ripser's
 *    order). Reduction order is its reverse: diameter descending, index ascending.
 *  - Zero-apparent pairs (Bauer 2021, section 3.5): the zero pivot cofacet of a
 *    simplex s is its earliest cofacet (in filtration order) of the same diameter,
 *    if any; the zero pivot facet of t its latest facet of the same diameter. (s, t)
 *    is an apparent pair when each is the other's. Both implementations decide this
 *    from the distances alone, exactly as analysis/ph/ph.c does.
 *
 * Ownership: every array a stage returns is malloc'd by it and freed by the caller
 * with free(); on failure nothing is allocated and the pointer is NULL. The GPU
 * side allocates from actual counts (counting before it allocates the output) in
 * chunks of bounded size, and frees everything before returning: nothing stays on
 * the device between calls.
 */
#ifndef NERVE_PH_GPU_H
#define NERVE_PH_GPU_H

#include "nerve/common.h"
#include "nerve/metric.h" /* nv_metric_kind */
#include "nerve/device.h"
#include "nerve/ph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Highest column dimension the GPU stage handles (the cofacets then have
 * NV_PH_GPU_MAX_DIM + 2 vertices, kept in registers). Above it the CPU runs. */
#define NV_PH_GPU_MAX_DIM 6

/* nv_ph_params.device = AUTO uses the GPU stages from this many points on, unless
 * gpu_min_points says otherwise. Until the GPU stages have run on a GPU
 * (make test-gpu, bench/ph_gpu.sh) AUTO does not choose them by itself: the rule is
 * "never", and a user opts in with --gpu-min-points N or asks with --device cuda.
 * bench/ph_gpu.sh on a GPU machine is what should set a real size here. */
#define NV_PH_GPU_MIN_POINTS INT64_MAX

/* nv_ph_compute_batch runs inputs of at least this many points one at a time with
 * every thread, and the smaller ones in parallel with one thread each. */
#define NV_PH_BATCH_LARGE_POINTS 1000

/* A simplex by its colex index, with its diameter (16 bytes; the engine stores 12). */
typedef struct {
    int64_t idx;
    float diam;
} nv_ph_simplex;

/* What the column stage saw, for benchmarks (the fraction of apparent pairs). */
typedef struct {
    int64_t candidates;  /* d-simplices examined (stage 3 of the GPU: C(n, d+1)) */
    int64_t present;     /* of those, diameter <= threshold */
    int64_t cleared;     /* present and a pivot of dimension d-1 */
    int64_t apparent;    /* present, not cleared, in an apparent pair */
    int64_t columns;     /* the rest: returned */
} nv_ph_column_stats;

/* --- 2. edges and dimension 0 ---------------------------------------------------- */

/* The present edges of lower (n points) in filtration order: *edges (malloc'd,
 * *count entries). */
nv_status nv_ph_edges_cpu(const float *lower, int64_t n, float threshold, nv_ph_simplex **edges,
                          int64_t *count, nv_error *err);
nv_status nv_ph_edges_cuda(const float *lower, int64_t n, float threshold, nv_ph_simplex **edges,
                           int64_t *count, nv_error *err);

/* H0 from the edges in filtration order (n vertices): union-find with the elder
 * rule as the engine applies it (of two merging components the one whose largest
 * vertex is smaller dies), so the bars, birth vertices and death edges are the
 * engine's. Appends to *pairs (realloc'd; *npairs entries) the finite bars of
 * nonzero length (birth 0, death the edge, birth_simplex the vertex,
 * death_simplex the edge) and one essential bar per component; *tree (malloc'd,
 * *ntree entries, ascending) gets the indices of the edges that merged, the
 * pivots of dimension 0 that clear the columns of dimension 1. */
nv_status nv_ph_h0_from_edges(const nv_ph_simplex *edges, int64_t count, int64_t n,
                              nv_ph_pair **pairs, int64_t *npairs, int64_t **tree,
                              int64_t *ntree, nv_error *err);

/* --- 3. columns -------------------------------------------------------------------- */

/* The columns of dimension d (1 <= d <= NV_PH_GPU_MAX_DIM) of the filtration of
 * lower (n points) under threshold: the present d-simplices that are not in
 * cleared[0..ncleared) (ascending colex indices: the pivots of dimension d-1, or the
 * spanning-tree edges for d = 1), not the facet of an apparent pair (their zero
 * pivot cofacet's zero pivot facet is not themselves) and not the cofacet of one,
 * in reduction order: *cols malloc'd, *ncols entries. stats may be NULL.
 * NV_EINPUT when C(n, d + 2) does not fit in 63 bits. */
nv_status nv_ph_columns_cpu(const float *lower, int64_t n, float threshold, int d,
                            const int64_t *cleared, int64_t ncleared, nv_ph_simplex **cols,
                            int64_t *ncols, nv_ph_column_stats *stats, nv_error *err);
nv_status nv_ph_columns_cuda(const float *lower, int64_t n, float threshold, int d,
                             const int64_t *cleared, int64_t ncleared, nv_ph_simplex **cols,
                             int64_t *ncols, nv_ph_column_stats *stats, nv_error *err);

/* The column stage as the engine calls it: a backend is the pair of functions of one
 * device. nv_ph_stages_select (analysis/ph/ph_device.c) is the one place that chooses. */
typedef nv_status (*nv_ph_columns_fn)(const float *lower, int64_t n, float threshold, int d,
                                      const int64_t *cleared, int64_t ncleared,
                                      nv_ph_simplex **cols, int64_t *ncols,
                                      nv_ph_column_stats *stats, nv_error *err);
typedef struct {
    nv_device_kind device;       /* where the stage runs */
    nv_ph_columns_fn columns;
} nv_ph_stages;

/* Which backend nv_ph_compute uses for the column stage, or none (*use = 0: the
 * engine's own clique search runs, unchanged). The stages apply only to dense input
 * without keep_long_edges and max_dim <= NV_PH_GPU_MAX_DIM. p->device: CPU: none;
 * AUTO: CUDA when built, usable and n >= the size rule (p->gpu_min_points, default
 * NV_PH_GPU_MIN_POINTS); CUDA: CUDA or NV_EDEVICE / NV_EINPUT saying why not.
 * p->stages_reference: the CPU references instead (tests, no GPU needed). */
nv_status nv_ph_stages_select(const nv_ph_input *in, const nv_ph_params *p, nv_ph_stages *out,
                              int *use, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
