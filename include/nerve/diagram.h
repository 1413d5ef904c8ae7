/* diagram.h: persistence diagrams turned into numbers (analysis/ph/diagram.c).
 *
 * The PH engine (ph.h) produces barcodes; the study compares them across layers,
 * epochs and models. This module holds one homology dimension's diagram as a
 * multiset of (birth, death) bars and computes what the reports need from it:
 * Betti numbers at a scale and over a grid of scales, total persistence,
 * persistence entropy, and the bottleneck and Wasserstein-p distances between two
 * diagrams. docs/diagrams.md states every definition and convention.
 *
 * Values are doubles: the engine's floats convert exactly, and the distances and
 * sums are then free of float round-off in the comparisons that decide a matching.
 *
 * Ownership: the nv_diagram_from_* functions allocate diagram->bars;
 * nv_diagram_free releases it (accepts NULL or a zeroed struct). On failure they
 * leave the output zeroed (nothing to free). Nothing else in
 * this module keeps a pointer to its inputs after it returns.
 */
#ifndef NERVE_DIAGRAM_H
#define NERVE_DIAGRAM_H

#include "nerve/common.h"
#include "nerve/ph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    double birth;
    double death; /* INFINITY for an essential bar */
} nv_bar;

/* One homology dimension's diagram: a multiset of bars (order carries no meaning).
 * Valid bars have birth <= death, no NaN, birth < +inf and death > -inf; birth may
 * be -INFINITY (gudhi's convention for a bar that exists from the start), death
 * may be +INFINITY (essential). Bars on the diagonal (birth == death) are kept:
 * they change no distance and no Betti number, but they do count in `count`. */
typedef struct {
    int dim;          /* homology dimension, for labels only */
    int64_t count;
    nv_bar *bars;     /* (count), owned */
} nv_diagram;

/* The bars of dimension `dim` of an engine result. Fails with NV_EINPUT if dim is
 * outside 0 .. r->max_dim. */
nv_status nv_diagram_from_ph(const nv_ph_result *r, int dim, nv_diagram *out, nv_error *err);

/* A diagram from raw arrays births[i], deaths[i] (i < n), copied. Fails with
 * NV_EINPUT naming the first invalid bar (see the validity rules above). Either
 * array may be NULL only when n == 0. */
nv_status nv_diagram_from_arrays(int dim, const double *births, const double *deaths, int64_t n,
                                 nv_diagram *out, nv_error *err);

/* The same from interleaved pairs bd[2*i] = birth, bd[2*i+1] = death (the layout
 * numpy and gudhi use for an (n, 2) array). */
nv_status nv_diagram_from_pairs(int dim, const double *bd, int64_t n, nv_diagram *out,
                                nv_error *err);

void nv_diagram_free(nv_diagram *d);

/* Number of essential bars (death == +INFINITY). */
int64_t nv_diagram_essential_count(const nv_diagram *d);

/* The Betti number at `scale`: bars with birth <= scale < death. Half-open, so a
 * bar [b, d) is alive at its birth and dead at its death, as in ph.h. */
int64_t nv_diagram_betti_at(const nv_diagram *d, double scale);

/* The Betti curve: out[k] = nv_diagram_betti_at(d, grid[k]) for k < n_grid, in
 * O((count + n_grid) log count) (the grid need not be sorted). */
nv_status nv_diagram_betti_curve(const nv_diagram *d, const double *grid, int64_t n_grid,
                                 int64_t *out, nv_error *err);

/* n evenly spaced scales from lo to hi inclusive (n >= 2), the usual grid for a
 * Betti curve; grid[0] == lo and grid[n-1] == hi exactly. */
nv_status nv_diagram_linspace(double lo, double hi, int64_t n, double *grid, nv_error *err);

/* How essential bars enter total persistence and entropy, whose sums would be
 * infinite otherwise. `essential_death` = INFINITY: essential bars are left out.
 * A finite value: an essential bar is treated as dying there, i.e. its length is
 * max(0, essential_death - birth) (the usual choice is the largest scale of the
 * filtration, e.g. the PH threshold). Bars born at -INFINITY are always left out. */

/* Total persistence: sum over bars of (death - birth)^p, p > 0. */
nv_status nv_diagram_total_persistence(const nv_diagram *d, double p, double essential_death,
                                       double *out, nv_error *err);

/* Persistence entropy: with lengths l_i > 0 of the bars that count (see above; bars
 * of length 0 carry no weight and are skipped) and L = sum l_i,
 *     E = -sum (l_i / L) ln(l_i / L)          (natural log, as gudhi's Entropy).
 * normalise != 0 divides E by ln(k), k the number of bars of positive length, so
 * that E lies in [0, 1] (1: all bars equally long). E = 0 when k <= 1 (also when
 * normalising, where ln(1) = 0 would divide by zero). */
nv_status nv_diagram_entropy(const nv_diagram *d, double essential_death, int normalise,
                             double *out, nv_error *err);

/* Distances between diagrams, with the L-infinity ground metric between points
 * (|b - b'| and |d - d'|, the larger) and a point's distance to the diagonal
 * (d - b) / 2, i.e. gudhi's bottleneck_distance and
 * wasserstein_distance(internal_p = inf, keep_essential_parts = True).
 *
 * Essential bars: bars are split into kinds: finite; (b, +inf); (-inf, d);
 * (-inf, +inf). A bar is matched only with a bar of its own kind or, if finite,
 * with the diagonal. If the two diagrams have different numbers of bars of some
 * infinite kind the distance is +INFINITY (returned in *out with NV_OK: it is an
 * answer, not an error). Within an infinite kind the cost of matching is |b - b'|
 * (or |d - d'|), minimised by pairing the sorted coordinates; (-inf, +inf) bars
 * match at cost 0.
 *
 * Exact: no approximation parameter. Complexity, n and m finite bars:
 *   bottleneck: the answer is one of at most n*m + n + m candidate values; a
 *     bisection over them (by median selection, no sort) decides each probe by
 *     Hopcroft-Karp matchings on the graph of pairs within the probe,
 *     O(n m + log(nm) E sqrt(n+m)) time with E <= n m edges, O(n m) memory.
 *   Wasserstein-p: a min-cost assignment (shortest augmenting paths with
 *     potentials, the Hungarian method) on an n x m matrix equivalent to the
 *     augmented (n+m) x (n+m) one, O(min(n,m)^2 max(n,m)) time, O(n m) memory.
 *   Measured on 2 cores: 2000 vs 2000 points, bottleneck ~0.1 s, W1 ~1-2 s;
 *   4000 vs 4000, ~0.5 s and ~12 s. */
nv_status nv_diagram_bottleneck(const nv_diagram *a, const nv_diagram *b, double *out,
                                nv_error *err);

/* Wasserstein-p distance, p >= 1:
 *     W_p = ( min over matchings  sum cost(u, v)^p )^(1/p)
 * where the essential part's costs join the same sum before the root. */
nv_status nv_diagram_wasserstein(const nv_diagram *a, const nv_diagram *b, double p,
                                 double *out, nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
