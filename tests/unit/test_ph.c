/* test_ph.c: unit tests of the persistent homology engine's library API
 * (include/nerve/ph.h): small complexes whose barcodes are known by hand, the
 * colex simplex numbering, dense vs sparse vs thresholded inputs, thread counts,
 * coefficients, infinite distances, the input checks and the memory refusal. The
 * comparison with Ripser and GUDHI on many clouds is in tests/integration/ph_*.py.
 */
#include "testutil.h"

#include "nerve/ph.h"
#include "ph_clouds.h"

/* Euclidean distances of a small cloud (n, d) through the engine's own reader path. */
static float *cloud_lower(const float *x, int64_t n, int64_t d) {
    float *lower = NULL;
    nv_error err = {0};
    assert_int_equal(nv_ph_euclidean(x, n, d, &lower, &err), NV_OK);
    return lower;
}

static nv_ph_result compute(const float *lower, int64_t n, int max_dim, int threads, uint32_t p) {
    nv_ph_params prm = ph_params(max_dim);
    prm.threads = threads;
    prm.modulus = p;
    return ph_run_dense(lower, n, &prm);
}

static int64_t count_dim(const nv_ph_result *r, int dim) {
    int64_t c = 0;
    for (int64_t i = 0; i < r->count; i++) c += r->pairs[i].dim == dim;
    return c;
}

/* The unit square: three H0 bars die at 1, one lives; the 4-cycle is born at 1 and
 * filled at sqrt(2). */
static void test_square(void **state) {
    (void)state;
    const float x[] = {0, 0, 1, 0, 0, 1, 1, 1};
    float *lower = cloud_lower(x, 4, 2);
    nv_ph_result r = compute(lower, 4, 1, 1, 2);
    assert_int_equal(count_dim(&r, 0), 4);
    assert_int_equal(count_dim(&r, 1), 1);
    const nv_ph_pair *h1 = &r.pairs[r.count - 1];
    assert_int_equal(h1->dim, 1);
    assert_true(h1->birth == 1.0f);
    assert_true(h1->death == sqrtf(2.0f));
    /* its birth simplex is an edge of length 1, its death a triangle */
    int64_t v[3];
    nv_ph_simplex_vertices(h1->death_simplex, 2, 4, v);
    assert_true(v[0] > v[1] && v[1] > v[2]);
    assert_true(isinf(r.pairs[3].death)); /* sorted: the essential H0 bar last in dim 0 */
    assert_int_equal(nv_ph_betti_at(&r, 0, 0.5f), 4);
    assert_int_equal(nv_ph_betti_at(&r, 0, 1.0f), 1);
    assert_int_equal(nv_ph_betti_at(&r, 1, 1.2f), 1);
    assert_int_equal(nv_ph_betti_at(&r, 1, 1.5f), 0);
    nv_ph_result_free(&r);
    free(lower);
}

/* The colex numbering: index sum_i C(v_i, i+1) and back. */
static void test_simplex_vertices(void **state) {
    (void)state;
    int64_t v[4];
    nv_ph_simplex_vertices(0, 2, 10, v); /* {0,1,2} */
    assert_int_equal(v[0], 2);
    assert_int_equal(v[2], 0);
    /* {1, 4, 7}: C(1,1) + C(4,2) + C(7,3) = 1 + 6 + 35 = 42 */
    nv_ph_simplex_vertices(42, 2, 10, v);
    assert_int_equal(v[0], 7);
    assert_int_equal(v[1], 4);
    assert_int_equal(v[2], 1);
    nv_ph_simplex_vertices(5, 0, 10, v);
    assert_int_equal(v[0], 5);
}

/* A cloud in general position: 1 and 2 threads give the same pairs, the dense
 * input with a threshold the same as the equivalent sparse input. */
static void test_threads_and_sparse(void **state) {
    (void)state;
    const int64_t n = 70, d = 3;
    float x[70 * 3];
    uint64_t s = 12345;
    for (int64_t i = 0; i < n * d; i++) { /* a small LCG: the library has its own RNG, tests need none */
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((s >> 33) % 100000) / 100000.0f;
    }
    float *lower = cloud_lower(x, n, d);
    nv_ph_result a = compute(lower, n, 2, 1, 2), b = compute(lower, n, 2, 2, 2);
    assert_same_pairs(&a, &b, "1 thread vs 2 threads");
    /* threshold on a dense matrix vs the same edges as a sparse matrix */
    const float thr = 0.35f;
    int64_t *rp = calloc(n + 1, sizeof *rp), *col = malloc(n * n * sizeof *col);
    float *val = malloc(n * n * sizeof *val);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        rp[i] = k;
        for (int64_t j = 0; j < n; j++) {
            if (i == j) continue;
            float dij = i > j ? lower[i * (i - 1) / 2 + j] : lower[j * (j - 1) / 2 + i];
            if (dij <= thr) { col[k] = j; val[k++] = dij; }
        }
    }
    rp[n] = k;
    nv_ph_params prm = ph_params(2);
    prm.threshold = thr;
    nv_ph_input dense = {NV_PH_DENSE, n, lower, NULL, NULL, NULL};
    nv_ph_input sparse = {NV_PH_SPARSE, n, NULL, rp, col, val};
    nv_ph_result c, e;
    nv_error err = {0};
    assert_int_equal(nv_ph_compute(&dense, &prm, &c, &err), NV_OK);
    prm.threshold = INFINITY; /* the sparse input already stops at thr */
    assert_int_equal(nv_ph_compute(&sparse, &prm, &e, &err), NV_OK);
    assert_same_pairs(&c, &e, "dense with threshold vs sparse");
    /* below the threshold, the thresholded barcode agrees with the full one */
    for (int dim = 0; dim <= 2; dim++)
        assert_int_equal(nv_ph_betti_at(&c, dim, 0.2f), nv_ph_betti_at(&a, dim, 0.2f));
    nv_ph_result_free(&a);
    nv_ph_result_free(&b);
    nv_ph_result_free(&c);
    nv_ph_result_free(&e);
    free(rp);
    free(col);
    free(val);
    free(lower);
}

/* An octahedron (the 2-sphere's smallest flag triangulation): H2 born at sqrt(2),
 * alive to the end of the complex over Z/2 and Z/3 alike. */
static void test_octahedron(void **state) {
    (void)state;
    const float x[] = {1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1};
    float *lower = cloud_lower(x, 6, 3);
    for (uint32_t p = 2; p <= 3; p++) {
        nv_ph_input in = {NV_PH_DENSE, 6, lower, NULL, NULL, NULL};
        nv_ph_params prm;
        nv_ph_params_defaults(&prm);
        prm.max_dim = 2;
        prm.modulus = p;
        prm.threshold = 1.5f; /* below the diameter 2: the sphere stays open */
        nv_ph_result r;
        nv_error err = {0};
        assert_int_equal(nv_ph_compute(&in, &prm, &r, &err), NV_OK);
        assert_int_equal(nv_ph_betti_at(&r, 2, 1.45f), 1);
        assert_int_equal(nv_ph_betti_at(&r, 1, 1.45f), 0);
        nv_ph_result_free(&r);
    }
    free(lower);
}

/* Infinite distances (a disconnected kNN graph) are absent edges. */
static void test_infinite_distances(void **state) {
    (void)state;
    /* two pairs of points, infinitely far apart */
    float lower[6] = {1, INFINITY, INFINITY, INFINITY, INFINITY, 1};
    nv_ph_result r = compute(lower, 4, 1, 1, 2);
    assert_int_equal(nv_ph_betti_at(&r, 0, 100.0f), 2);
    assert_int_equal(count_dim(&r, 1), 0);
    nv_ph_result_free(&r);
}

static void test_bad_input(void **state) {
    (void)state;
    float lower[3] = {1, 2, NAN};
    nv_ph_input in = {NV_PH_DENSE, 3, lower, NULL, NULL, NULL};
    nv_ph_params prm;
    nv_ph_params_defaults(&prm);
    nv_ph_result r;
    nv_error err = {0};
    assert_int_equal(nv_ph_compute(&in, &prm, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "distance (2, 1)"));
    lower[2] = 1;
    prm.modulus = 9;
    nv_error_clear(&err);
    assert_int_equal(nv_ph_compute(&in, &prm, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "prime"));
    prm.modulus = 2;
    prm.memory_limit = 16;
    nv_error_clear(&err);
    assert_int_equal(nv_ph_compute(&in, &prm, &r, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "--threshold"));
    assert_non_null(strstr(err.msg, "working space"));
    assert_true(nv_ph_memory_estimate(&in, &prm) > 16);
    nv_ph_result_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square),
        cmocka_unit_test(test_simplex_vertices),
        cmocka_unit_test(test_threads_and_sparse),
        cmocka_unit_test(test_octahedron),
        cmocka_unit_test(test_infinite_distances),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
