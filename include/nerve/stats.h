/* stats.h: geometry and similarity statistics of activation matrices besides PCA:
 * TwoNN intrinsic dimension, linear CKA between layers, and linear probes.
 *
 * Where it fits: for each snapshot (model, epoch) the pipeline reads layer
 * activations (n points, d units, row-major float) and asks how many dimensions
 * the points fill (TwoNN, next to the PCA 90%-variance count), how similar two
 * layers' representations are (CKA), and how linearly separable the classes are
 * at a layer (probe). Everything is computed in double and is deterministic.
 * docs/analysis.md has the formulas, conventions and references.
 */
#ifndef NERVE_STATS_H
#define NERVE_STATS_H

#include "nerve/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- TwoNN (Facco et al. 2017; the variant of Ansuini et al. 2019) ------------------ */
typedef struct {
    double discard_fraction; /* largest mu discarded before the fit; 0 means 0.1 */
    int exhaustive;          /* 1: compare every pair by coordinate differences (the reference,
                                O(n^2 d) scalar); 0: screen pairs with dgemm and recompute the
                                candidates exactly -- the same bytes, much faster */
    int threads;             /* threads of the exhaustive search; 0 means nv_default_threads()
                                (the screened search uses the BLAS threads) */
} nv_twonn_opts;

typedef struct {
    double dimension;     /* the fitted slope d of -log(1 - F(mu)) = d log(mu) */
    int64_t n_unique;     /* distinct points (exact duplicates collapsed) */
    int64_t n_duplicates; /* rows dropped as exact copies of an earlier row */
    int64_t n_ties;       /* distinct points dropped because r1 == r2 (as Ansuini et al.) */
    int64_t n_fit;        /* points used in the least-squares fit */
} nv_twonn_result;

/* Intrinsic dimension of x (n, d) by TwoNN with exact nearest neighbours (all pairs,
 * O(n^2 d); Euclidean distances from coordinate differences in double).
 * Exact duplicate rows are collapsed first (they have r1 = 0 and say nothing about
 * dimension): the estimate is the one of the set of distinct points. NV_EINPUT for a
 * NaN/Inf entry or fewer than 3 distinct points. `opts` may be NULL. */
nv_status nv_twonn(const nv_real *x, int64_t n, int64_t d, const nv_twonn_opts *opts,
                   nv_twonn_result *out, nv_error *err);

/* The fit alone, for callers with their own neighbour distances: mu (m) the ratios
 * r2/r1 (> 1; sorted in place): sorted ascending, the empirical CDF F_i = i/m, the
 * first floor(m (1 - discard_fraction)) points fitted through the origin. The slope
 * goes to *dimension, the number of points fitted to *n_fit. */
nv_status nv_twonn_fit(double *mu, int64_t m, double discard_fraction, double *dimension,
                       int64_t *n_fit, nv_error *err);

/* --- linear CKA (Kornblith et al. 2019) --------------------------------------------- */
/* CKA between x (n, dx) and y (n, dy), the same n points in the same row order:
 * ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F), columns centred, in double.
 * Each term in the cheaper form: feature space (products of widths, n dx dy flops)
 * when widths are small, Gram (n x n, about n^2 (dx + dy) / 2) otherwise. NV_EINPUT
 * when a matrix has no variance (every row equal), n < 2, or a NaN/Inf entry. */
nv_status nv_cka_linear(const nv_real *x, int64_t dx, const nv_real *y, int64_t dy, int64_t n,
                        double *cka, nv_error *err);

/* The (L, L) symmetric matrix of CKA between layers[0..L-1], layer l of shape
 * (n, widths[l]), all with the same n rows; out caller-allocated, diagonal 1.
 * Each layer is centred and its self-norm computed once. */
nv_status nv_cka_matrix(const nv_real *const *layers, const int64_t *widths, int64_t L, int64_t n,
                        double *out, nv_error *err);

/* --- linear probe ------------------------------------------------------------------- */
typedef struct {
    double C;       /* inverse L2 strength as in sklearn: minimise sum_i CE_i + |W|^2/(2C); 0 means 1 */
    int max_iter;   /* L-BFGS iterations; 0 means 500 */
    double tol;     /* stop when max |gradient| of the mean objective <= tol; 0 means 1e-6 */
} nv_probe_opts;

typedef struct {
    double train_accuracy, test_accuracy; /* fractions in [0, 1]; test NaN when nte = 0 */
    double train_loss, test_loss;         /* mean cross-entropy (no penalty) */
    double objective;                     /* sum CE + |W|^2/(2C) at the end, on the train split */
    int64_t classes;
    int iterations;
    int converged;                        /* 1 when the gradient tolerance was met */
} nv_probe_result;

/* Multinomial logistic regression (softmax, L2 on the weights, not the biases) fitted
 * by full-batch L-BFGS on (xtr (ntr, d), ytr (ntr)), features standardised with the
 * train split's mean and standard deviation (constant features are zeroed), then
 * evaluated on (xte (nte, d), yte (nte)); nte may be 0. Labels are 0..classes-1;
 * classes <= 0 means 1 + the largest train label. Deterministic. `weights`, if not
 * NULL, receives (out->classes, d + 1) row-major (caller-allocated; pass classes > 0 to
 * know the size): the weights on standardised features, then the bias. NV_EINPUT: a label out of range, NaN/Inf, ntr < 1, fewer than 2 classes. */
nv_status nv_probe_linear(const nv_real *xtr, const int32_t *ytr, int64_t ntr, const nv_real *xte,
                          const int32_t *yte, int64_t nte, int64_t d, int64_t classes,
                          const nv_probe_opts *opts, nv_probe_result *out, double *weights,
                          nv_error *err);

#ifdef __cplusplus
}
#endif
#endif
