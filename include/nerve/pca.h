/* pca.h: principal component analysis of activation matrices (CPU on LAPACKE, a
 * CUDA twin in cuda/pca.cu on the device library: cuSOLVER/cuBLAS on a GPU), with
 * signs aligned across epochs.
 *
 * Where it fits: a snapshot holds one activation matrix X (n points, d units) per
 * layer and epoch; `nerve pca` and the run pipeline fit a PCA per matrix and plot the
 * projections onto the first k components epoch after epoch. The function works on
 * any plain row-major float matrix as well.
 *
 * Conventions (docs/analysis.md has the formulas):
 *  - X is centred by its column means (computed in double). The covariance is
 *    X_c^T X_c / (n - 1), as numpy.cov and sklearn's PCA use.
 *  - Form by shape: n >= d eigendecomposes the d x d covariance, n < d the n x n
 *    Gram matrix X_c X_c^T (same nonzero spectrum, cheaper); both accumulate in
 *    double with dsyrk on double blocks of X_c and use dsyevd.
 *  - The spectrum has min(n, d) entries, descending, tiny negative round-off
 *    clamped to 0 (sklearn's explained_variance_ has the same length).
 *  - Signs: with no reference, each component is flipped so that its entry of
 *    largest |value| (lowest index on ties) is positive; with a reference set
 *    (the previous epoch, or another split), component i is flipped so that its
 *    dot product with reference component i is positive (a zero dot product falls
 *    back to the rule without a reference). Projections flip with their component.
 *  - Directions without variance (the Gram form when the rank is below k) get a
 *    deterministic orthonormal completion and zero projections.
 *  - Results are deterministic for a given thread count and CPU model (OpenBLAS
 *    is deterministic at a fixed thread count; row blocks have a fixed size).
 */
#ifndef NERVE_PCA_H
#define NERVE_PCA_H

#include "nerve/common.h"
#include "nerve/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NV_PCA_DEFAULT_K 3

typedef enum { NV_PCA_COVARIANCE = 0, NV_PCA_GRAM = 1 } nv_pca_form;

typedef struct {
    int64_t k;               /* components to keep and project on; 0 means NV_PCA_DEFAULT_K */
    const double *reference; /* (k_ref, d) row-major unit components to align signs to, or NULL */
    int64_t k_ref;           /* rows of reference; components beyond k_ref use the rule without one */
    nv_device_kind device;   /* AUTO: CUDA when built and usable, else CPU; CPU; CUDA (error if absent) */
} nv_pca_opts;

/* One fit. One allocation holds every array; nv_pca_free releases it. */
typedef struct {
    int64_t n, d;                       /* shape of the input */
    int64_t k;                          /* components kept */
    int64_t r;                          /* spectrum length: min(n, d) */
    nv_pca_form form;                   /* which matrix was eigendecomposed */
    nv_device_kind device;              /* CPU or CUDA: where the fit ran */
    double total_variance;              /* sum of explained_variance (trace of the covariance) */
    double *mean;                       /* (d) column means */
    double *explained_variance;         /* (r) eigenvalues of the covariance, descending */
    double *explained_variance_ratio;   /* (r) explained_variance / total_variance (0 if total is 0) */
    double *components;                 /* (k, d) row-major orthonormal rows, signs per the convention */
    double *projections;                /* (n, k) row-major (x_i - mean) . component_j */
} nv_pca;

/* Fits a PCA of x (n, d) row-major. On success *out is a new nv_pca the caller frees
 * with nv_pca_free. Bad input is NV_EINPUT: n < 2, d < 1, k > min(n - 1, d) (centring
 * removes one degree of freedom), a NaN/Inf entry (named by row and column), k_ref < 0.
 * The reference, if any, must have d columns (the caller keeps it; it is only read).
 * `opts` may be NULL (defaults). `note`, if not NULL, receives a static line when AUTO
 * fell back from CUDA to the CPU (else NULL). Asking for CUDA where this build or
 * machine has none is NV_EDEVICE. */
nv_status nv_pca_fit(const nv_real *x, int64_t n, int64_t d, const nv_pca_opts *opts,
                     nv_pca **out, const char **note, nv_error *err);

void nv_pca_free(nv_pca *p);

/* Projects other rows y (m, d) -- a test split, say -- onto a fit's components with
 * the fit's mean: out (m, k) row-major, caller-allocated. */
nv_status nv_pca_project(const nv_pca *p, const nv_real *y, int64_t m, double *out,
                         nv_error *err);

/* Re-aligns the signs of a fit to a reference (k_ref, d) (see the convention above),
 * flipping projections with their components. For fits made without a reference. */
nv_status nv_pca_align(nv_pca *p, const double *reference, int64_t k_ref, nv_error *err);

/* The smallest number of leading components whose explained_variance_ratio sums to
 * at least `fraction` (0 < fraction <= 1), e.g. 0.9; r when round-off never gets there. */
int64_t nv_pca_ncomponents_for(const nv_pca *p, double fraction);

/* --- the backend contract ----------------------------------------------------------
 * Both backends compute, from x (n, d) and its column means:
 *   evals (min(n,d)) the covariance spectrum, descending, not yet clamped;
 *   comps (k, d)     unit eigenvectors of the covariance for evals[0..k-1], any sign,
 *                    or an all-zero row where the direction has no variance;
 *   proj  (n, k)     (x_i - mean) . comps_j.
 * nv_pca_fit then completes zero rows, fixes signs and forms the ratios (host code
 * shared by both). Exposed for the parity test; use nv_pca_fit otherwise. */
nv_status nv_pca_core_cpu(const nv_real *x, int64_t n, int64_t d, const double *mean, int64_t k,
                          double *evals, double *comps, double *proj, nv_error *err);
/* The CUDA twin (cuda/pca.cu, in the plug-in; only CUDA builds define it). */
nv_status nv_pca_core_cuda(const nv_real *x, int64_t n, int64_t d, const double *mean, int64_t k,
                           double *evals, double *comps, double *proj, nv_error *err);

/* Below this squared norm (relative to the largest Gram eigenvalue) a Gram-form
 * direction counts as having no variance; shared by both backends. */
#define NV_PCA_GRAM_ZERO_REL 1e-12

#ifdef __cplusplus
}
#endif
#endif
