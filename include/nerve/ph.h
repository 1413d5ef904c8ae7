/* ph.h: the persistent homology engine (analysis/ph*.c): Vietoris-Rips barcodes,
 * Ripser-exact, over Z/p, multi-threaded.
 *
 * Input is a filtration on the complete graph of n vertices: either a dense
 * compressed lower-triangular distance matrix, or a sparse one (CSR, only the
 * edges below a threshold). Distances are floats, as in Ripser, so the values we
 * report are Ripser's to the bit when the inputs are.
 *
 * Ownership: nv_ph_compute fills a result whose arrays it allocates;
 * nv_ph_result_free releases them (accepts NULL or a zeroed struct).
 */
#ifndef NERVE_PH_H
#define NERVE_PH_H

#include "nerve/common.h"

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
} nv_ph_result;

nv_status nv_ph_compute(const nv_ph_input *in, const nv_ph_params *p, nv_ph_result *out,
                        nv_error *err);
void nv_ph_result_free(nv_ph_result *r);

/* Vertices of simplex `index` of dimension `dim` in the colex numbering, into
 * vertices[0..dim] in decreasing order. */
void nv_ph_simplex_vertices(int64_t index, int dim, int64_t n, int64_t *vertices);

/* Bars of dimension `dim` alive at `scale`: birth <= scale < death. */
int64_t nv_ph_betti_at(const nv_ph_result *r, int dim, float scale);

/* A rough peak-memory estimate in bytes for the given input and parameters (the
 * engine refuses work above p->memory_limit with a message that says what to
 * change: threshold, dimension, landmarks). */
size_t nv_ph_memory_estimate(const nv_ph_input *in, const nv_ph_params *p);

#ifdef __cplusplus
}
#endif
#endif
