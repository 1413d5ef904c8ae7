/* cka.c: linear centred kernel alignment (Kornblith, Norouzi, Lee, Hinton 2019)
 * between layers' activations on the same points, in double.
 *
 *   CKA(X, Y) = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)
 *
 * with columns centred. ||Y_c^T X_c||_F^2 = <X_c X_c^T, Y_c Y_c^T>_F, so every term
 * has a feature-space form (products of widths, cost n dx dy) and a Gram form
 * (n x n matrices, cost about n^2 (dx + dy) / 2); each term takes the cheaper one.
 * Both give the same number up to round-off in double.
 */
#include "nerve/stats.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A centred double copy of x (n, w); NaN/Inf is an input error naming the entry. */
static nv_status centred_copy(const nv_real *x, int64_t n, int64_t w, const char *what,
                              double **out, nv_error *err) {
    *out = NULL;
    double *c = nv_malloc((size_t)n * (size_t)w * sizeof *c, err);
    double *mean = nv_calloc((size_t)w, sizeof *mean, err);
    if (!c || !mean) {
        free(c);
        free(mean);
        return NV_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < w; j++) {
            double v = x[i * w + j];
            if (!isfinite(v)) {
                free(c);
                free(mean);
                return nv_fail(err, NV_EINPUT,
                               "cka: %s: entry at row %lld, column %lld is %g: expected a finite "
                               "number",
                               what, (long long)i, (long long)j, v);
            }
            mean[j] += v;
        }
    for (int64_t j = 0; j < w; j++) mean[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < w; j++) c[i * w + j] = (double)x[i * w + j] - mean[j];
    free(mean);
    *out = c;
    return NV_OK;
}

/* Frobenius inner product of two symmetric (m, m) matrices of which only the upper
 * triangles are filled (as dsyrk leaves them). */
static double sym_upper_dot(const double *a, const double *b, int64_t m) {
    double diag = 0.0, off = 0.0;
    for (int64_t i = 0; i < m; i++) {
        diag += a[i * m + i] * b[i * m + i];
        for (int64_t j = i + 1; j < m; j++) off += a[i * m + j] * b[i * m + j];
    }
    return diag + 2.0 * off;
}

/* Upper triangle of the feature-space (w, w) or Gram (n, n) product of xc (n, w). */
static void sym_product(const double *xc, int64_t n, int64_t w, int gram, double *out) {
    if (gram)
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)w, 1.0, xc, (int)w, 0.0,
                    out, (int)n);
    else
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)w, (int)n, 1.0, xc, (int)w, 0.0,
                    out, (int)w);
}

/* ||X_c^T X_c||_F, in the cheaper form. */
static nv_status self_norm(const double *xc, int64_t n, int64_t w, double *norm, nv_error *err) {
    int gram = w > n;
    int64_t m = gram ? n : w;
    double *s = nv_malloc((size_t)m * (size_t)m * sizeof *s, err);
    if (!s) return NV_ENOMEM;
    sym_product(xc, n, w, gram, s);
    *norm = sqrt(sym_upper_dot(s, s, m));
    free(s);
    return NV_OK;
}

/* ||Y_c^T X_c||_F^2, in the cheaper form. */
static nv_status cross_term(const double *xc, int64_t dx, const double *yc, int64_t dy, int64_t n,
                            double *out, nv_error *err) {
    double feature_cost = (double)n * (double)dx * (double)dy;
    double gram_cost = 0.5 * (double)n * (double)n * (double)(dx + dy);
    if (feature_cost <= gram_cost) {
        double *s = nv_malloc((size_t)dx * (size_t)dy * sizeof *s, err);
        if (!s) return NV_ENOMEM;
        /* s (dx, dy) = X_c^T Y_c */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dx, (int)dy, (int)n, 1.0, xc,
                    (int)dx, yc, (int)dy, 0.0, s, (int)dy);
        double acc = 0.0;
        for (int64_t i = 0; i < dx * dy; i++) acc += s[i] * s[i];
        free(s);
        *out = acc;
        return NV_OK;
    }
    double *k = nv_malloc((size_t)n * (size_t)n * sizeof *k, err);
    double *l = nv_malloc((size_t)n * (size_t)n * sizeof *l, err);
    if (!k || !l) {
        free(k);
        free(l);
        return NV_ENOMEM;
    }
    sym_product(xc, n, dx, 1, k);
    sym_product(yc, n, dy, 1, l);
    *out = sym_upper_dot(k, l, n);
    free(k);
    free(l);
    return NV_OK;
}

static nv_status check_shape(int64_t n, int64_t w, const char *what, nv_error *err) {
    if (n < 2 || w < 1)
        return nv_fail(err, NV_EINPUT, "cka: %s of %lld x %lld: expected n >= 2 rows, >= 1 column",
                       what, (long long)n, (long long)w);
    if (n > INT32_MAX || w > INT32_MAX)
        return nv_fail(err, NV_EINPUT, "cka: %s of %lld x %lld exceeds the BLAS index range",
                       what, (long long)n, (long long)w);
    return NV_OK;
}

static nv_status zero_variance(const char *what, nv_error *err) {
    return nv_fail(err, NV_EINPUT,
                   "cka: %s has no variance (every row the same): CKA is undefined", what);
}

nv_status nv_cka_linear(const nv_real *x, int64_t dx, const nv_real *y, int64_t dy, int64_t n,
                        double *cka, nv_error *err) {
    nv_status st;
    double *xc = NULL, *yc = NULL, nx = 0.0, ny = 0.0, cross = 0.0;
    if ((st = check_shape(n, dx, "X", err)) != NV_OK) return st;
    if ((st = check_shape(n, dy, "Y", err)) != NV_OK) return st;
    if ((st = centred_copy(x, n, dx, "X", &xc, err)) != NV_OK) goto done;
    if ((st = centred_copy(y, n, dy, "Y", &yc, err)) != NV_OK) goto done;
    if ((st = self_norm(xc, n, dx, &nx, err)) != NV_OK) goto done;
    if ((st = self_norm(yc, n, dy, &ny, err)) != NV_OK) goto done;
    if (!(nx > 0.0)) { st = zero_variance("X", err); goto done; }
    if (!(ny > 0.0)) { st = zero_variance("Y", err); goto done; }
    if ((st = cross_term(xc, dx, yc, dy, n, &cross, err)) != NV_OK) goto done;
    *cka = cross / (nx * ny);
done:
    free(xc);
    free(yc);
    return st;
}

nv_status nv_cka_matrix(const nv_real *const *layers, const int64_t *widths, int64_t L, int64_t n,
                        double *out, nv_error *err) {
    nv_status st = NV_OK;
    if (L < 1 || !layers || !widths)
        return nv_fail(err, NV_EINPUT, "cka: %lld layers: expected at least 1", (long long)L);
    double **c = nv_calloc((size_t)L, sizeof *c, err);
    double *norm = nv_calloc((size_t)L, sizeof *norm, err);
    if (!c || !norm) { st = NV_ENOMEM; goto done; }
    char what[32];
    for (int64_t l = 0; l < L; l++) {
        snprintf(what, sizeof what, "layer %lld", (long long)l);
        if ((st = check_shape(n, widths[l], what, err)) != NV_OK) goto done;
        if ((st = centred_copy(layers[l], n, widths[l], what, &c[l], err)) != NV_OK) goto done;
        if ((st = self_norm(c[l], n, widths[l], &norm[l], err)) != NV_OK) goto done;
        if (!(norm[l] > 0.0)) { st = zero_variance(what, err); goto done; }
    }
    for (int64_t i = 0; i < L; i++) {
        out[i * L + i] = 1.0; /* exactly, by the formula */
        for (int64_t j = i + 1; j < L; j++) {
            double cross;
            if ((st = cross_term(c[i], widths[i], c[j], widths[j], n, &cross, err)) != NV_OK)
                goto done;
            out[i * L + j] = out[j * L + i] = cross / (norm[i] * norm[j]);
        }
    }
done:
    if (c)
        for (int64_t l = 0; l < L; l++) free(c[l]);
    free(c);
    free(norm);
    return st;
}
