/* test_probe.c: the linear probe (analysis/geometry/probe.c): optimality of the returned
 * weights (the gradient of sklearn's objective, evaluated naively here, vanishes),
 * accuracy on separable and on overlapping classes, determinism, constant features,
 * and bad input. The sklearn comparison is tests/integration/probe_sklearn.py. */
#include "nerve/rng.h"
#include "nerve/stats.h"
#include "testutil.h"

/* n points in d dims, c classes: class means on a scaled simplex-ish pattern. */
static void blobs(int64_t n, int64_t d, int64_t c, double sep, uint64_t seed, nv_real *x,
                  int32_t *y) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(nv_rng_below(seed, NV_STREAM_TEST, 1u << 30 | (uint64_t)i, (uint32_t)c));
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)(i * d + j)) +
                           (nv_real)(sep * ((j % c) == y[i]) + 10.0 * j);
    }
}

/* Max |gradient| of sum_i CE_i + |W|^2/(2C) over the standardised train features,
 * divided by n (the probe's mean form), for weights (c, d+1). */
static double naive_grad_max(const nv_real *x, const int32_t *y, int64_t n, int64_t d, int64_t c,
                             double C, const double *w) {
    double *mean = calloc((size_t)d, sizeof *mean), *sd = calloc((size_t)d, sizeof *sd);
    double *g = calloc((size_t)(c * (d + 1)), sizeof *g), *z = malloc((size_t)c * sizeof *z);
    double *xs = malloc((size_t)d * sizeof *xs);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += x[i * d + j] / (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) sd[j] += pow(x[i * d + j] - mean[j], 2) / (double)n;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) xs[j] = sd[j] > 0 ? (x[i * d + j] - mean[j]) / sqrt(sd[j]) : 0;
        double mx = -INFINITY, s = 0;
        for (int64_t k = 0; k < c; k++) {
            z[k] = w[k * (d + 1) + d];
            for (int64_t j = 0; j < d; j++) z[k] += w[k * (d + 1) + j] * xs[j];
            mx = fmax(mx, z[k]);
        }
        for (int64_t k = 0; k < c; k++) s += exp(z[k] - mx);
        for (int64_t k = 0; k < c; k++) {
            double r = exp(z[k] - mx) / s - (k == y[i]);
            for (int64_t j = 0; j < d; j++) g[k * (d + 1) + j] += r * xs[j];
            g[k * (d + 1) + d] += r;
        }
    }
    double gmax = 0;
    for (int64_t k = 0; k < c; k++)
        for (int64_t j = 0; j <= d; j++) {
            double v = g[k * (d + 1) + j] + (j < d ? w[k * (d + 1) + j] / C : 0.0);
            gmax = fmax(gmax, fabs(v) / (double)n);
        }
    free(mean); free(sd); free(g); free(z); free(xs);
    return gmax;
}

static void test_optimality_overlapping(void **state) {
    (void)state;
    const int64_t n = 600, d = 8, c = 4;
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    blobs(n, d, c, 1.2, 1, x, y);
    double w[4 * 9];
    nv_probe_result r;
    nv_error err = {0};
    assert_int_equal(nv_probe_linear(x, y, 400, x + 400 * d, y + 400, 200, d, c, NULL, &r, w, &err),
                     NV_OK);
    double g = naive_grad_max(x, y, 400, d, c, 1.0, w);
    print_message("overlapping blobs: train %.3f test %.3f, %d iterations, max|grad| %.2e\n",
                  r.train_accuracy, r.test_accuracy, r.iterations, g);
    assert_true(r.converged);
    assert_true(g <= 1e-5);
    assert_true(r.train_accuracy > 0.6 && r.train_accuracy < 1.0);
    assert_true(r.test_accuracy > 0.5);
    assert_int_equal(r.classes, c);
    /* Determinism: the same bytes again. */
    double w2[4 * 9];
    nv_probe_result r2;
    assert_int_equal(nv_probe_linear(x, y, 400, x + 400 * d, y + 400, 200, d, c, NULL, &r2, w2, &err),
                     NV_OK);
    assert_memory_equal(w, w2, sizeof w);
    free(x);
    free(y);
}

static void test_separable(void **state) {
    (void)state;
    const int64_t n = 300, d = 5, c = 3;
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    blobs(n, d, c, 12.0, 2, x, y);
    for (int64_t i = 0; i < n; i++) x[i * d + 4] = 3.0f; /* a constant (dead) unit */
    nv_probe_result r;
    nv_error err = {0};
    assert_int_equal(nv_probe_linear(x, y, 200, x + 200 * d, y + 200, 100, d, 0, NULL, &r, NULL, &err),
                     NV_OK);
    assert_true(r.train_accuracy == 1.0 && r.test_accuracy == 1.0);
    assert_true(isfinite(r.objective));
    /* No test split: NaN test figures. */
    assert_int_equal(nv_probe_linear(x, y, 200, NULL, NULL, 0, d, 0, NULL, &r, NULL, &err), NV_OK);
    assert_true(isnan(r.test_accuracy));
    free(x);
    free(y);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t y[4] = {0, 1, 0, 3};
    nv_probe_result r;
    nv_error err = {0};
    assert_int_equal(nv_probe_linear(x, y, 4, NULL, NULL, 0, 2, 2, NULL, &r, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 3"));
    nv_error_clear(&err);
    int32_t one[4] = {0, 0, 0, 0};
    assert_int_equal(nv_probe_linear(x, one, 4, NULL, NULL, 0, 2, 0, NULL, &r, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    y[3] = 1;
    x[5] = NAN;
    assert_int_equal(nv_probe_linear(x, y, 4, NULL, NULL, 0, 2, 2, NULL, &r, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 2, column 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimality_overlapping),
        cmocka_unit_test(test_separable),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
