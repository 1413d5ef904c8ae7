/* test_pca_parity.c: the CUDA PCA core (cuda/pca.cu) against its CPU reference
 * (nv_pca_core_cpu, analysis/geometry/pca.c) on the same inputs, in both forms, and the whole
 * nv_pca_fit on each device (signs fixed by the shared convention, so compared
 * directly). Both compute in double; only summation orders differ. Tolerances
 * (docs/CONTRACTS.md, |a - b| <= atol + rtol |b|):
 *   eigenvalues   atol 1e-11 * lambda_max, rtol 1e-9
 *   components    atol 1e-8, rtol 0 (after matching signs; spectra with gaps)
 *   projections   atol 1e-8 * sqrt(lambda_max), rtol 1e-8
 * Exits 77 with "SKIP: no usable CUDA device (...)" when cudaGetDeviceCount fails or
 * finds none, or when the build has no CUDA. */
#include "nerve/pca.h"
#include "nerve/rng.h"
#include "testutil.h"

static void assert_close_d(const double *a, const double *b, int64_t n, double atol, double rtol,
                           const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(a[i] - b[i]) <= atol + rtol * fabs(b[i]))) {
            print_error("%s: element %lld: cuda %.17g, cpu %.17g (atol %g, rtol %g)\n", what,
                        (long long)i, a[i], b[i], atol, rtol);
            fail();
        }
}

/* Gaussian data with variances decaying by 0.85 per direction (gaps of 15%). */
static nv_real *make_data(int64_t n, int64_t d, uint64_t seed) {
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = (nv_real)(nv_rng_normal(seed, NV_STREAM_TEST, (uint64_t)(i * d + j)) *
                                         pow(0.85, (double)(j % 40)) * (1.0 + 0.01 * j) +
                                     0.1 * j);
    return x;
}

static void core_parity(int64_t n, int64_t d, int64_t k) {
    nv_real *x = make_data(n, d, (uint64_t)(n * 131 + d));
    double *mean = calloc((size_t)d, sizeof *mean);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += x[i * d + j] / (double)n;
    int64_t r = NV_MIN(n, d);
    double *ev[2], *cm[2], *pj[2];
    for (int t = 0; t < 2; t++) {
        ev[t] = malloc((size_t)r * sizeof(double));
        cm[t] = malloc((size_t)(k * d) * sizeof(double));
        pj[t] = malloc((size_t)(n * k) * sizeof(double));
    }
    nv_error err = {0};
    assert_int_equal(nv_pca_core_cpu(x, n, d, mean, k, ev[0], cm[0], pj[0], &err), NV_OK);
    double t0 = nv_now();
    assert_int_equal(nv_pca_core_cuda(x, n, d, mean, k, ev[1], cm[1], pj[1], &err), NV_OK);
    print_message("%lld x %lld (%s form): cuda core %.3f s\n", (long long)n, (long long)d,
                  n < d ? "Gram" : "covariance", nv_now() - t0);
    /* The backends may return opposite signs: match each component first. */
    for (int64_t j = 0; j < k; j++) {
        double dot = 0.0;
        for (int64_t c = 0; c < d; c++) dot += cm[0][j * d + c] * cm[1][j * d + c];
        if (dot < 0) {
            for (int64_t c = 0; c < d; c++) cm[1][j * d + c] = -cm[1][j * d + c];
            for (int64_t i = 0; i < n; i++) pj[1][i * k + j] = -pj[1][i * k + j];
        }
    }
    double top = ev[0][0];
    assert_close_d(ev[1], ev[0], r, 1e-11 * top, 1e-9, "eigenvalues");
    assert_close_d(cm[1], cm[0], k * d, 1e-8, 0, "components");
    assert_close_d(pj[1], pj[0], n * k, 1e-8 * sqrt(top), 1e-8, "projections");
    for (int t = 0; t < 2; t++) {
        free(ev[t]);
        free(cm[t]);
        free(pj[t]);
    }
    free(mean);
    free(x);
}

static void test_core_covariance(void **state) { (void)state; core_parity(4000, 96, 5); }
static void test_core_gram(void **state) { (void)state; core_parity(80, 700, 6); }
static void test_core_activations_size(void **state) { (void)state; core_parity(20000, 256, 3); }

/* The whole fit on each device: same signs by the shared convention. */
static void test_fit_parity(void **state) {
    (void)state;
    const int64_t n = 3000, d = 50, k = 3;
    nv_real *x = make_data(n, d, 99);
    nv_pca *a = NULL, *b = NULL;
    nv_error err = {0};
    nv_pca_opts o = {.k = k, .device = NV_DEVICE_CPU};
    assert_int_equal(nv_pca_fit(x, n, d, &o, &a, NULL, &err), NV_OK);
    o.device = NV_DEVICE_CUDA;
    assert_int_equal(nv_pca_fit(x, n, d, &o, &b, NULL, &err), NV_OK);
    assert_int_equal(b->device, NV_DEVICE_CUDA);
    double top = a->explained_variance[0];
    assert_close_d(b->explained_variance_ratio, a->explained_variance_ratio, a->r, 1e-12, 1e-9,
                   "ratios");
    assert_close_d(b->components, a->components, k * d, 1e-8, 0, "components");
    assert_close_d(b->projections, a->projections, n * k, 1e-8 * sqrt(top), 1e-8, "projections");
    nv_pca_free(a);
    nv_pca_free(b);
    free(x);
}

int main(void) {
    int rc = nv_test_gpu_skip("the PCA parity");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_covariance),
        cmocka_unit_test(test_core_gram),
        cmocka_unit_test(test_core_activations_size),
        cmocka_unit_test(test_fit_parity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
