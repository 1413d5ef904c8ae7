/* ph_internal.h: types and helpers shared by the persistent homology engine's own
 * files (analysis/ph/ph.c: the reduction; analysis/ph/ph_io.c: the input readers). Not a
 * public header: nothing outside analysis/ph*.c includes it.
 *
 * The engine follows the design of Ripser (Bauer, "Ripser: efficient computation of
 * Vietoris-Rips persistence barcodes", 2021): simplices are never stored as vertex
 * lists but named by their combinatorial (colex) index
 *     idx({v_0 < v_1 < ... < v_d}) = sum_i C(v_i, i + 1),
 * and the filtration orders simplices by diameter, ties broken by decreasing index.
 * That total order decides every persistence pair, so reproducing it reproduces
 * Ripser's pairs simplex for simplex, whatever reduction order we use.
 */
#ifndef NERVE_PH_INTERNAL_H
#define NERVE_PH_INTERNAL_H

#include "nerve/ph.h"

/* Highest homology dimension we accept: simplices then have up to PH_MAX_DIM + 2
 * vertices (the cofacets of the top dimension). The binomial overflow check stops
 * long before this for any real input. */
#define PH_MAX_DIM 30

/* A coefficient of a cochain entry is stored in 16 bits: moduli up to 65521. */
#define PH_MAX_MODULUS 65521u

/* Builds the CSR neighbour lists of the edges of `lower` (n points) with length
 * <= threshold (and finite), sorted by neighbour, symmetric. Arrays malloc'd. */
nv_status nv_ph__sparsify(const float *lower, int64_t n, float threshold, int64_t **row_ptr,
                          int64_t **col, float **val, nv_error *err);

#endif
