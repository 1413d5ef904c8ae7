/* metric.h: the distances persistent homology is computed on (analysis/metric/metric.c),
 * landmark subsampling (analysis/metric/landmarks.c), and the scale calibration of
 * Naitzat, Zhitnikov and Lim, "Topology of Deep Neural Networks" (JMLR 2020)
 * (analysis/ph/calibrate.c). docs/metric.md explains when to use which.
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
 * with malloc; the caller frees (free()). On failure nothing is allocated and
 * *lower / *sub is set to NULL.
 *
 * Determinism: every result is the same bytes for any thread count (each entry is
 * computed by one thread in a fixed order; threads only split the rows).
 */
#ifndef NERVE_METRIC_H
#define NERVE_METRIC_H

#include "nerve/common.h"
#include "nerve/device.h"

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
    int k;                   /* neighbours for the kNN graph (Naitzat et al.: 14), and
                                the k of the normalisation; ignored (may be 0) for
                                euclidean/cosine without normalisation */
    int normalize;           /* 1: divide by the median over points of the k-th
                                nearest-neighbour distance (per-layer scale
                                normalisation): Euclidean for euclidean and
                                knn-weighted, cosine for cosine. Refused (NV_EINPUT)
                                for knn-hops: hop counts have no scale to remove. */
    nv_device_kind device;   /* where the graph distances of knn-hops/knn-weighted run:
                                CUDA asks for the GPU (ph_stages.h, nv_metric_geodesic; the
                                same floats); AUTO (0) and CPU run them here */
} nv_metric_spec;

const char *nv_metric_name(nv_metric_kind k);  /* "euclidean", ...; "unknown" */
int nv_metric_parse(const char *s);  /* "euclidean", "cosine", "knn-hops", "knn-weighted"; -1 */

/* Pairwise distances of x (n, d) under m, into *lower (malloc'd, n*(n-1)/2).
 *
 * Euclidean distances are computed exactly as Ripser 1.2.1's point-cloud reader
 * does (ripser.cpp, euclidean_distance_matrix, value_t = float): coordinate
 * differences squared and summed in float from 0.0f in coordinate order, sqrtf of
 * the sum. So `nerve ph` on a point cloud reads the same floats as `ripser
 * --format point-cloud`, and barcodes match to the bit. (An earlier version of this
 * comment said "accumulated in double": Ripser does not do that; see
 * docs/metric.md.)
 *
 * Cosine: 1 - x.y / (|x| |y|) in double, clamped to >= 0, rounded to float.
 * kNN: each point's k nearest neighbours (Euclidean, ties to the lower index); an
 * edge joins i and j when either is among the other's k nearest; hops are BFS
 * hop counts, weighted distances Dijkstra sums of the Euclidean edge lengths (in
 * double, rounded to float once).
 * Bad input (NV_EINPUT, naming what and where): x NULL, n < 1, d < 1, a NaN or Inf
 * coordinate (row, column), a zero row under cosine, k < 1 or k >= n where k is
 * needed, normalisation of hop counts, a zero median k-th neighbour distance. */
nv_status nv_distance_matrix(const nv_real *x, int64_t n, int64_t d, const nv_metric_spec *m,
                             float **lower, nv_error *err);

/* The same from a given distance matrix `base` (n points, compressed lower, finite
 * and >= 0) instead of coordinates, for `--format distance` input: kind
 * NV_METRIC_EUCLIDEAN means "base as it is" (copied, optionally normalised); the
 * kNN kinds build the graph on base (edge lengths = base entries); cosine needs
 * coordinates and is refused. */
nv_status nv_distance_from_matrix(const float *base, int64_t n, const nv_metric_spec *m,
                                  float **lower, nv_error *err);

/* The median over the n points of the distance to the k-th nearest other point
 * under `lower` (ties do not matter: it is a distance, not an index); for even n
 * the mean of the two middle values, in double. 1 <= k < n. This is the divisor
 * of spec.normalize; exposed so that outputs can record it. */
nv_status nv_median_kth_neighbor(const float *lower, int64_t n, int k, double *median,
                                 nv_error *err);

/* The sub-matrix of `lower` (n points) on the vertices idx[0..count), in that
 * order: sub entry (a, b), a > b, is d(idx[a], idx[b]); a repeated index gives 0.
 * count >= 0; every idx in [0, n). *sub is malloc'd (count*(count-1)/2). */
nv_status nv_distance_restrict(const float *lower, int64_t n, const int64_t *idx, int64_t count,
                               float **sub, nv_error *err);

/* Distances among the landmarks idx[0..count) of x (n, d) under m: the same floats
 * as nv_distance_restrict(nv_distance_matrix(x, n, d, m), idx) but without the
 * n x n matrix, for large n. The kNN graph (and the normalisation's median) are
 * built on all n points, so graph distances between landmarks run through every
 * point, as the full matrix's do; the searches start from the landmarks only.
 * Memory O(n k + count^2 + threads n); time O(n^2 d) for the neighbour search.
 * *sub is malloc'd (count*(count-1)/2); idx as for nv_distance_restrict. */
nv_status nv_distance_landmarks(const nv_real *x, int64_t n, int64_t d, const nv_metric_spec *m,
                                const int64_t *idx, int64_t count, float **sub, nv_error *err);

/* --- landmarks ----------------------------------------------------------------- */
typedef enum { NV_LANDMARK_MAXMIN = 0, NV_LANDMARK_RANDOM } nv_landmark_kind;

const char *nv_landmark_name(nv_landmark_kind k);  /* "maxmin", "random"; "unknown" */
int nv_landmark_parse(const char *s);              /* "maxmin" (or "max-min"), "random"; -1 */

/* Chooses `count` of the n rows of x (n, d): max-min (greedy permutation, Euclidean
 * distances as nv_distance_matrix computes them, starting from row `first`, each
 * next landmark the point farthest from those chosen, ties to the lowest index;
 * idx in selection order) or uniformly at random without replacement from the
 * seeded RNG (stream NV_STREAM_LANDMARK, draw j for the j-th pick; `first`
 * ignored), sorted ascending. idx (min(count, n) entries) is caller-provided.
 * *cover_radius (may be NULL) gets the max over points of the Euclidean distance to
 * the nearest landmark (for random this costs n*count*d more work; pass NULL to
 * skip it). count >= n selects every row: idx = 0..n-1, cover radius 0.
 * Bad input: x or idx NULL, n < 1, d < 1, count < 1, first outside [0, n) for
 * max-min, NaN/Inf coordinates, n >= 2^32 for random. */
nv_status nv_landmarks_select(const nv_real *x, int64_t n, int64_t d, int64_t count,
                              nv_landmark_kind kind, uint64_t seed, int64_t first,
                              int64_t *idx, double *cover_radius, nv_error *err);

/* --- neighbour ranks from coordinates (analysis/metric/neighbors.c) ------------
 * For readings that use the order of distances only (the labelled kNN filtration,
 * labelled.h; the minimum spanning tree): squared Euclidean distances accumulated
 * in double from the float coordinates, never rooted, so rescaling every point by
 * the same c > 0 leaves every rank unchanged (exactly for c a power of two; for
 * other c up to the float rounding of the scaled coordinates themselves). */

/* The k nearest other points of each row of x (n, d), nearest first, ties to the
 * lower index: *nb (n, k) malloc'd. threads <= 0: nv_default_threads(); the result
 * does not depend on it. O(n^2 d) time, O(n k) memory. Bad input: as
 * nv_distance_matrix's points, k < 1 or k >= n. */
nv_status nv_metric_knn_points(const nv_real *x, int64_t n, int64_t d, int k, int threads,
                               int64_t **nb, nv_error *err);

/* A Euclidean minimum spanning tree of the rows of x (n, d) (Prim's algorithm from
 * row 0 on the complete graph, O(n^2 d)): *parent (n) malloc'd, parent[0] = -1 and
 * every other row's neighbour towards row 0. Ties: the next vertex is the lowest
 * index among the nearest; its parent the tree vertex that reached it first. */
nv_status nv_metric_mst_points(const nv_real *x, int64_t n, int64_t d, int64_t **parent,
                               nv_error *err);

/* --- internals shared by analysis/metric/metric.c, landmarks.c and ph/calibrate.c ---
 * Not part of the stable API (no validation beyond what is stated); declared here
 * because those files share them and the project keeps one header per module. */
/* NV_EINPUT unless x is non-NULL, n >= 1, d >= 1 and every coordinate finite;
 * `who` starts the message. */
nv_status nv_metric_check_points(const nv_real *x, int64_t n, int64_t d, const char *who,
                                 nv_error *err);

/* Ripser's Euclidean distance between two points of dimension d (float sums). */
float nv_metric_euclid_pair(const nv_real *a, const nv_real *b, int64_t d);

/* The Euclidean lower triangle of valid points x (n, d); *lower malloc'd. */
nv_status nv_metric_euclidean_lower(const nv_real *x, int64_t n, int64_t d, float **lower,
                                    nv_error *err);

/* The k nearest neighbours of every point under `lower`, nearest first, ties to the
 * lower index: nb (n, k) indices and nd (n, k) distances, both malloc'd. 1 <= k < n. */
nv_status nv_metric_knn_lists(const float *lower, int64_t n, int k, int64_t **nb, float **nd,
                              nv_error *err);

/* The symmetrised kNN graph in CSR form: neighbours of i are col[row_ptr[i] ..
 * row_ptr[i+1]), ascending, with edge lengths len[...] taken from `lower`. */
typedef struct {
    int64_t n;
    int64_t *row_ptr;   /* (n + 1) */
    int64_t *col;       /* (row_ptr[n]) */
    float *len;         /* (row_ptr[n]) */
} nv_knn_graph;

nv_status nv_metric_knn_graph(const float *lower, int64_t n, int k, nv_knn_graph *g,
                              nv_error *err);
void nv_knn_graph_free(nv_knn_graph *g);  /* accepts NULL or a zeroed graph */

/* All-pairs graph distances of g (hops if !weighted, else edge-length sums) as a
 * lower triangle (*lower malloc'd); INFINITY between components. */
nv_status nv_metric_geodesic_lower(const nv_knn_graph *g, int weighted, float **lower,
                                   nv_error *err);

/* --- the distances on either device ------------------------------------------
 * The first stage of the GPU path of persistent homology (ph_stages.h) and the
 * kNN-graph distances, each with a CPU reference here and a CUDA twin in
 * cuda/metric.cu (the plug-in), placed by the device layer (device.h). */

/* Distances of the points x (n, d) under kind NV_METRIC_EUCLIDEAN or
 * NV_METRIC_COSINE into lower (n(n-1)/2 floats, caller's): the CPU form is
 * nv_distance_matrix itself (metric.h), and the CUDA form must give its floats bit
 * for bit (Euclidean: Ripser's float arithmetic, also
 * nv_ph_euclidean's; cosine: double dot product and norms, 1 - dot/|x_i|/|x_j|
 * clamped at 0, rounded once). Bad input (NV_EINPUT): n < 1, d < 1, another kind, a
 * zero row under cosine (the message names the row). Coordinates are assumed
 * finite (nv_metric_check_points checks that). */
/* The shared contract check of both forms (the arguments above), so the two
 * refuse the same input with the same message. */
nv_status nv_metric_distances_check(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                                const float *lower, nv_error *err);
nv_status nv_metric_distances_cpu(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                              float *lower, nv_error *err);
nv_status nv_metric_distances_cuda(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                               float *lower, nv_error *err);

/* The dispatching form: want = CPU, CUDA (NV_EDEVICE if unusable) or AUTO (CUDA
 * when built and usable, else the CPU; the caller applies the size rule, e.g.
 * nv_ph_params.gpu_min_points). *lower is malloc'd; *used (may be NULL) says where
 * it ran. */
nv_status nv_metric_distances(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind,
                          nv_device_kind want, float **lower, nv_device_kind *used,
                          nv_error *err);

/* Graph distances (the kNN-geodesic metric of Naitzat et al.) */

/* All-pairs graph distances of the kNN graph g into lower (n(n-1)/2 floats,
 * caller's), bit for bit those of nv_metric_geodesic_lower (metric.h: row i holds
 * the distances from source i to j < i; hops as 1.0 steps, or left-to-right double
 * sums of the float edge lengths; INFINITY between components; rounded to float
 * once). The algorithm is the GPU's: relaxation to a fixpoint, every vertex taking
 * the minimum over its neighbours u of dist(u) + len(u, v), until nothing changes.
 * Why it gives Dijkstra's floats: fl(a + w) is monotone in a, so after r sweeps a
 * vertex holds the minimum over paths of at most r edges of their left-to-right
 * sums, whatever the order of updates; at the fixpoint that is the minimum over
 * all paths, which is also what Dijkstra settles (metric.c). The _relax_cpu form
 * is that algorithm on the CPU (the reference the parity test and the unit test
 * check against Dijkstra); the GPU runs it for a block of sources at a time. */
nv_status nv_metric_geodesic_relax_cpu(const nv_knn_graph *g, int weighted, float *lower,
                                   nv_error *err);
nv_status nv_metric_geodesic_cuda(const nv_knn_graph *g, int weighted, float *lower, nv_error *err);

/* The dispatching form: want = CPU (nv_metric_geodesic_lower), CUDA (NV_EDEVICE if
 * unusable) or AUTO (the CPU until the GPU form has been measured on a GPU: see
 * NV_PH_GPU_MIN_POINTS). *lower is malloc'd; *used (may be NULL) says where it ran. */
nv_status nv_metric_geodesic(const nv_knn_graph *g, int weighted, nv_device_kind want,
                         float **lower, nv_device_kind *used, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
