/* ph.h: the persistent homology engine (analysis/ph*.c): Vietoris-Rips barcodes,
 * Ripser-exact, over Z/p, multi-threaded.
 *
 * Input is a filtration on the complete graph of n vertices: either a dense
 * compressed lower-triangular distance matrix, or a sparse one (CSR, only the
 * edges below a threshold). Distances are floats, as in Ripser, so the values we
 * report are Ripser's to the bit when the inputs are.
 *
 * Also here: readers for Ripser's file formats (nv_ph_read, analysis/ph/ph_io.c) and
 * Ripser's Euclidean distances (nv_ph_euclidean). Edges of infinite length are
 * absent edges. The result is the same for any thread count. How it works:
 * docs/ph.md.
 *
 * Ownership: nv_ph_compute fills a result whose arrays it allocates;
 * nv_ph_result_free releases them (accepts NULL or a zeroed struct). nv_ph_read
 * fills an nv_ph_data whose arrays nv_ph_data_free releases. Nothing else here
 * keeps a pointer to the caller's arrays after returning.
 */
#ifndef NERVE_PH_H
#define NERVE_PH_H

#include <stdio.h>

#include "nerve/common.h"
#include "nerve/device.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NV_PH_DENSE = 0, NV_PH_SPARSE = 1 } nv_ph_input_kind;

typedef struct {
    nv_ph_input_kind kind;
    int64_t n;              /* vertices */
    /* dense: lower[i*(i-1)/2 + j] = d(i, j) for 0 <= j < i < n */
    const float *lower;
    /* sparse: neighbours of i are col[row_ptr[i] .. row_ptr[i+1]) with distances
     * val[...], symmetric, no diagonal; absent pairs are at infinity */
    const int64_t *row_ptr;
    const int64_t *col;
    const float *val;
} nv_ph_input;

typedef struct {
    int max_dim;            /* compute H0 .. H_max_dim (default 1) */
    float threshold;        /* INFINITY: none (the enclosing radius cut-off applies) */
    float ratio;            /* >= 1; 1 = exact (Ripser's --ratio) */
    uint32_t modulus;       /* prime coefficient field Z/p, default 2 */
    int threads;            /* 0 = nv_default_threads() */
    int want_simplices;     /* fill birth/death simplices of each pair */
    size_t memory_limit;    /* bytes; 0 = no limit. Above it: NV_ENOMEM before any work */
    int keep_long_edges;    /* sparse input only: edges longer than the threshold stay in
                               the 1-skeleton while higher simplices obey it, which is what
                               Ripser 1.2.1 computes for `--format sparse --threshold T`
                               (default 0: the threshold applies to every simplex) */
    /* Where the column assembly (clearing and the apparent-pair search) runs; the
     * reduction is always on the CPU and the barcodes are the same (ph_stages.h,
     * docs/ph.md "The GPU path"). AUTO (default): the GPU when built, usable and
     * n >= gpu_min_points, for dense input; CPU: never the GPU; CUDA: the GPU or an
     * error saying why not. */
    nv_device_kind device;
    int64_t gpu_min_points;     /* AUTO's size rule; 0: NV_PH_GPU_MIN_POINTS */
    int stages_reference;       /* tests: run the staged path with the CPU references
                                   of the GPU stages (analysis/ph/ph_stages.c) */
} nv_ph_params;

void nv_ph_params_defaults(nv_ph_params *p);

typedef struct {
    int dim;
    float birth;
    float death;                 /* INFINITY for an essential interval */
    int64_t birth_simplex;       /* combinatorial (colex) index of the simplex of
                                    dimension dim that creates the class; -1 if not
                                    recorded */
    int64_t death_simplex;       /* of dimension dim+1; -1 if essential or not recorded */
} nv_ph_pair;

typedef struct {
    int max_dim;
    int64_t n;                   /* vertices of the input */
    int64_t count;
    nv_ph_pair *pairs;           /* sorted by dim, then birth, then death */
    nv_device_kind device;       /* where the column stage ran: CPU or CUDA */
} nv_ph_result;

nv_status nv_ph_compute(const nv_ph_input *in, const nv_ph_params *p, nv_ph_result *out,
                        nv_error *err);
void nv_ph_result_free(nv_ph_result *r);

/* Many inputs in one call (per-layer, per-epoch, per-class diagrams): out[i] for
 * in[i], each exactly what nv_ph_compute(&in[i], p, &out[i]) gives. Each input is
 * placed by size (p->device as for one call): small ones run on the CPU, several
 * at a time over p->threads threads (one thread each), large ones one after the
 * other with all threads and, where chosen, the GPU stages. On failure every out[]
 * is freed and zeroed and err names the input (its position). */
nv_status nv_ph_compute_batch(const nv_ph_input *in, int64_t count, const nv_ph_params *p,
                              nv_ph_result *out, nv_error *err);

/* Vertices of simplex `index` of dimension `dim` in the colex numbering, into
 * vertices[0..dim] in decreasing order. */
void nv_ph_simplex_vertices(int64_t index, int dim, int64_t n, int64_t *vertices);

/* Bars of dimension `dim` alive at `scale`: birth <= scale < death. */
int64_t nv_ph_betti_at(const nv_ph_result *r, int dim, float scale);

/* A rough peak-memory estimate in bytes for the given input and parameters (the
 * engine refuses work above p->memory_limit with a message that says what to
 * change: threshold, dimension, landmarks). */
size_t nv_ph_memory_estimate(const nv_ph_input *in, const nv_ph_params *p);

/* --- input: Ripser's file formats (analysis/ph/ph_io.c) ------------------------------ */

/* The formats of Ripser 1.2.1 (--format); `distance` is its default. */
typedef enum {
    NV_PH_FMT_DISTANCE = 0,   /* full matrix, one row per line (or its lower triangle
                                 with the diagonal); must be symmetric, zero diagonal */
    NV_PH_FMT_LOWER,          /* lower triangle without diagonal, row by row, any layout */
    NV_PH_FMT_UPPER,          /* upper triangle without diagonal, row by row */
    NV_PH_FMT_POINT_CLOUD,    /* one point per line, coordinates separated by spaces/commas */
    NV_PH_FMT_DIPHA,          /* DIPHA distance matrix (binary, int64 header, doubles) */
    NV_PH_FMT_SPARSE,         /* lines "i j d": an edge of length d, absent pairs infinite */
    NV_PH_FMT_BINARY          /* lower triangle as little-endian float32 values */
} nv_ph_format;

const char *nv_ph_format_name(nv_ph_format f);
int nv_ph_format_parse(const char *s); /* -1 if unknown */

/* What a file held. Exactly one of points / lower / the CSR arrays is set. All
 * arrays are malloc'd by nv_ph_read and released by nv_ph_data_free. */
typedef struct {
    nv_ph_format format;
    int64_t n;                /* points or vertices (>= 2) */
    int64_t dim;              /* point-cloud: coordinates per point */
    float *points;            /* point-cloud: (n, dim) */
    float *lower;             /* dense formats: (n(n-1)/2), the engine's layout */
    int64_t *row_ptr;         /* sparse: (n + 1), symmetric, sorted, no diagonal */
    int64_t *col;             /* sparse: (row_ptr[n]) */
    float *val;               /* sparse: (row_ptr[n]) */
    int64_t entries;          /* sparse: off-diagonal entries read (Ripser's count) */
} nv_ph_data;

/* Reads a whole file (`name` is used in messages; f may be stdin). Bad input gets
 * one message with the file, line (or byte offset), what was found and expected. */
nv_status nv_ph_read(FILE *f, const char *name, nv_ph_format fmt, nv_ph_data *out, nv_error *err);
void nv_ph_data_free(nv_ph_data *d);

/* Euclidean distances of points (n, dim) into *lower (malloc'd), computed as
 * Ripser 1.2.1's point-cloud reader does (float differences, squares and sum,
 * then a float square root), so the values agree to the bit. */
nv_status nv_ph_euclidean(const float *points, int64_t n, int64_t dim, float **lower, nv_error *err);

/* The enclosing radius min_i max_j d(i, j): the cut-off used with no threshold. */
float nv_ph_enclosing_radius(const float *lower, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
