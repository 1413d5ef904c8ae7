/* test_pca.c: PCA (analysis/geometry/pca.c) checked against its defining properties, computed
 * here independently in plain double loops: C v = lambda v for the covariance C,
 * orthonormal components, the spectrum summing to trace(C), projections equal to
 * X_c v, the sign conventions and alignment, determinism, and bad input. The
 * comparison with sklearn is tests/integration/pca_sklearn.py. */
#include "nerve/pca.h"
#include "nerve/rng.h"
#include "testutil.h"

/* Anisotropic Gaussian data: column j scaled by 0.8^j, mixed by a fixed rotation-ish
 * matrix so the components are not the axes, plus an offset. */
static nv_real *make_data(int64_t n, int64_t d, uint64_t seed) {
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    double *mix = malloc((size_t)(d * d) * sizeof *mix);
    for (int64_t i = 0; i < d * d; i++) mix[i] = nv_rng_normal(seed, NV_STREAM_TEST, 1000000 + i);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double s = 0.0;
            for (int64_t t = 0; t < d; t++)
                s += nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)(i * d + t)) * pow(0.8, (double)t) *
                     mix[t * d + j];
            x[i * d + j] = (nv_real)(s + 0.5 * (double)j);
        }
    free(mix);
    return x;
}

/* Checks a fit against the covariance computed naively in double. */
static void check_properties(const nv_real *x, int64_t n, int64_t d, const nv_pca *p) {
    double *mean = calloc((size_t)d, sizeof *mean), *c = calloc((size_t)(d * d), sizeof *c);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += x[i * d + j] / (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++)
                c[a * d + b] += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]) / (double)(n - 1);
    double trace = 0.0, scale = p->explained_variance[0];
    for (int64_t a = 0; a < d; a++) trace += c[a * d + a];
    assert_true(fabs(trace - p->total_variance) <= 1e-10 * trace);
    for (int64_t j = 1; j < p->r; j++)
        assert_true(p->explained_variance[j] <= p->explained_variance[j - 1]);
    for (int64_t j = 0; j < p->k; j++) {
        const double *v = p->components + j * d;
        for (int64_t a = 0; a < d; a++) { /* C v = lambda v */
            double cv = 0.0;
            for (int64_t b = 0; b < d; b++) cv += c[a * d + b] * v[b];
            assert_true(fabs(cv - p->explained_variance[j] * v[a]) <= 1e-10 * scale);
        }
        for (int64_t t = 0; t < p->k; t++) {
            double dot = 0.0;
            for (int64_t a = 0; a < d; a++) dot += v[a] * p->components[t * d + a];
            assert_true(fabs(dot - (t == j ? 1.0 : 0.0)) <= 1e-12);
        }
        int64_t big = 0; /* sign convention: largest |loading| positive */
        for (int64_t a = 1; a < d; a++)
            if (fabs(v[a]) > fabs(v[big])) big = a;
        assert_true(v[big] > 0.0);
        for (int64_t i = 0; i < n; i++) {
            double pr = 0.0;
            for (int64_t a = 0; a < d; a++) pr += (x[i * d + a] - mean[a]) * v[a];
            assert_true(fabs(pr - p->projections[i * p->k + j]) <= 1e-9 * sqrt(scale));
        }
    }
    free(mean);
    free(c);
}

static void test_covariance_form(void **state) {
    (void)state;
    const int64_t n = 500, d = 12;
    nv_real *x = make_data(n, d, 11);
    nv_pca *p = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = 4, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, n, d, &o, &p, NULL, &err), NV_OK);
    assert_int_equal(p->form, NV_PCA_COVARIANCE);
    assert_int_equal(p->r, d);
    check_properties(x, n, d, p);
    nv_pca_free(p);
    free(x);
}

static void test_gram_form(void **state) {
    (void)state;
    const int64_t n = 20, d = 45;
    nv_real *x = make_data(n, d, 12);
    nv_pca *p = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = 5, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, n, d, &o, &p, NULL, &err), NV_OK);
    assert_int_equal(p->form, NV_PCA_GRAM);
    assert_int_equal(p->r, n);
    check_properties(x, n, d, p);
    assert_true(p->explained_variance[n - 1] <= 1e-12 * p->explained_variance[0]);
    nv_pca_free(p);
    free(x);
}

/* Defaults (k = 3), determinism, nv_pca_project on the fitted rows, the 90% count. */
static void test_defaults_determinism_project(void **state) {
    (void)state;
    const int64_t n = 300, d = 9;
    nv_real *x = make_data(n, d, 13);
    nv_pca *a = NULL, *b = NULL;
    nv_error err = {0};
    assert_int_equal(nv_pca_fit(x, n, d, NULL, &a, NULL, &err), NV_OK);
    assert_int_equal(nv_pca_fit(x, n, d, NULL, &b, NULL, &err), NV_OK);
    assert_int_equal(a->k, NV_PCA_DEFAULT_K);
    assert_memory_equal(a->components, b->components, (size_t)(a->k * d) * sizeof(double));
    assert_memory_equal(a->projections, b->projections, (size_t)(a->k * n) * sizeof(double));
    double *pr = malloc((size_t)(n * a->k) * sizeof *pr);
    assert_int_equal(nv_pca_project(a, x, n, pr, &err), NV_OK);
    assert_memory_equal(pr, a->projections, (size_t)(n * a->k) * sizeof(double));
    double cum = 0.0;
    int64_t m = nv_pca_ncomponents_for(a, 0.9);
    for (int64_t j = 0; j < m; j++) cum += a->explained_variance_ratio[j];
    assert_true(cum >= 0.9 - 1e-12);
    assert_true(cum - a->explained_variance_ratio[m - 1] < 0.9);
    free(pr);
    nv_pca_free(a);
    nv_pca_free(b);
    free(x);
}

/* Alignment: against the negated components every sign flips (projections too);
 * against itself nothing changes. Simulates consecutive epochs. */
static void test_alignment(void **state) {
    (void)state;
    const int64_t n = 200, d = 8, k = 3;
    nv_real *x = make_data(n, d, 14);
    nv_pca *a = NULL, *b = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = k, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, n, d, &o, &a, NULL, &err), NV_OK);
    double *neg = malloc((size_t)(k * d) * sizeof *neg);
    for (int64_t i = 0; i < k * d; i++) neg[i] = -a->components[i];
    o.reference = neg;
    o.k_ref = k;
    assert_int_equal(nv_pca_fit(x, n, d, &o, &b, NULL, &err), NV_OK);
    for (int64_t i = 0; i < k * d; i++) assert_true(b->components[i] == neg[i]);
    for (int64_t i = 0; i < k * n; i++) assert_true(b->projections[i] == -a->projections[i]);
    /* Re-align b to a's components: back to a exactly. */
    assert_int_equal(nv_pca_align(b, a->components, k, &err), NV_OK);
    assert_memory_equal(a->components, b->components, (size_t)(k * d) * sizeof(double));
    /* A reference with fewer rows: the rest keep the rule without one. */
    nv_pca_free(b);
    o.k_ref = 1;
    assert_int_equal(nv_pca_fit(x, n, d, &o, &b, NULL, &err), NV_OK);
    for (int64_t c = 0; c < d; c++) assert_true(b->components[c] == neg[c]);
    assert_memory_equal(a->components + d, b->components + d, (size_t)((k - 1) * d) * sizeof(double));
    free(neg);
    nv_pca_free(a);
    nv_pca_free(b);
    free(x);
}

/* A rank-1 matrix in the Gram form: directions 2..k have no variance and are
 * completed to an orthonormal set with zero projections. */
static void test_rank_deficient(void **state) {
    (void)state;
    const int64_t n = 5, d = 7, k = 4;
    nv_real x[35];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (nv_real)((i + 1) * (j - 3));
    nv_pca *p = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = k, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, n, d, &o, &p, NULL, &err), NV_OK);
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double dot = 0.0;
            for (int64_t c = 0; c < d; c++) dot += p->components[a * d + c] * p->components[b * d + c];
            assert_true(fabs(dot - (a == b)) < 1e-12);
        }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 1; j < k; j++) assert_true(p->projections[i * k + j] == 0.0);
    assert_true(fabs(p->explained_variance_ratio[0] - 1.0) < 1e-12);
    nv_pca_free(p);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[20];
    for (int i = 0; i < 20; i++) x[i] = (nv_real)(i * i % 7);
    nv_pca *p = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = 5, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, 5, 4, &o, &p, NULL, &err), NV_EINPUT); /* k > d */
    assert_null(p);
    nv_error_clear(&err);
    o.k = 4;
    assert_int_equal(nv_pca_fit(x, 4, 5, &o, &p, NULL, &err), NV_EINPUT); /* k > n - 1 */
    assert_non_null(strstr(err.msg, "n - 1"));
    nv_error_clear(&err);
    assert_int_equal(nv_pca_fit(x, 1, 20, NULL, &p, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    x[13] = NAN;
    o.k = 2;
    assert_int_equal(nv_pca_fit(x, 5, 4, &o, &p, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 3, column 1"));
}

/* CUDA asked for where there is none is NV_ENODEVICE; AUTO falls back with a note. */
static void test_device_choice(void **state) {
    (void)state;
    nv_real *x = make_data(50, 4, 15);
    nv_pca *p = NULL;
    nv_error err = {0};
    const char *note = NULL;
    nv_pca_opts o = {.k = 2, .device = NV_DEVICE_AUTO};
    assert_int_equal(nv_pca_fit(x, 50, 4, &o, &p, &note, &err), NV_OK);
    if (p->device == NV_DEVICE_CPU) {
        assert_non_null(note);
        nv_pca_free(p);
        p = NULL;
        o.device = NV_DEVICE_CUDA;
        assert_int_equal(nv_pca_fit(x, 50, 4, &o, &p, NULL, &err), nv_cuda_status(NULL, 0));
        print_message("CUDA refused as expected: %s\n", err.msg);
    }
    nv_pca_free(p);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covariance_form),
        cmocka_unit_test(test_gram_form),
        cmocka_unit_test(test_defaults_determinism_project),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_device_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
