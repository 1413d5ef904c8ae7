/* test_cka.c: linear CKA (analysis/geometry/cka.c) against the formula evaluated naively in
 * double here, in both the feature-space and the Gram form (chosen by shape), its
 * invariances (orthogonal maps, isotropic scaling, translation), the layer matrix,
 * and bad input. The numpy oracle is tests/integration/cka_numpy.py. */
#include "nerve/rng.h"
#include "nerve/stats.h"
#include "testutil.h"

static nv_real *randn(int64_t n, int64_t d, uint64_t seed) {
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n * d; i++) x[i] = nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)i);
    return x;
}

/* ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on centred copies, plain loops. */
static double naive_cka(const nv_real *x, int64_t dx, const nv_real *y, int64_t dy, int64_t n) {
    double *xc = malloc((size_t)(n * dx) * sizeof *xc), *yc = malloc((size_t)(n * dy) * sizeof *yc);
    const nv_real *src[2] = {x, y};
    double *dst[2] = {xc, yc};
    int64_t w[2] = {dx, dy};
    for (int t = 0; t < 2; t++)
        for (int64_t j = 0; j < w[t]; j++) {
            double m = 0.0;
            for (int64_t i = 0; i < n; i++) m += src[t][i * w[t] + j];
            m /= (double)n;
            for (int64_t i = 0; i < n; i++) dst[t][i * w[t] + j] = src[t][i * w[t] + j] - m;
        }
    double f[3] = {0, 0, 0}; /* |Y^T X|^2, |X^T X|^2, |Y^T Y|^2 */
    const double *pa[3] = {yc, xc, yc}, *pb[3] = {xc, xc, yc};
    int64_t wa[3] = {dy, dx, dy}, wb[3] = {dx, dx, dy};
    for (int t = 0; t < 3; t++)
        for (int64_t a = 0; a < wa[t]; a++)
            for (int64_t b = 0; b < wb[t]; b++) {
                double s = 0.0;
                for (int64_t i = 0; i < n; i++) s += pa[t][i * wa[t] + a] * pb[t][i * wb[t] + b];
                f[t] += s * s;
            }
    free(xc);
    free(yc);
    return f[0] / (sqrt(f[1]) * sqrt(f[2]));
}

/* y = relu(x A) + noise: related but not identical representations. */
static nv_real *related(const nv_real *x, int64_t n, int64_t dx, int64_t dy, uint64_t seed) {
    nv_real *a = randn(dx, dy, seed), *y = randn(n, dy, seed + 1);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < dy; j++) {
            double s = 0.0;
            for (int64_t t = 0; t < dx; t++) s += x[i * dx + t] * a[t * dy + j];
            y[i * dy + j] = (nv_real)(fmax(s, 0.0) + 0.3 * y[i * dy + j]);
        }
    free(a);
    return y;
}

static void check_pair(int64_t n, int64_t dx, int64_t dy, uint64_t seed) {
    nv_real *x = randn(n, dx, seed), *y = related(x, n, dx, dy, seed + 10);
    double got, want = naive_cka(x, dx, y, dy, n);
    nv_error err = {0};
    assert_int_equal(nv_cka_linear(x, dx, y, dy, n, &got, &err), NV_OK);
    print_message("n %lld, widths %lld/%lld: CKA %.12f (naive %.12f)\n", (long long)n,
                  (long long)dx, (long long)dy, got, want);
    assert_true(fabs(got - want) <= 1e-12 + 1e-10 * want);
    assert_true(got > 0.0 && got <= 1.0 + 1e-12);
    free(x);
    free(y);
}

static void test_feature_form(void **state) { (void)state; check_pair(300, 10, 16, 1); }
static void test_gram_form(void **state) { (void)state; check_pair(25, 60, 80, 2); }
static void test_mixed_form(void **state) { (void)state; check_pair(40, 5, 200, 3); }

/* CKA is invariant to orthogonal maps, isotropic scaling and translation. */
static void test_invariances(void **state) {
    (void)state;
    const int64_t n = 200, d = 3;
    nv_real *x = randn(n, d, 4), *y = related(x, n, d, 7, 5), *z = malloc((size_t)(n * d) * sizeof *z);
    const double c = cos(0.7), s = sin(0.7);
    for (int64_t i = 0; i < n; i++) { /* rotate the first two axes, scale by 3, shift */
        const nv_real *r = x + i * d;
        z[i * d + 0] = (nv_real)(3.0 * (c * r[0] - s * r[1]) + 5.0);
        z[i * d + 1] = (nv_real)(3.0 * (s * r[0] + c * r[1]) - 2.0);
        z[i * d + 2] = (nv_real)(3.0 * r[2] + 1.0);
    }
    double a, b, self;
    nv_error err = {0};
    assert_int_equal(nv_cka_linear(x, d, y, 7, n, &a, &err), NV_OK);
    assert_int_equal(nv_cka_linear(z, d, y, 7, n, &b, &err), NV_OK);
    assert_int_equal(nv_cka_linear(x, d, z, d, n, &self, &err), NV_OK);
    assert_true(fabs(a - b) < 1e-6); /* float rounding of z */
    assert_true(fabs(self - 1.0) < 1e-6);
    free(x);
    free(y);
    free(z);
}

static void test_matrix(void **state) {
    (void)state;
    const int64_t n = 120, w[4] = {6, 20, 150, 3};
    nv_real *l[4];
    l[0] = randn(n, w[0], 6);
    for (int t = 1; t < 4; t++) l[t] = related(l[t - 1], n, w[t - 1], w[t], 7 + t);
    double m[16];
    nv_error err = {0};
    assert_int_equal(nv_cka_matrix((const nv_real *const *)l, w, 4, n, m, &err), NV_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(m[i * 4 + i] == 1.0);
        for (int j = 0; j < 4; j++) {
            assert_true(m[i * 4 + j] == m[j * 4 + i]);
            if (i == j) continue;
            double v;
            assert_int_equal(nv_cka_linear(l[i], w[i], l[j], w[j], n, &v, &err), NV_OK);
            assert_true(fabs(m[i * 4 + j] - v) <= 1e-13);
        }
    }
    for (int t = 0; t < 4; t++) free(l[t]);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, c[6] = {2, 2, 2, 2, 2, 2};
    double v;
    nv_error err = {0};
    assert_int_equal(nv_cka_linear(x, 2, c, 1, 6, &v, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "no variance"));
    nv_error_clear(&err);
    x[7] = INFINITY;
    assert_int_equal(nv_cka_linear(x, 2, x, 2, 6, &v, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 3, column 1"));
    nv_error_clear(&err);
    assert_int_equal(nv_cka_linear(x, 2, x, 2, 1, &v, &err), NV_EINPUT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feature_form), cmocka_unit_test(test_gram_form),
        cmocka_unit_test(test_mixed_form),   cmocka_unit_test(test_invariances),
        cmocka_unit_test(test_matrix),       cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
