/* test_twonn.c: TwoNN intrinsic dimension (analysis/geometry/twonn.c) on points uniform on
 * spheres S^m in R^(m+1), drawn with the project RNG (stream NV_STREAM_TEST), plus the
 * duplicate handling, thread-count independence, the fit alone and bad input.
 * The exact agreement with a numpy implementation of Ansuini et al.'s estimator is
 * tests/integration/twonn_numpy.py. */
#include "nerve/rng.h"
#include "nerve/stats.h"
#include "testutil.h"

/* n points uniform on the unit sphere S^m (normalised Gaussians) in R^(m+1). */
static nv_real *sphere_points(int64_t n, int m, uint64_t seed) {
    int64_t d = m + 1;
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            x[i * d + j] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)(i * d + j));
            s += (double)x[i * d + j] * x[i * d + j];
        }
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (nv_real)(x[i * d + j] / sqrt(s));
    }
    return x;
}

/* The figures for 1000 points: TwoNN underestimates high dimensions (the
 * finite-sample curvature bias), so the targets are below m for m = 10, 20. */
static void test_spheres(void **state) {
    (void)state;
    const int dims[4] = {2, 5, 10, 20};
    const double want[4] = {1.9, 4.8, 9.5, 15.8};
    for (int t = 0; t < 4; t++) {
        nv_real *x = sphere_points(1000, dims[t], 1);
        nv_twonn_result r;
        nv_error err = {0};
        assert_int_equal(nv_twonn(x, 1000, dims[t] + 1, NULL, &r, &err), NV_OK);
        print_message("S^%d: TwoNN %.3f (target %.1f, %+.1f%%), n_fit %lld\n", dims[t],
                      r.dimension, want[t], 100.0 * (r.dimension / want[t] - 1.0),
                      (long long)r.n_fit);
        assert_true(fabs(r.dimension - want[t]) <= 0.05 * want[t]);
        assert_int_equal(r.n_unique, 1000);
        assert_int_equal(r.n_fit, 900);
        free(x);
    }
}

/* Exact copies are collapsed: the estimate equals the one of the distinct points. */
static void test_duplicates(void **state) {
    (void)state;
    const int64_t n = 400, d = 6;
    nv_real *x = sphere_points(n, 5, 7);
    nv_real *y = malloc((size_t)((n + 50) * d) * sizeof *y);
    memcpy(y, x, (size_t)(n * d) * sizeof *y);
    for (int64_t i = 0; i < 50; i++) memcpy(y + (n + i) * d, x + (3 * i) * d, (size_t)d * sizeof *y);
    nv_twonn_result a, b;
    nv_error err = {0};
    assert_int_equal(nv_twonn(x, n, d, NULL, &a, &err), NV_OK);
    assert_int_equal(nv_twonn(y, n + 50, d, NULL, &b, &err), NV_OK);
    assert_int_equal(b.n_duplicates, 50);
    assert_int_equal(b.n_unique, n);
    assert_true(a.dimension == b.dimension);
    free(x);
    free(y);
}

/* The exhaustive search is split by query point: same bytes for any thread count. */
static void test_threads(void **state) {
    (void)state;
    nv_real *x = sphere_points(700, 10, 3);
    nv_twonn_result r1, r3;
    nv_error err = {0};
    nv_twonn_opts o1 = {.exhaustive = 1, .threads = 1}, o3 = {.exhaustive = 1, .threads = 3};
    assert_int_equal(nv_twonn(x, 700, 11, &o1, &r1, &err), NV_OK);
    assert_int_equal(nv_twonn(x, 700, 11, &o3, &r3, &err), NV_OK);
    assert_memory_equal(&r1.dimension, &r3.dimension, sizeof(double));
    free(x);
}

/* The screened search (default) gives the bytes of the exhaustive reference, also
 * where the dgemm shortcut is least accurate: a large common offset, an integer
 * lattice full of exactly tied distances, and ReLU-like data with many zeros. */
static void test_screened_equals_exhaustive(void **state) {
    (void)state;
    const int64_t n = 900, d = 12;
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int kind = 0; kind < 4; kind++) {
        for (int64_t i = 0; i < n * d; i++) {
            double g = nv_rng_normal(kind + 20, NV_STREAM_TEST, (uint64_t)i);
            x[i] = kind == 0 ? (nv_real)g
                 : kind == 1 ? (nv_real)(1000.0 + 1e-3 * g)              /* offset >> spread */
                 : kind == 2 ? (nv_real)floor(3.0 * g)                   /* lattice: ties */
                             : (nv_real)fmax(0.0, g - 0.8);              /* mostly zeros */
        }
        nv_twonn_result a, b;
        nv_error err = {0};
        nv_twonn_opts ex = {.exhaustive = 1};
        assert_int_equal(nv_twonn(x, n, d, NULL, &a, &err), NV_OK);
        assert_int_equal(nv_twonn(x, n, d, &ex, &b, &err), NV_OK);
        print_message("kind %d: screened %.15g exhaustive %.15g (ties %lld, duplicates %lld)\n",
                      kind, a.dimension, b.dimension, (long long)a.n_ties, (long long)a.n_duplicates);
        assert_memory_equal(&a.dimension, &b.dimension, sizeof(double));
        assert_int_equal(a.n_ties, b.n_ties);
    }
    free(x);
}

/* The fit alone on exact Pareto quantiles mu_i = (1 - i/(N+1))^(-1/d): slope ~ d. */
static void test_fit_pareto(void **state) {
    (void)state;
    const int64_t N = 2000;
    double *mu = malloc((size_t)N * sizeof *mu);
    for (int64_t i = 0; i < N; i++) mu[N - 1 - i] = pow(1.0 - (double)(i + 1) / (double)(N + 1), -1.0 / 7.0);
    double dim;
    int64_t nfit;
    nv_error err = {0};
    assert_int_equal(nv_twonn_fit(mu, N, 0.1, &dim, &nfit, &err), NV_OK);
    assert_int_equal(nfit, 1800);
    assert_true(fabs(dim - 7.0) < 0.05);
    free(mu);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[12] = {0, 0, 1, 0, 0, 1, 1, 1, 2, 2, 3, 3};
    nv_twonn_result r;
    nv_error err = {0};
    x[5] = NAN;
    assert_int_equal(nv_twonn(x, 6, 2, NULL, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 2, column 1"));
    nv_real same[8] = {1, 1, 1, 1, 2, 2, 1, 1};
    nv_error_clear(&err);
    assert_int_equal(nv_twonn(same, 4, 2, NULL, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "2 distinct"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spheres),   cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_threads),   cmocka_unit_test(test_screened_equals_exhaustive),
        cmocka_unit_test(test_fit_pareto),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
