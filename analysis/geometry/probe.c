/* probe.c: linear probes -- how linearly separable the classes are at a layer.
 *
 * A multinomial logistic regression (softmax over classes, L2 penalty on the
 * weights as in sklearn's LogisticRegression with parameter C) trained on a layer's
 * activations of the train split and scored on both splits. Features are
 * standardised with the train split's statistics first, so the penalty treats every
 * unit alike whatever its scale. The optimiser is full-batch L-BFGS (Nocedal &
 * Wright 2006, alg. 7.4/7.5) with a backtracking Armijo line search, a fixed
 * iteration cap and a gradient tolerance: no randomness, so the result is a pure
 * function of the data (and the BLAS thread count).
 *
 * Parameters theta (classes, d + 1) row-major: row k holds w_k then the bias b_k.
 * Objective in mean form: f = (1/n) sum_i CE_i + |W|^2 / (2 C n), which is sklearn's
 * sum form divided by n (same minimiser, gradients of order 1 for the tolerance).
 */
#include "nerve/stats.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LBFGS_M 10

typedef struct {
    const double *x;   /* (n, d) standardised features */
    const int32_t *y;  /* (n) labels */
    int64_t n, d, c;
    double lambda;     /* 1 / (C n): the mean-form penalty */
    double *z;         /* (n, c) scratch: logits, then softmax - onehot */
} probe_problem;

/* Logits z = x W^T + b for theta (c, d+1). */
static void logits(const double *x, int64_t n, int64_t d, int64_t c, const double *theta,
                   double *z) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)c, (int)d, 1.0, x, (int)d,
                theta, (int)(d + 1), 0.0, z, (int)c);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) z[i * c + k] += theta[k * (d + 1) + d];
}

/* Cross-entropy of one row of logits (overwritten by the softmax when softmax != 0);
 * log-sum-exp shifted by the max for range. */
static double row_ce(double *z, int64_t c, int32_t label, int softmax) {
    double mx = z[0];
    for (int64_t k = 1; k < c; k++) mx = fmax(mx, z[k]);
    double s = 0.0;
    for (int64_t k = 0; k < c; k++) s += exp(z[k] - mx);
    double lse = mx + log(s);
    double ce = lse - z[label];
    if (softmax)
        for (int64_t k = 0; k < c; k++) z[k] = exp(z[k] - lse);
    return ce;
}

/* f(theta) and its gradient g (c, d+1). */
static double objective(probe_problem *p, const double *theta, double *g) {
    const int64_t n = p->n, d = p->d, c = p->c;
    logits(p->x, n, d, c, theta, p->z);
    double ce = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double *zi = p->z + i * c;
        ce += row_ce(zi, c, p->y[i], 1);
        zi[p->y[i]] -= 1.0; /* softmax - onehot: dCE/dz */
    }
    double pen = 0.0;
    for (int64_t k = 0; k < c; k++)
        for (int64_t j = 0; j < d; j++) pen += theta[k * (d + 1) + j] * theta[k * (d + 1) + j];
    /* gW = (P - Y)^T x / n + lambda W; gb = column sums of (P - Y) / n. */
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)d, (int)n, 1.0 / (double)n,
                p->z, (int)c, p->x, (int)d, 0.0, g, (int)(d + 1));
    for (int64_t k = 0; k < c; k++) {
        double gb = 0.0;
        for (int64_t i = 0; i < n; i++) gb += p->z[i * c + k];
        g[k * (d + 1) + d] = gb / (double)n;
        for (int64_t j = 0; j < d; j++) g[k * (d + 1) + j] += p->lambda * theta[k * (d + 1) + j];
    }
    return ce / (double)n + 0.5 * p->lambda * pen;
}

static double max_abs(const double *v, int64_t m) {
    double a = 0.0;
    for (int64_t i = 0; i < m; i++) a = fmax(a, fabs(v[i]));
    return a;
}

/* Minimises the objective from theta = 0 by L-BFGS; returns iterations used. */
static int lbfgs(probe_problem *p, double *theta, int max_iter, double tol, int *converged,
                 double *work) {
    const int64_t m = p->c * (p->d + 1);
    double *g = work, *dir = g + m, *tnew = dir + m, *gnew = tnew + m;
    double *s = gnew + m, *yv = s + LBFGS_M * m; /* (LBFGS_M, m) each, a ring */
    double rho[LBFGS_M], alpha[LBFGS_M];
    int stored = 0, head = 0, it = 0;
    *converged = 0;
    double f = objective(p, theta, g);
    for (it = 0; it < max_iter; it++) {
        if (max_abs(g, m) <= tol) {
            *converged = 1;
            break;
        }
        /* Two-loop recursion: dir = -H g. */
        memcpy(dir, g, (size_t)m * sizeof *dir);
        for (int t = 0; t < stored; t++) {
            int h = (head - 1 - t + LBFGS_M) % LBFGS_M;
            alpha[h] = rho[h] * cblas_ddot((int)m, s + h * m, 1, dir, 1);
            cblas_daxpy((int)m, -alpha[h], yv + h * m, 1, dir, 1);
        }
        double gamma = 1.0;
        if (stored > 0) {
            int h = (head - 1 + LBFGS_M) % LBFGS_M;
            gamma = cblas_ddot((int)m, s + h * m, 1, yv + h * m, 1) /
                    cblas_ddot((int)m, yv + h * m, 1, yv + h * m, 1);
        } else {
            gamma = 1.0 / fmax(1.0, cblas_dnrm2((int)m, g, 1)); /* a cautious first step */
        }
        cblas_dscal((int)m, gamma, dir, 1);
        for (int t = stored - 1; t >= 0; t--) {
            int h = (head - 1 - t + LBFGS_M) % LBFGS_M;
            double beta = rho[h] * cblas_ddot((int)m, yv + h * m, 1, dir, 1);
            cblas_daxpy((int)m, alpha[h] - beta, s + h * m, 1, dir, 1);
        }
        cblas_dscal((int)m, -1.0, dir, 1);
        double slope = cblas_ddot((int)m, g, 1, dir, 1);
        if (!(slope < 0.0)) { /* not a descent direction: restart from steepest descent */
            stored = 0;
            for (int64_t i = 0; i < m; i++) dir[i] = -g[i];
            slope = -cblas_ddot((int)m, g, 1, g, 1);
        }
        /* Backtracking Armijo line search from the unit step. */
        double step = 1.0, fnew = f;
        int ok = 0;
        for (int ls = 0; ls < 60; ls++) {
            for (int64_t i = 0; i < m; i++) tnew[i] = theta[i] + step * dir[i];
            fnew = objective(p, tnew, gnew);
            if (fnew <= f + 1e-4 * step * slope) {
                ok = 1;
                break;
            }
            step *= 0.5;
        }
        if (!ok) break; /* no decrease possible at double precision: at the optimum */
        /* Curvature pair; skipped when not positive (keeps H positive definite). */
        double *sh = s + head * m, *yh = yv + head * m;
        for (int64_t i = 0; i < m; i++) {
            sh[i] = tnew[i] - theta[i];
            yh[i] = gnew[i] - g[i];
        }
        double sy = cblas_ddot((int)m, sh, 1, yh, 1);
        if (sy > 1e-12 * cblas_dnrm2((int)m, sh, 1) * cblas_dnrm2((int)m, yh, 1)) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % LBFGS_M;
            if (stored < LBFGS_M) stored++;
        }
        memcpy(theta, tnew, (size_t)m * sizeof *theta);
        memcpy(g, gnew, (size_t)m * sizeof *g);
        double fold = f;
        f = fnew;
        if (fold - f <= 1e-15 * fmax(1.0, fabs(f)) && max_abs(g, m) <= 100.0 * tol) {
            *converged = 1; /* stalled within reach of the tolerance */
            it++;
            break;
        }
    }
    if (!*converged && max_abs(g, m) <= tol) *converged = 1;
    return it;
}

/* Mean cross-entropy and accuracy (argmax, lowest class on ties) of theta on x. */
static void evaluate(const double *x, const int32_t *y, int64_t n, int64_t d, int64_t c,
                     const double *theta, double *z, double *loss, double *acc) {
    logits(x, n, d, c, theta, z);
    double ce = 0.0;
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        double *zi = z + i * c;
        int64_t best = 0;
        for (int64_t k = 1; k < c; k++)
            if (zi[k] > zi[best]) best = k;
        right += best == y[i];
        ce += row_ce(zi, c, y[i], 0);
    }
    *loss = n > 0 ? ce / (double)n : NAN;
    *acc = n > 0 ? (double)right / (double)n : NAN;
}

static nv_status check_split(const nv_real *x, const int32_t *y, int64_t n, int64_t d,
                             int64_t c, const char *split, nv_error *err) {
    for (int64_t i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= c)
            return nv_fail(err, NV_EINPUT,
                           "probe: %s label at row %lld is %d: expected 0..%lld", split,
                           (long long)i, (int)y[i], (long long)(c - 1));
        for (int64_t j = 0; j < d; j++)
            if (!isfinite(x[i * d + j]))
                return nv_fail(err, NV_EINPUT,
                               "probe: %s entry at row %lld, column %lld is %g: expected a "
                               "finite number",
                               split, (long long)i, (long long)j, (double)x[i * d + j]);
    }
    return NV_OK;
}

/* (x - mean) / std in double with the train statistics; constant features -> 0. */
static void standardise(const nv_real *x, int64_t n, int64_t d, const double *mean,
                        const double *inv_std, double *out) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            out[i * d + j] = ((double)x[i * d + j] - mean[j]) * inv_std[j];
}

nv_status nv_probe_linear(const nv_real *xtr, const int32_t *ytr, int64_t ntr, const nv_real *xte,
                          const int32_t *yte, int64_t nte, int64_t d, int64_t classes,
                          const nv_probe_opts *opts, nv_probe_result *out, double *weights,
                          nv_error *err) {
    nv_status st = NV_OK;
    memset(out, 0, sizeof *out);
    double C = opts && opts->C > 0.0 ? opts->C : 1.0;
    int max_iter = opts && opts->max_iter > 0 ? opts->max_iter : 500;
    double tol = opts && opts->tol > 0.0 ? opts->tol : 1e-6;
    if (!xtr || !ytr || ntr < 1 || d < 1 || nte < 0 || (nte > 0 && (!xte || !yte)))
        return nv_fail(err, NV_EINPUT,
                       "probe: train %lld x %lld, test %lld rows: expected ntr >= 1, d >= 1",
                       (long long)ntr, (long long)d, (long long)nte);
    int64_t c = classes;
    if (c <= 0) {
        c = 0;
        for (int64_t i = 0; i < ntr; i++) c = NV_MAX(c, (int64_t)ytr[i] + 1);
    }
    if (c < 2)
        return nv_fail(err, NV_EINPUT, "probe: %lld classes: expected at least 2",
                       (long long)c);
    if ((st = check_split(xtr, ytr, ntr, d, c, "train", err)) != NV_OK) return st;
    if ((st = check_split(xte, yte, nte, d, c, "test", err)) != NV_OK) return st;

    const int64_t m = c * (d + 1);
    int64_t nmax = NV_MAX(ntr, nte);
    double *mean = nv_calloc((size_t)d, sizeof(double), err);
    double *inv_std = nv_calloc((size_t)d, sizeof(double), err);
    double *xs = nv_malloc((size_t)nmax * (size_t)d * sizeof(double), err);
    double *z = nv_malloc((size_t)nmax * (size_t)c * sizeof(double), err);
    double *theta = nv_calloc((size_t)m, sizeof(double), err);
    double *work = nv_malloc((size_t)(4 + 2 * LBFGS_M) * (size_t)m * sizeof(double), err);
    if (!mean || !inv_std || !xs || !z || !theta || !work) { st = NV_ENOMEM; goto done; }

    /* Train statistics (population std, as sklearn's StandardScaler). */
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += xtr[i * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)ntr;
    for (int64_t i = 0; i < ntr; i++)
        for (int64_t j = 0; j < d; j++) {
            double v = xtr[i * d + j] - mean[j];
            inv_std[j] += v * v;
        }
    for (int64_t j = 0; j < d; j++) {
        double sd = sqrt(inv_std[j] / (double)ntr);
        inv_std[j] = sd > 0.0 ? 1.0 / sd : 0.0;
    }
    standardise(xtr, ntr, d, mean, inv_std, xs);

    probe_problem prob = {xs, ytr, ntr, d, c, 1.0 / (C * (double)ntr), z};
    out->iterations = lbfgs(&prob, theta, max_iter, tol, &out->converged, work);
    double pen = 0.0;
    for (int64_t k = 0; k < c; k++)
        for (int64_t j = 0; j < d; j++) pen += theta[k * (d + 1) + j] * theta[k * (d + 1) + j];
    evaluate(xs, ytr, ntr, d, c, theta, z, &out->train_loss, &out->train_accuracy);
    out->objective = out->train_loss * (double)ntr + pen / (2.0 * C);
    if (nte > 0) {
        standardise(xte, nte, d, mean, inv_std, xs);
        evaluate(xs, yte, nte, d, c, theta, z, &out->test_loss, &out->test_accuracy);
    } else {
        out->test_loss = out->test_accuracy = NAN;
    }
    out->classes = c;
    if (weights) memcpy(weights, theta, (size_t)m * sizeof *weights);
    if (!isfinite(out->objective))
        st = nv_fail(err, NV_ENUMERIC, "probe: the objective is %g after %d iterations",
                     out->objective, out->iterations);
done:
    free(mean);
    free(inv_std);
    free(xs);
    free(z);
    free(theta);
    free(work);
    return st;
}
