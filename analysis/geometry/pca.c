/* pca.c: PCA of activation matrices on the CPU (OpenBLAS dsyrk + LAPACKE dsyevd),
 * the shared host steps of both backends, and the one place that picks the backend.
 *
 * The data is never copied whole into double: it is centred in fixed-size blocks
 * of rows (covariance form) or columns (Gram form) that dsyrk accumulates, so the
 * memory is O(block * d + min(n, d)^2) on top of the input and the outputs, and
 * the fixed block size keeps the summation order -- hence the bytes -- fixed.
 * See include/nerve/pca.h for the conventions and docs/analysis.md for the maths.
 */
#include "nerve/pca.h"

#include "nerve/device.h"
#include "nerve/mlp.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows (covariance form) or columns (Gram form) per centred double block: large
 * enough for dsyrk to run at full speed, small enough to stay in L2/L3. */
#define PCA_BLOCK 1024

/* out (rows, c1 - c0) row-major = x[r0:r0+rows, c0:c1] - mean[c0:c1], in double. */
static void centred_block(const nv_real *x, int64_t d, const double *mean, int64_t r0,
                          int64_t rows, int64_t c0, int64_t c1, double *out) {
    int64_t w = c1 - c0;
    for (int64_t i = 0; i < rows; i++) {
        const nv_real *src = x + (r0 + i) * d + c0;
        double *dst = out + i * w;
        for (int64_t j = 0; j < w; j++) dst[j] = (double)src[j] - mean[c0 + j];
    }
}

/* Column means in double, and the first non-finite entry as an input error. */
static nv_status column_means(const nv_real *x, int64_t n, int64_t d, double *mean,
                              nv_error *err) {
    memset(mean, 0, (size_t)d * sizeof *mean);
    for (int64_t i = 0; i < n; i++) {
        const nv_real *row = x + i * d;
        for (int64_t j = 0; j < d; j++) {
            if (!isfinite(row[j]))
                return nv_fail(err, NV_EINPUT,
                               "pca: matrix entry at row %lld, column %lld is %g: expected a "
                               "finite number",
                               (long long)i, (long long)j, (double)row[j]);
            mean[j] += (double)row[j];
        }
    }
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
    return NV_OK;
}

/* (x - mean) comps^T for rows of x: out (m, k). Shared by the CPU core and
 * nv_pca_project, so a split projected later matches the fit's own projections. */
static nv_status project_rows(const nv_real *x, int64_t m, int64_t d, const double *mean,
                              const double *comps, int64_t k, double *out, nv_error *err) {
    int64_t bs = NV_MIN(m, (int64_t)PCA_BLOCK);
    double *buf = nv_malloc((size_t)(bs > 0 ? bs : 1) * (size_t)d * sizeof *buf, err);
    if (!buf) return NV_ENOMEM;
    for (int64_t r0 = 0; r0 < m; r0 += bs) {
        int64_t rows = NV_MIN(bs, m - r0);
        centred_block(x, d, mean, r0, rows, 0, d, buf);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)k, (int)d, 1.0, buf,
                    (int)d, comps, (int)d, 0.0, out + r0 * k, (int)k);
    }
    free(buf);
    return NV_OK;
}

/* Symmetric eigendecomposition of a (m, m) row-major (upper triangle filled) in place:
 * eigenvectors in the columns, eigenvalues ascending in w. */
static nv_status sym_eigen(double *a, int64_t m, double *w, nv_error *err) {
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)m, a, (lapack_int)m, w);
    if (info != 0)
        return nv_fail(err, info < 0 ? NV_EINTERNAL : NV_ENUMERIC,
                       "pca: LAPACKE_dsyevd on a %lld x %lld matrix returned info %d%s",
                       (long long)m, (long long)m, (int)info,
                       info > 0 ? " (no convergence)" : " (a bad argument: a bug)");
    return NV_OK;
}

nv_status nv_pca_core_cpu(const nv_real *x, int64_t n, int64_t d, const double *mean, int64_t k,
                          double *evals, double *comps, double *proj, nv_error *err) {
    nv_status st = NV_OK;
    int gram = n < d;
    int64_t m = gram ? n : d; /* order of the eigenproblem */
    double *a = NULL, *w = NULL, *buf = NULL, *uk = NULL;
    a = nv_malloc((size_t)m * (size_t)m * sizeof *a, err);
    w = nv_malloc((size_t)m * sizeof *w, err);
    if (!a || !w) { st = NV_ENOMEM; goto done; }
    double scale = 1.0 / (double)(n - 1);

    if (!gram) {
        /* C = X_c^T X_c / (n-1), accumulated over row blocks (upper triangle). */
        int64_t bs = NV_MIN(n, (int64_t)PCA_BLOCK);
        buf = nv_malloc((size_t)bs * (size_t)d * sizeof *buf, err);
        if (!buf) { st = NV_ENOMEM; goto done; }
        for (int64_t r0 = 0; r0 < n; r0 += bs) {
            int64_t rows = NV_MIN(bs, n - r0);
            centred_block(x, d, mean, r0, rows, 0, d, buf);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)rows, scale, buf,
                        (int)d, r0 == 0 ? 0.0 : 1.0, a, (int)d);
        }
        if ((st = sym_eigen(a, d, w, err)) != NV_OK) goto done;
        for (int64_t j = 0; j < d; j++) evals[j] = w[d - 1 - j];
        /* Column d-1-j of a is the eigenvector of the j-th largest eigenvalue. */
        for (int64_t j = 0; j < k; j++)
            for (int64_t c = 0; c < d; c++) comps[j * d + c] = a[c * d + (d - 1 - j)];
    } else {
        /* G = X_c X_c^T / (n-1), accumulated over column blocks; then the covariance's
         * eigenvectors are X_c^T u / |X_c^T u| for G's eigenvectors u. */
        int64_t bc = NV_MIN(d, (int64_t)PCA_BLOCK);
        buf = nv_malloc((size_t)n * (size_t)bc * sizeof *buf, err);
        uk = nv_malloc((size_t)n * (size_t)k * sizeof *uk, err);
        if (!buf || !uk) { st = NV_ENOMEM; goto done; }
        for (int64_t c0 = 0; c0 < d; c0 += bc) {
            int64_t cols = NV_MIN(bc, d - c0);
            centred_block(x, d, mean, 0, n, c0, c0 + cols, buf);
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)cols, scale, buf,
                        (int)cols, c0 == 0 ? 0.0 : 1.0, a, (int)n);
        }
        if ((st = sym_eigen(a, n, w, err)) != NV_OK) goto done;
        for (int64_t j = 0; j < n; j++) evals[j] = w[n - 1 - j];
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < k; j++) uk[i * k + j] = a[i * n + (n - 1 - j)];
        /* comps[:, c0:c1] = U_k^T X_c[:, c0:c1], block by block. */
        for (int64_t c0 = 0; c0 < d; c0 += bc) {
            int64_t cols = NV_MIN(bc, d - c0);
            centred_block(x, d, mean, 0, n, c0, c0 + cols, buf);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)cols, (int)n, 1.0,
                        uk, (int)k, buf, (int)cols, 0.0, comps + c0, (int)d);
        }
        /* |X_c^T u|^2 = (n-1) lambda; normalising by the computed norm (not by
         * sqrt((n-1) lambda)) keeps the rows unit even for small eigenvalues. */
        double gmax = fmax(evals[0], 0.0) * (double)(n - 1);
        for (int64_t j = 0; j < k; j++) {
            double *row = comps + j * d;
            double nrm = cblas_dnrm2((int)d, row, 1);
            if (nrm * nrm <= NV_PCA_GRAM_ZERO_REL * gmax || nrm == 0.0)
                memset(row, 0, (size_t)d * sizeof *row);
            else
                cblas_dscal((int)d, 1.0 / nrm, row, 1);
        }
    }
    st = project_rows(x, n, d, mean, comps, k, proj, err);
done:
    free(a);
    free(w);
    free(buf);
    free(uk);
    return st;
}

/* Replaces all-zero component rows (no variance in that direction) by unit vectors
 * orthogonal to every other row: Gram-Schmidt (twice, for accuracy) of the standard
 * basis vectors e_0, e_1, ... in turn, so the choice is deterministic. */
static void complete_components(double *comps, int64_t k, int64_t d) {
    int64_t next_basis = 0;
    for (int64_t j = 0; j < k; j++) {
        double *row = comps + j * d;
        if (cblas_dnrm2((int)d, row, 1) > 0.0) continue;
        while (next_basis < d) {
            memset(row, 0, (size_t)d * sizeof *row);
            row[next_basis++] = 1.0;
            for (int pass = 0; pass < 2; pass++)
                for (int64_t i = 0; i < k; i++) {
                    if (i == j) continue;
                    const double *o = comps + i * d;
                    if (i > j && cblas_dnrm2((int)d, o, 1) == 0.0) continue; /* not filled yet */
                    double dot = cblas_ddot((int)d, row, 1, o, 1);
                    cblas_daxpy((int)d, -dot, o, 1, row, 1);
                }
            double nrm = cblas_dnrm2((int)d, row, 1);
            if (nrm > 0.5) { /* e_b was not (nearly) in the span of the others */
                cblas_dscal((int)d, 1.0 / nrm, row, 1);
                break;
            }
        }
    }
}

/* +1 or -1: the sign that makes the entry of largest |value| (lowest index on ties)
 * positive. */
static double sign_by_largest(const double *v, int64_t d) {
    int64_t best = 0;
    for (int64_t c = 1; c < d; c++)
        if (fabs(v[c]) > fabs(v[best])) best = c;
    return v[best] < 0.0 ? -1.0 : 1.0;
}

/* Flips component j (and projection column j) where the convention asks for it. */
static void fix_signs(double *comps, double *proj, int64_t n, int64_t k, int64_t d,
                      const double *ref, int64_t k_ref) {
    for (int64_t j = 0; j < k; j++) {
        double *v = comps + j * d;
        double s = 0.0;
        if (ref && j < k_ref) {
            double dot = cblas_ddot((int)d, v, 1, ref + j * d, 1);
            s = dot > 0.0 ? 1.0 : dot < 0.0 ? -1.0 : 0.0;
        }
        if (s == 0.0) s = sign_by_largest(v, d);
        if (s > 0.0) continue;
        for (int64_t c = 0; c < d; c++) v[c] = -v[c];
        if (proj)
            for (int64_t i = 0; i < n; i++) proj[i * k + j] = -proj[i * k + j];
    }
}

/* Clamps round-off negatives and forms the ratios. */
static void finish_spectrum(nv_pca *p) {
    double total = 0.0;
    for (int64_t j = 0; j < p->r; j++) {
        if (!(p->explained_variance[j] > 0.0)) p->explained_variance[j] = 0.0;
        total += p->explained_variance[j];
    }
    p->total_variance = total;
    for (int64_t j = 0; j < p->r; j++)
        p->explained_variance_ratio[j] = total > 0.0 ? p->explained_variance[j] / total : 0.0;
}

typedef nv_status (*pca_core_fn)(const nv_real *, int64_t, int64_t, const double *, int64_t,
                                 double *, double *, double *, nv_error *);

/* The CPU or the CUDA core, under the device rule (device.h). */
static nv_status run_core(nv_device_kind want, const nv_real *x, int64_t n, int64_t d,
                          const double *mean, int64_t k, double *evals, double *comps,
                          double *proj, nv_device_kind *used, const char **note, nv_error *err) {
    void *gpu = NULL;
    nv_status st = nv_device_select(want, "pca", "nv_pca_core_cuda", 1, &gpu, note, err);
    if (st != NV_OK) return st;
    *used = gpu ? NV_DEVICE_CUDA : NV_DEVICE_CPU;
    pca_core_fn core = gpu ? (pca_core_fn)gpu : nv_pca_core_cpu;
    return core(x, n, d, mean, k, evals, comps, proj, err);
}

nv_status nv_pca_fit(const nv_real *x, int64_t n, int64_t d, const nv_pca_opts *opts,
                     nv_pca **out, const char **note, nv_error *err) {
    *out = NULL;
    if (note) *note = NULL;
    nv_pca_opts o = {0};
    if (opts) o = *opts;
    int64_t k = o.k > 0 ? o.k : NV_PCA_DEFAULT_K;
    if (!x || n < 2 || d < 1)
        return nv_fail(err, NV_EINPUT,
                       "pca: matrix of %lld x %lld: expected at least 2 rows and 1 column",
                       (long long)n, (long long)d);
    if (o.k < 0 || k > NV_MIN(n - 1, d))
        return nv_fail(err, NV_EINPUT,
                       "pca: k = %lld components of a %lld x %lld matrix: expected 1 <= k <= "
                       "min(n - 1, d) = %lld (centring leaves n - 1 degrees of freedom)",
                       (long long)o.k, (long long)n, (long long)d,
                       (long long)NV_MIN(n - 1, d));
    if (o.reference && o.k_ref < 0)
        return nv_fail(err, NV_EINPUT, "pca: reference with %lld rows: expected >= 0",
                       (long long)o.k_ref);
    if (n > INT32_MAX || d > INT32_MAX)
        return nv_fail(err, NV_EINPUT, "pca: %lld x %lld exceeds the BLAS 32-bit index range",
                       (long long)n, (long long)d);

    int64_t r = NV_MIN(n, d);
    size_t count = (size_t)d + 2 * (size_t)r + (size_t)k * (size_t)d + (size_t)n * (size_t)k;
    nv_pca *p = nv_calloc(1, sizeof *p + count * sizeof(double), err);
    if (!p) return NV_ENOMEM;
    p->n = n;
    p->d = d;
    p->k = k;
    p->r = r;
    p->form = n < d ? NV_PCA_GRAM : NV_PCA_COVARIANCE;
    p->mean = (double *)(p + 1);
    p->explained_variance = p->mean + d;
    p->explained_variance_ratio = p->explained_variance + r;
    p->components = p->explained_variance_ratio + r;
    p->projections = p->components + k * d;

    nv_status st = column_means(x, n, d, p->mean, err);
    if (st == NV_OK)
        st = run_core(o.device, x, n, d, p->mean, k, p->explained_variance, p->components,
                      p->projections, &p->device, note, err);
    if (st != NV_OK) {
        nv_pca_free(p);
        return st;
    }
    finish_spectrum(p);
    complete_components(p->components, k, d);
    fix_signs(p->components, p->projections, n, k, d, o.reference, o.reference ? o.k_ref : 0);
    *out = p;
    return NV_OK;
}

void nv_pca_free(nv_pca *p) { free(p); }

nv_status nv_pca_project(const nv_pca *p, const nv_real *y, int64_t m, double *out,
                         nv_error *err) {
    if (m < 0 || (m > 0 && !y))
        return nv_fail(err, NV_EINPUT, "pca: project %lld rows: expected m >= 0 and data",
                       (long long)m);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < p->d; j++)
            if (!isfinite(y[i * p->d + j]))
                return nv_fail(err, NV_EINPUT,
                               "pca: project: entry at row %lld, column %lld is %g: expected a "
                               "finite number",
                               (long long)i, (long long)j, (double)y[i * p->d + j]);
    if (m == 0) return NV_OK;
    return project_rows(y, m, p->d, p->mean, p->components, p->k, out, err);
}

nv_status nv_pca_align(nv_pca *p, const double *reference, int64_t k_ref, nv_error *err) {
    if (!reference || k_ref < 0)
        return nv_fail(err, NV_EINPUT, "pca: align: expected a reference of k_ref >= 0 rows");
    fix_signs(p->components, p->projections, p->n, p->k, p->d, reference, k_ref);
    return NV_OK;
}

int64_t nv_pca_ncomponents_for(const nv_pca *p, double fraction) {
    double cum = 0.0;
    for (int64_t j = 0; j < p->r; j++) {
        cum += p->explained_variance_ratio[j];
        /* A tiny slack so that an exact 0.9 is not missed by the last ulp of a sum. */
        if (cum >= fraction - 1e-12) return j + 1;
    }
    return p->r;
}
