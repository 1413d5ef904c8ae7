/* labelled.h: the labelled kNN filtration (analysis/ph/labelled.c), the topological
 * reading of how the classes of a layer sit against each other.
 *
 * Why: on the default experiment each class is an 11-sphere, whose own homology is
 * trivial at every layer of every net (beta0 = 1, beta1 = 0 everywhere): what a
 * net changes is how the two classes lie against each other. This reading looks at
 * each class's region inside the shared representation, as graphs on all the
 * points of a layer:
 *
 *   G(k)     the symmetrised kNN graph of the combined set (an edge where either
 *            point is among the other's k nearest), k = 1, 2, ..., k_max;
 *   G_c(k)   its edges that join two points of class c.
 *
 * Both grow with k, so they are filtrations, and their numbers of connected
 * components beta0(k) are the H0 Betti curves of those filtrations: the H0
 * barcode with k as the filtration value, each bar a component that lives from the
 * k where it appears to the k where it merges. A class that fills a region of its
 * own, whose points have neighbours of their own class, becomes one component of
 * G_c(k) at small k, as fast as the unlabelled graph G(k) connects; a class
 * interleaved with the other splits into many pieces, because the other class's
 * points sit between its points and their edges are dropped. The summary (the
 * report's first chart):
 *
 *   mixing = sum over k = 1..k_max of ( sum_c beta0(G_c(k)) - max(beta0(G(k)), C) ) / n
 *
 * the total persistence, per point, of the H0 bars the labels add to the unlabelled
 * filtration (C classes; each class is at least one component, and G_c(k) has at
 * least the components of G(k)): 0 when every class is as connected as the data
 * are, about the number of points cut off from their class otherwise. Subtracting
 * the unlabelled filtration removes what the kNN graph of any point cloud of that
 * shape would show (at k = 1 a nearest-neighbour graph has ~n/3 components whatever
 * the labels), which sees the architecture rather than learning.
 *
 * Invariance: every quantity depends on neighbour ranks only
 * (nv_metric_knn_points), so multiplying a layer by any c > 0 changes nothing
 * (exactly for powers of two; for other factors up to the float rounding of the
 * scaled activations, which moves a rank only where two distances agree to about
 * 7 significant digits).
 *
 * Beside it, two geometric baselines from the same data: the share of the edges
 * of G(k) that join two classes, and the Friedman-Rafsky statistic, the share of
 * the edges of a Euclidean minimum spanning tree that join two classes
 * (Friedman and Rafsky 1979). Related work on decision-boundary homology from
 * labelled complexes: Ramamurthy, Varshney and Mody, ICML 2019.
 */
#ifndef NERVE_LABELLED_H
#define NERVE_LABELLED_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int64_t n;             /* points */
    int k_max;
    int n_classes;         /* C: the labels present */
    int64_t *classes;      /* (n_classes) the labels, ascending */
    int64_t *class_n;      /* (n_classes) points of each class */
    int64_t *beta0;        /* (n_classes, k_max): components of G_c(k), k = 1 + column */
    int64_t *beta0_all;    /* (k_max): components of G(k) */
    int64_t *edges;        /* (k_max): edges of G(k) */
    int64_t *cross_edges;  /* (k_max): of those, edges joining two classes */
    double mst_cross;      /* share of minimum-spanning-tree edges joining two classes
                              (NaN when not computed) */
} nv_labelled;

/* The labelled kNN filtration of the rows of x (n, d) with labels[n], k = 1..k_max
 * (1 <= k_max < n), and with_mst != 0 the Friedman-Rafsky share too (O(n^2 d)).
 * threads as nv_metric_knn_points. Fills *out (arrays malloc'd; free with
 * nv_labelled_free). Bad input (NV_EINPUT): x or labels NULL, n < 2, d < 1, a
 * non-finite coordinate, k_max out of range. */
nv_status nv_labelled_compute(const nv_real *x, int64_t n, int64_t d, const int64_t *labels,
                              int k_max, int with_mst, int threads, nv_labelled *out,
                              nv_error *err);
void nv_labelled_free(nv_labelled *r);  /* accepts NULL or a zeroed struct */

/* The summaries, over k = 1..k_max, per point:
 * mixing: sum_k (sum_c beta0_c(k) - max(beta0_all(k), C)) / n (the reading above);
 * labelled: sum_k (sum_c beta0_c(k) - C) / n (the H0 total persistence of the
 *   labelled filtration itself, essential bars left out);
 * unlabelled: sum_k (beta0_all(k) - 1) / n (the same for G(k)). */
double nv_labelled_mixing(const nv_labelled *r);
double nv_labelled_persistence(const nv_labelled *r);
double nv_labelled_unlabelled_persistence(const nv_labelled *r);
/* The share of G(k)'s edges joining two classes (0 when it has none), 1 <= k <= k_max. */
double nv_labelled_cross_share(const nv_labelled *r, int k);

#ifdef __cplusplus
}
#endif
#endif
