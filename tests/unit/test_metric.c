/* test_metric.c: unit tests of include/nerve/metric.h (analysis/metric/metric.c,
 * landmarks.c, calibrate.c): hand-checkable values, Ripser's float arithmetic, ties,
 * unreachable pairs, thread-count determinism, and every refusal of bad input.
 * The numpy/scipy/sklearn oracles are in tests/integration/metric_oracle.py. */
#include "testutil.h"

#include "nerve/calibrate.h"
#include "nerve/metric.h"
#include "nerve/ph.h"

#define IDX(i, j) ((i) > (j) ? (int64_t)(i) * ((i) - 1) / 2 + (j) : (int64_t)(j) * ((j) - 1) / 2 + (i))

static float at(const float *lower, int64_t i, int64_t j) { return i == j ? 0.0f : lower[IDX(i, j)]; }

/* Points 0, 1, ..., n-1 on a line (d = 1). */
static nv_real *line_points(int64_t n) {
    nv_real *x = malloc((size_t)n * sizeof(nv_real));
    for (int64_t i = 0; i < n; i++) x[i] = (nv_real)i;
    return x;
}

/* Runs nv_distance_matrix and expects failure with status and a message fragment. */
static void expect_fail(const nv_real *x, int64_t n, int64_t d, nv_metric_spec m, nv_status want,
                        const char *fragment) {
    nv_error err = {0};
    float *lower = (float *)0x1;
    nv_status st = nv_distance_matrix(x, n, d, &m, &lower, &err);
    if (st != want || !strstr(err.msg, fragment)) {
        print_error("expected status %d with '%s', got %d: %s\n", (int)want, fragment, (int)st, err.msg);
        fail();
    }
    assert_null(lower);
}

static float *dist_ok(const nv_real *x, int64_t n, int64_t d, nv_metric_kind kind, int k, int norm) {
    nv_error err = {0};
    nv_metric_spec m = {kind, k, norm, NV_DEVICE_AUTO};
    float *lower = NULL;
    nv_status st = nv_distance_matrix(x, n, d, &m, &lower, &err);
    if (st != NV_OK) {
        print_error("nv_distance_matrix(%s, k=%d): %s\n", nv_metric_name(kind), k, err.msg);
        fail();
    }
    assert_non_null(lower);
    return lower;
}

static void test_names(void **state) {
    (void)state;
    for (int k = NV_METRIC_EUCLIDEAN; k <= NV_METRIC_KNN_WEIGHTED; k++)
        assert_int_equal(nv_metric_parse(nv_metric_name((nv_metric_kind)k)), k);
    assert_int_equal(nv_metric_parse("manhattan"), -1);
    assert_int_equal(nv_metric_parse(NULL), -1);
    assert_string_equal(nv_metric_name((nv_metric_kind)42), "unknown");
    assert_int_equal(nv_landmark_parse("maxmin"), NV_LANDMARK_MAXMIN);
    assert_int_equal(nv_landmark_parse("max-min"), NV_LANDMARK_MAXMIN);
    assert_int_equal(nv_landmark_parse("random"), NV_LANDMARK_RANDOM);
    assert_int_equal(nv_landmark_parse("fps"), -1);
    assert_string_equal(nv_landmark_name(NV_LANDMARK_RANDOM), "random");
}

static void test_euclidean_values(void **state) {
    (void)state;
    nv_real x[] = {0, 0, 3, 4, 3, 0, 3, 4}; /* last point duplicates the second */
    float *l = dist_ok(x, 4, 2, NV_METRIC_EUCLIDEAN, 0, 0);
    assert_true(at(l, 1, 0) == 5.0f);
    assert_true(at(l, 2, 0) == 3.0f);
    assert_true(at(l, 2, 1) == 4.0f);
    assert_true(at(l, 3, 1) == 0.0f);
    assert_true(at(l, 3, 0) == 5.0f);
    free(l);
    /* One point: an empty matrix, still a valid allocation. */
    l = dist_ok(x, 1, 2, NV_METRIC_EUCLIDEAN, 0, 0);
    free(l);
}

/* Ripser 1.2.1 sums the squares in float: 1 + 4096 * 2^-26 stays 1 in float
 * (each term is below half an ulp of 1) but is 1 + 2^-14 in double. */
static void test_euclidean_ripser_float_sum(void **state) {
    (void)state;
    int64_t d = 4097;
    nv_real *x = calloc(2 * (size_t)d, sizeof(nv_real));
    x[d] = 1.0f;
    for (int64_t c = 1; c < d; c++) x[d + c] = 0x1p-13f;
    float *l = dist_ok(x, 2, d, NV_METRIC_EUCLIDEAN, 0, 0);
    assert_true(l[0] == 1.0f);
    assert_true(nv_metric_euclid_pair(x + d, x, d) == 1.0f);
    free(l);
    /* Tiny terms first accumulate exactly, then the big one: a different float. */
    for (int64_t c = 0; c < d - 1; c++) x[d + c] = 0x1p-13f;
    x[d + d - 1] = 1.0f;
    l = dist_ok(x, 2, d, NV_METRIC_EUCLIDEAN, 0, 0);
    assert_true(l[0] == sqrtf(1.0f + 4096.0f * 0x1p-26f));
    free(l);
    free(x);
}

static void test_cosine(void **state) {
    (void)state;
    nv_real x[] = {1, 0, 0, 2, -3, 0, 2, 2, 5, 0};
    float *l = dist_ok(x, 5, 2, NV_METRIC_COSINE, 0, 0);
    assert_true(fabsf(at(l, 1, 0) - 1.0f) < 1e-7f); /* orthogonal */
    assert_true(fabsf(at(l, 2, 0) - 2.0f) < 1e-7f); /* opposite */
    assert_true(fabsf(at(l, 3, 0) - (float)(1.0 - 1.0 / sqrt(2.0))) < 1e-7f);
    assert_true(at(l, 4, 0) == 0.0f);               /* parallel, different length */
    for (int64_t e = 0; e < 10; e++) assert_true(l[e] >= 0.0f);
    free(l);
    /* Nearly parallel vectors whose rounded cosine exceeds 1 still give >= 0. */
    nv_real y[] = {0.1f, 0.3f, 0.7f, 0.1f * 3, 0.3f * 3, 0.7f * 3};
    l = dist_ok(y, 2, 3, NV_METRIC_COSINE, 0, 0);
    assert_true(l[0] >= 0.0f && l[0] < 1e-6f);
    free(l);
    nv_real z[] = {1, 2, 0, 0, 3, 4};
    expect_fail(z, 3, 2, (nv_metric_spec){NV_METRIC_COSINE, 0, 0, NV_DEVICE_AUTO}, NV_EINPUT, "row 1 is the zero vector");
}

/* Points on a line with k = 1: each point's nearest is its left neighbour (ties
 * to the lower index), so the graph is the path 0-1-...-(n-1). */
static void test_knn_path(void **state) {
    (void)state;
    int64_t n = 10;
    nv_real *x = line_points(n);
    float *h = dist_ok(x, n, 1, NV_METRIC_KNN_HOPS, 1, 0);
    float *w = dist_ok(x, n, 1, NV_METRIC_KNN_WEIGHTED, 1, 0);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            assert_true(at(h, i, j) == (float)(i - j));
            assert_true(at(w, i, j) == (float)(i - j));
        }
    free(h);
    free(w);
    /* Stretch the line: weighted distances are sums of edge lengths, hops do not care. */
    for (int64_t i = 0; i < n; i++) x[i] = (nv_real)(i * i);
    h = dist_ok(x, n, 1, NV_METRIC_KNN_HOPS, 1, 0);
    w = dist_ok(x, n, 1, NV_METRIC_KNN_WEIGHTED, 1, 0);
    assert_true(at(h, 9, 0) == 9.0f);
    assert_true(at(w, 9, 0) == 81.0f);
    assert_true(at(w, 5, 2) == 21.0f);
    free(h);
    free(w);
    free(x);
}

/* Two far clusters with k = 2: no edge between them, INFINITY across. A shortcut
 * through the graph is shorter than nothing but longer than the straight line. */
static void test_knn_components(void **state) {
    (void)state;
    nv_real x[] = {0, 0, 1, 0, 0, 1, 100, 100, 101, 100, 100, 101};
    float *h = dist_ok(x, 6, 2, NV_METRIC_KNN_HOPS, 2, 0);
    float *w = dist_ok(x, 6, 2, NV_METRIC_KNN_WEIGHTED, 2, 0);
    for (int i = 3; i < 6; i++)
        for (int j = 0; j < 3; j++) {
            assert_true(isinf(at(h, i, j)));
            assert_true(isinf(at(w, i, j)));
        }
    assert_true(at(h, 1, 0) == 1.0f && at(h, 2, 1) == 1.0f && at(h, 5, 4) == 1.0f);
    free(h);
    free(w);
}

/* kNN graph internals: symmetrisation and the tie rule on a duplicate-heavy set. */
static void test_knn_graph_ties(void **state) {
    (void)state;
    /* Points 0, 0, 0, 5 on a line, k = 1: 0->1, 1->0, 2->0 (tie 0/1 -> 0), 3->0
     * (tie 0/1/2 at distance 5 -> 0). Edges: {0,1}, {0,2}, {0,3}. */
    nv_real x[] = {0, 0, 0, 5};
    float *eu = dist_ok(x, 4, 1, NV_METRIC_EUCLIDEAN, 0, 0);
    nv_knn_graph g;
    nv_error err = {0};
    assert_int_equal(nv_metric_knn_graph(eu, 4, 1, &g, &err), NV_OK);
    assert_int_equal(g.row_ptr[4], 6);
    int64_t want_col[] = {1, 2, 3, 0, 0, 0};
    int64_t want_ptr[] = {0, 3, 4, 5, 6};
    for (int i = 0; i < 5; i++) assert_int_equal(g.row_ptr[i], want_ptr[i]);
    for (int i = 0; i < 6; i++) assert_int_equal(g.col[i], want_col[i]);
    assert_true(g.len[2] == 5.0f);
    nv_knn_graph_free(&g);
    nv_knn_graph_free(NULL);
    /* Zero-length edges are edges: a duplicate is 1 hop away, at weighted distance 0. */
    float *h = dist_ok(x, 4, 1, NV_METRIC_KNN_HOPS, 1, 0);
    float *w = dist_ok(x, 4, 1, NV_METRIC_KNN_WEIGHTED, 1, 0);
    assert_true(at(h, 1, 0) == 1.0f && at(h, 2, 1) == 2.0f && at(h, 3, 2) == 2.0f);
    assert_true(at(w, 1, 0) == 0.0f && at(w, 2, 1) == 0.0f && at(w, 3, 2) == 5.0f);
    free(h);
    free(w);
    int64_t *nb;
    float *nd;
    assert_int_equal(nv_metric_knn_lists(eu, 4, 2, &nb, &nd, &err), NV_OK);
    /* point 3: nearest are 0 and 1 (all at 5, lowest indices) */
    assert_int_equal(nb[3 * 2 + 0], 0);
    assert_int_equal(nb[3 * 2 + 1], 1);
    free(nb);
    free(nd);
    free(eu);
}

static void test_normalize(void **state) {
    (void)state;
    /* Line 0..4, k = 1: nearest-neighbour distances are all 1 -> median 1. Scale
     * by 3: median 3, normalised matrix equals the unscaled one. */
    nv_real x[] = {0, 3, 6, 9, 12};
    float *l = dist_ok(x, 5, 1, NV_METRIC_EUCLIDEAN, 1, 1);
    for (int i = 1; i < 5; i++)
        for (int j = 0; j < i; j++) assert_true(at(l, i, j) == (float)(i - j));
    free(l);
    l = dist_ok(x, 5, 1, NV_METRIC_KNN_WEIGHTED, 1, 1);
    assert_true(at(l, 4, 0) == 4.0f);
    free(l);
    /* k = 2 on 0,1,3,7,15: 2nd-neighbour distances 3, 2, 3, 6, 12 -> median 3. */
    nv_real y[] = {0, 1, 3, 7, 15};
    float *eu = dist_ok(y, 5, 1, NV_METRIC_EUCLIDEAN, 0, 0);
    double med = 0;
    nv_error err = {0};
    assert_int_equal(nv_median_kth_neighbor(eu, 5, 2, &med, &err), NV_OK);
    assert_true(med == 3.0);
    /* even n: mean of the middle two. 0,1,3,7: 1st-nn 1,1,2,4 -> (1+2)/2 */
    assert_int_equal(nv_median_kth_neighbor(eu, 4, 1, &med, &err), NV_OK);
    assert_true(med == 1.5);
    assert_int_equal(nv_median_kth_neighbor(eu, 5, 5, &med, &err), NV_EINPUT);
    free(eu);
    /* Cosine normalises by its own k-th neighbour distance. */
    nv_real c[] = {1, 0, 0, 1, -1, 0, 0, -1};
    l = dist_ok(c, 4, 2, NV_METRIC_COSINE, 1, 1);
    assert_true(at(l, 1, 0) == 1.0f && at(l, 2, 0) == 2.0f);
    free(l);
    /* All points equal: the median is 0 and normalisation is refused. */
    nv_real z[] = {1, 1, 1, 1};
    expect_fail(z, 4, 1, (nv_metric_spec){NV_METRIC_EUCLIDEAN, 1, 1, NV_DEVICE_AUTO}, NV_EINPUT, "median distance");
    expect_fail(x, 5, 1, (nv_metric_spec){NV_METRIC_KNN_HOPS, 2, 1, NV_DEVICE_AUTO}, NV_EINPUT, "hop counts");
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[] = {0, 1, 2, 3, 4, 5, 6, 7};
    nv_metric_spec eu = {NV_METRIC_EUCLIDEAN, 0, 0, NV_DEVICE_AUTO};
    expect_fail(NULL, 4, 2, eu, NV_EINPUT, "NULL");
    expect_fail(x, 0, 2, eu, NV_EINPUT, "n = 0");
    expect_fail(x, 4, 0, eu, NV_EINPUT, "d = 0");
    nv_real y[8];
    memcpy(y, x, sizeof y);
    y[2 * 2 + 1] = NAN;
    expect_fail(y, 4, 2, eu, NV_EINPUT, "row 2, column 1 is NaN");
    y[2 * 2 + 1] = -INFINITY;
    expect_fail(y, 4, 2, eu, NV_EINPUT, "row 2, column 1 is Inf");
    expect_fail(x, 4, 2, (nv_metric_spec){NV_METRIC_KNN_HOPS, 0, 0, NV_DEVICE_AUTO}, NV_EINPUT, "k = 0");
    expect_fail(x, 4, 2, (nv_metric_spec){NV_METRIC_KNN_WEIGHTED, 4, 0, NV_DEVICE_AUTO}, NV_EINPUT, "k = 4");
    expect_fail(x, 1, 2, (nv_metric_spec){NV_METRIC_KNN_WEIGHTED, 1, 0, NV_DEVICE_AUTO}, NV_EINPUT, "1 <= k < n");
    expect_fail(x, 4, 2, (nv_metric_spec){NV_METRIC_EUCLIDEAN, 0, 1, NV_DEVICE_AUTO}, NV_EINPUT, "normalisation");
    expect_fail(x, 4, 2, (nv_metric_spec){(nv_metric_kind)9, 0, 0, NV_DEVICE_AUTO}, NV_EINPUT, "metric kind 9");
    nv_error err = {0};
    float *l = NULL;
    assert_int_equal(nv_distance_matrix(x, 4, 2, NULL, &l, &err), NV_EINPUT);
    assert_int_equal(nv_distance_matrix(x, 4, 2, &eu, NULL, NULL), NV_EINPUT);
}

static void test_from_matrix(void **state) {
    (void)state;
    int64_t n = 30;
    nv_real *x = malloc((size_t)n * 3 * sizeof(nv_real));
    for (int64_t i = 0; i < n * 3; i++) x[i] = (nv_real)((i * 7919) % 101) / 10.0f;
    float *eu = dist_ok(x, n, 3, NV_METRIC_EUCLIDEAN, 0, 0);
    for (int kind = NV_METRIC_EUCLIDEAN; kind <= NV_METRIC_KNN_WEIGHTED; kind++) {
        if (kind == NV_METRIC_COSINE) continue;
        for (int norm = 0; norm <= (kind == NV_METRIC_KNN_HOPS ? 0 : 1); norm++) {
            nv_metric_spec m = {(nv_metric_kind)kind, 4, norm, NV_DEVICE_AUTO};
            float *a = dist_ok(x, n, 3, m.kind, 4, norm), *b = NULL;
            nv_error err = {0};
            assert_int_equal(nv_distance_from_matrix(eu, n, &m, &b, &err), NV_OK);
            assert_memory_equal(a, b, (size_t)(n * (n - 1) / 2) * sizeof(float));
            free(a);
            free(b);
        }
    }
    nv_error err = {0};
    float *b = (float *)0x1;
    nv_metric_spec cos = {NV_METRIC_COSINE, 0, 0, NV_DEVICE_AUTO};
    assert_int_equal(nv_distance_from_matrix(eu, n, &cos, &b, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "coordinates"));
    assert_null(b);
    eu[IDX(5, 2)] = -1.0f;
    nv_error_clear(&err);
    nv_metric_spec e = {NV_METRIC_EUCLIDEAN, 0, 0, NV_DEVICE_AUTO};
    assert_int_equal(nv_distance_from_matrix(eu, n, &e, &b, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "entry (5, 2)"));
    free(eu);
    free(x);
}

static void test_restrict(void **state) {
    (void)state;
    nv_real *x = line_points(8);
    float *l = dist_ok(x, 8, 1, NV_METRIC_EUCLIDEAN, 0, 0);
    int64_t idx[] = {6, 1, 3, 3};
    float *s = NULL;
    nv_error err = {0};
    assert_int_equal(nv_distance_restrict(l, 8, idx, 4, &s, &err), NV_OK);
    assert_true(at(s, 1, 0) == 5.0f && at(s, 2, 0) == 3.0f && at(s, 2, 1) == 2.0f);
    assert_true(at(s, 3, 2) == 0.0f && at(s, 3, 0) == 3.0f);
    free(s);
    assert_int_equal(nv_distance_restrict(l, 8, idx, 0, &s, &err), NV_OK);
    free(s);
    int64_t bad[] = {1, 8};
    assert_int_equal(nv_distance_restrict(l, 8, bad, 2, &s, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "idx[1] = 8"));
    assert_null(s);
    nv_error_clear(&err);
    assert_int_equal(nv_distance_restrict(l, 8, NULL, 2, &s, &err), NV_EINPUT);
    free(l);
    free(x);
}

/* nv_distance_landmarks equals restricting the full matrix, to the bit, for every
 * kind, with and without normalisation, for unsorted and repeated landmarks. */
static void test_distance_landmarks(void **state) {
    (void)state;
    int64_t n = 150, d = 4;
    nv_real *x = malloc((size_t)(n * d) * sizeof(nv_real));
    for (int64_t i = 0; i < n * d; i++) x[i] = (nv_real)cos((double)i * 0.37) * 2.0f + (nv_real)((i / d) % 3);
    x[7 * d + 0] = 0.0f; /* shapes the graph a little */
    int64_t idx[] = {140, 3, 77, 3, 12, 149, 0, 66, 65, 101};
    int64_t count = (int64_t)NV_ARRAY_LEN(idx);
    for (int kind = NV_METRIC_EUCLIDEAN; kind <= NV_METRIC_KNN_WEIGHTED; kind++)
        for (int norm = 0; norm <= 1; norm++) {
            if (norm && kind == NV_METRIC_KNN_HOPS) continue;
            nv_metric_spec m = {(nv_metric_kind)kind, 3, norm, NV_DEVICE_AUTO};
            float *full = dist_ok(x, n, d, m.kind, m.k, norm), *want = NULL, *got = NULL;
            nv_error err = {0};
            assert_int_equal(nv_distance_restrict(full, n, idx, count, &want, &err), NV_OK);
            nv_status st = nv_distance_landmarks(x, n, d, &m, idx, count, &got, &err);
            if (st != NV_OK) print_error("%s\n", err.msg);
            assert_int_equal(st, NV_OK);
            assert_memory_equal(got, want, (size_t)(count * (count - 1) / 2) * sizeof(float));
            free(full);
            free(want);
            free(got);
        }
    /* a sparse kNN graph (k = 1) gives INFINITY between landmarks, as the full one */
    nv_metric_spec m1 = {NV_METRIC_KNN_HOPS, 1, 0, NV_DEVICE_AUTO};
    float *full = dist_ok(x, n, d, m1.kind, 1, 0), *want = NULL, *got = NULL;
    nv_error err = {0};
    assert_int_equal(nv_distance_restrict(full, n, idx, count, &want, &err), NV_OK);
    assert_int_equal(nv_distance_landmarks(x, n, d, &m1, idx, count, &got, &err), NV_OK);
    assert_memory_equal(got, want, (size_t)(count * (count - 1) / 2) * sizeof(float));
    free(full);
    free(want);
    free(got);
    /* bad input */
    int64_t bad[] = {0, 150};
    got = (float *)0x1;
    assert_int_equal(nv_distance_landmarks(x, n, d, &m1, bad, 2, &got, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "idx[1] = 150"));
    assert_null(got);
    nv_error_clear(&err);
    nv_metric_spec hn = {NV_METRIC_KNN_HOPS, 3, 1, NV_DEVICE_AUTO};
    assert_int_equal(nv_distance_landmarks(x, n, d, &hn, idx, count, &got, &err), NV_EINPUT);
    nv_error_clear(&err);
    x[5] = NAN;
    assert_int_equal(nv_distance_landmarks(x, n, d, &m1, idx, count, &got, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 1, column 1 is NaN"));
    free(x);
}

/* The same bytes for 1 and 3 threads, every kind. */
static void test_thread_determinism(void **state) {
    (void)state;
    int64_t n = 257, d = 5;
    nv_real *x = malloc((size_t)(n * d) * sizeof(nv_real));
    for (int64_t i = 0; i < n * d; i++) x[i] = (nv_real)sin((double)i * 1.7) * 3.0f + (nv_real)(i % 7);
    const char *old = getenv("NERVE_THREADS");
    char *saved = old ? strdup(old) : NULL;
    for (int kind = NV_METRIC_EUCLIDEAN; kind <= NV_METRIC_KNN_WEIGHTED; kind++) {
        setenv("NERVE_THREADS", "1", 1);
        float *a = dist_ok(x, n, d, (nv_metric_kind)kind, 6, 0);
        setenv("NERVE_THREADS", "3", 1);
        float *b = dist_ok(x, n, d, (nv_metric_kind)kind, 6, 0);
        assert_memory_equal(a, b, (size_t)(n * (n - 1) / 2) * sizeof(float));
        free(a);
        free(b);
    }
    /* landmark sub-matrices and calibration too */
    int64_t li[] = {250, 3, 77, 128, 0, 199};
    for (int kind = NV_METRIC_KNN_HOPS; kind <= NV_METRIC_KNN_WEIGHTED; kind++) {
        nv_metric_spec m = {(nv_metric_kind)kind, 5, 0, NV_DEVICE_AUTO};
        float *a = NULL, *b = NULL;
        nv_error e2 = {0};
        setenv("NERVE_THREADS", "1", 1);
        assert_int_equal(nv_distance_landmarks(x, n, d, &m, li, 6, &a, &e2), NV_OK);
        nv_calibration c1, c3;
        int64_t t1[] = {5}; /* the data has 5 kNN components at k = 8 */
        nv_status cs = nv_calibrate(x, n, d, m.kind, t1, 1, 2, 8, &c1, &e2);
        if (cs != NV_OK) print_error("%s\n", e2.msg);
        assert_int_equal(cs, NV_OK);
        setenv("NERVE_THREADS", "3", 1);
        assert_int_equal(nv_distance_landmarks(x, n, d, &m, li, 6, &b, &e2), NV_OK);
        assert_int_equal(nv_calibrate(x, n, d, m.kind, t1, 1, 2, 8, &c3, &e2), NV_OK);
        assert_memory_equal(a, b, 15 * sizeof(float));
        assert_memory_equal(&c1, &c3, sizeof c1);
        free(a);
        free(b);
    }
    setenv("NERVE_THREADS", "1", 1);
    int64_t la[40], lb[40];
    double ra, rb;
    nv_error err = {0};
    assert_int_equal(nv_landmarks_select(x, n, d, 40, NV_LANDMARK_MAXMIN, 0, 5, la, &ra, &err), NV_OK);
    setenv("NERVE_THREADS", "3", 1);
    assert_int_equal(nv_landmarks_select(x, n, d, 40, NV_LANDMARK_MAXMIN, 0, 5, lb, &rb, &err), NV_OK);
    assert_memory_equal(la, lb, sizeof la);
    assert_true(ra == rb);
    if (saved) {
        setenv("NERVE_THREADS", saved, 1);
        free(saved);
    } else
        unsetenv("NERVE_THREADS");
    free(x);
}

static void test_landmarks_maxmin(void **state) {
    (void)state;
    nv_real *x = line_points(10);
    int64_t idx[4];
    double r = -1;
    nv_error err = {0};
    /* from 0: farthest is 9; then 4 and 5 tie at distance 4 -> 4; then 2 (dist 2:
     * 2, 6, 7 tie at 2 -> 2). Cover radius after {0,9,4,2}: point 7 at 2. */
    assert_int_equal(nv_landmarks_select(x, 10, 1, 4, NV_LANDMARK_MAXMIN, 0, 0, idx, &r, &err), NV_OK);
    int64_t want[] = {0, 9, 4, 2};
    assert_memory_equal(idx, want, sizeof want);
    assert_true(r == 2.0);
    /* from the middle */
    assert_int_equal(nv_landmarks_select(x, 10, 1, 2, NV_LANDMARK_MAXMIN, 0, 5, idx, NULL, &err), NV_OK);
    assert_int_equal(idx[0], 5);
    assert_int_equal(idx[1], 0);
    /* count >= n: every row, radius 0 */
    int64_t all[10];
    assert_int_equal(nv_landmarks_select(x, 10, 1, 25, NV_LANDMARK_MAXMIN, 0, 3, all, &r, &err), NV_OK);
    for (int i = 0; i < 10; i++) assert_int_equal(all[i], i);
    assert_true(r == 0.0);
    /* all points equal: landmarks stay distinct rows, lowest indices after `first` */
    nv_real same[] = {2, 2, 2, 2, 2};
    assert_int_equal(nv_landmarks_select(same, 5, 1, 3, NV_LANDMARK_MAXMIN, 0, 2, idx, &r, &err), NV_OK);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 0);
    assert_int_equal(idx[2], 1);
    assert_true(r == 0.0);
    free(x);
}

static void test_landmarks_random(void **state) {
    (void)state;
    int64_t n = 1000;
    nv_real *x = line_points(n);
    int64_t a[100], b[100], c[100], e[120];
    double ra, rb;
    nv_error err = {0};
    assert_int_equal(nv_landmarks_select(x, n, 1, 100, NV_LANDMARK_RANDOM, 42, 0, a, &ra, &err), NV_OK);
    assert_int_equal(nv_landmarks_select(x, n, 1, 100, NV_LANDMARK_RANDOM, 42, 999999, b, &rb, &err), NV_OK);
    assert_memory_equal(a, b, sizeof a); /* `first` ignored; reproducible */
    assert_true(ra == rb);
    assert_int_equal(nv_landmarks_select(x, n, 1, 100, NV_LANDMARK_RANDOM, 43, 0, c, NULL, &err), NV_OK);
    assert_true(memcmp(a, c, sizeof a) != 0);
    for (int i = 1; i < 100; i++) assert_true(a[i] > a[i - 1]);
    assert_true(a[0] >= 0 && a[99] < n);
    /* cover radius: the largest gap to the nearest landmark on the line */
    double want = (double)NV_MAX(a[0], (n - 1) - a[99]);
    for (int i = 1; i < 100; i++) want = NV_MAX(want, (double)((a[i] - a[i - 1]) / 2));
    assert_true(ra == want);
    /* a larger sample contains the smaller one (the first draws are the same) */
    assert_int_equal(nv_landmarks_select(x, n, 1, 120, NV_LANDMARK_RANDOM, 42, 0, e, NULL, &err), NV_OK);
    for (int i = 0; i < 100; i++) {
        int found = 0;
        for (int j = 0; j < 120; j++) found |= e[j] == a[i];
        assert_true(found);
    }
    /* roughly uniform: the mean index is near n/2 */
    double mean = 0;
    for (int i = 0; i < 100; i++) mean += (double)a[i] / 100.0;
    assert_true(fabs(mean - 499.5) < 100.0);
    free(x);
}

static void test_landmarks_bad_input(void **state) {
    (void)state;
    nv_real x[] = {0, 1, 2, NAN};
    int64_t idx[4];
    nv_error err = {0};
    assert_int_equal(nv_landmarks_select(x, 4, 1, 2, NV_LANDMARK_MAXMIN, 0, 0, idx, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 3, column 0 is NaN"));
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 1, 0, NV_LANDMARK_MAXMIN, 0, 0, idx, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "count 0"));
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 1, 2, NV_LANDMARK_MAXMIN, 0, 3, idx, NULL, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "first landmark 3"));
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 1, 2, NV_LANDMARK_MAXMIN, 0, -1, idx, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 1, 2, (nv_landmark_kind)7, 0, 0, idx, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 1, 2, NV_LANDMARK_RANDOM, 0, 0, NULL, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 0, 1, 2, NV_LANDMARK_RANDOM, 0, 0, idx, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_landmarks_select(x, 3, 0, 2, NV_LANDMARK_RANDOM, 0, 0, idx, NULL, &err), NV_EINPUT);
}

/* Clusters of points on a line: groups of 5 at spacing 1, groups 20 apart. */
static nv_real *clusters_1d(int groups, int per, int64_t *n) {
    *n = (int64_t)groups * per;
    nv_real *x = malloc((size_t)*n * sizeof(nv_real));
    for (int g = 0; g < groups; g++)
        for (int p = 0; p < per; p++) x[g * per + p] = (nv_real)(g * 20 + p);
    return x;
}

static void test_calibrate_beta0(void **state) {
    (void)state;
    int64_t n;
    nv_real *x = clusters_1d(3, 5, &n);
    nv_calibration c;
    nv_error err = {0};
    int64_t t3[] = {3};
    /* Weighted: with k = 1..4 each group is its own component (groups are 20 apart
     * and have 5 points), merging at length 1. beta0 = 3 on [1, inf). The finite
     * part of the run ends at the largest finite distance 4: scale 2.5. */
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_WEIGHTED, t3, 1, 1, 4, &c, &err), NV_OK);
    assert_int_equal(c.k, 1);
    assert_true(c.scale_lo == 1.0f);
    assert_true(isinf(c.scale_hi));
    assert_true(c.scale == 2.5f);
    /* Hops: beta0 = 3 from 1 hop on; integers 1..4 (the largest hop count): 2. */
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t3, 1, 1, 4, &c, &err), NV_OK);
    assert_int_equal(c.k, 1);
    assert_true(c.scale_lo == 1.0f && isinf(c.scale_hi));
    assert_true(c.scale == 2.0f);
    /* One component needs k >= 5 (a group's 5th neighbour is in the next group). */
    int64_t t1[] = {1};
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_WEIGHTED, t1, 1, 1, 8, &c, &err), NV_OK);
    assert_int_equal(c.k, 5);
    /* beta0 = 15 (no merges) holds on [0, 1): finite, midpoint 0.5. */
    int64_t t15[] = {15};
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_WEIGHTED, t15, 1, 2, 3, &c, &err), NV_OK);
    assert_int_equal(c.k, 2);
    assert_true(c.scale_lo == 0.0f && c.scale_hi == 1.0f && c.scale == 0.5f);
    /* Unreachable: 2 components never happen with k <= 4 (3 groups, symmetric). */
    int64_t t2[] = {2};
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_WEIGHTED, t2, 1, 1, 4, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "no k in [1, 4]"));
    free(x);
}

/* Two regular 16-gons far apart, k = 2: the kNN graph is two 16-cycles. The Rips
 * complex of a 16-cycle in the hop metric is a circle for scales 1 .. 5 (below
 * 16/3; Adamaszek and Adams 2017), so (beta0, beta1) = (2, 2) on [1, 6) and the
 * lower middle integer is 3. Needs the engine (nv_ph_compute). */
static void test_calibrate_beta1(void **state) {
    (void)state;
    int64_t n = 32;
    nv_real x[64];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 16; i++) {
            double a = 2.0 * 3.14159265358979323846 * i / 16.0;
            x[2 * (c * 16 + i)] = (nv_real)(cos(a) + 10.0 * c);
            x[2 * (c * 16 + i) + 1] = (nv_real)sin(a);
        }
    int64_t t[] = {2, 2};
    nv_calibration c;
    nv_error err = {0};
    nv_status st = nv_calibrate(x, n, 2, NV_METRIC_KNN_HOPS, t, 2, 2, 6, &c, &err);
    if (st != NV_OK) print_error("%s\n", err.msg);
    assert_int_equal(st, NV_OK);
    assert_int_equal(c.k, 2);
    assert_true(c.scale_lo == 1.0f && c.scale_hi == 6.0f && c.scale == 3.0f);
    /* Weighted: check the answer with the engine directly at the chosen scale. */
    st = nv_calibrate(x, n, 2, NV_METRIC_KNN_WEIGHTED, t, 2, 2, 6, &c, &err);
    if (st != NV_OK) print_error("%s\n", err.msg);
    assert_int_equal(st, NV_OK);
    assert_int_equal(c.k, 2);
    assert_true(c.scale_lo <= c.scale && c.scale < c.scale_hi);
    float *geo = dist_ok(x, n, 2, NV_METRIC_KNN_WEIGHTED, c.k, 0);
    nv_ph_input in = {.kind = NV_PH_DENSE, .n = n, .lower = geo};
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = 1;
    nv_ph_result r = {0};
    assert_int_equal(nv_ph_compute(&in, &p, &r, &err), NV_OK);
    assert_int_equal(nv_ph_betti_at(&r, 0, c.scale), 2);
    assert_int_equal(nv_ph_betti_at(&r, 1, c.scale), 2);
    /* at the end of the interval the Betti numbers are no longer the target */
    assert_true(nv_ph_betti_at(&r, 0, c.scale_hi) != 2 || nv_ph_betti_at(&r, 1, c.scale_hi) != 2);
    nv_ph_result_free(&r);
    free(geo);
    /* (3, 0) never happens (32 components below 1 hop, 2 from 1 hop on): refused,
     * naming the target and what was seen. */
    int64_t t30[] = {3, 0};
    assert_int_equal(nv_calibrate(x, n, 2, NV_METRIC_KNN_HOPS, t30, 2, 2, 3, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "(3, 0)"));
    assert_non_null(strstr(err.msg, "go from (32, 0)"));
}

static void test_calibrate_bad_input(void **state) {
    (void)state;
    int64_t n;
    nv_real *x = clusters_1d(2, 5, &n);
    nv_calibration c;
    nv_error err = {0};
    int64_t t[] = {2, 0};
    int64_t neg[] = {-1};
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_EUCLIDEAN, t, 1, 1, 3, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "knn-hops or knn-weighted"));
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 1, 3, 2, &c, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 1, 0, 2, &c, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 1, 1, 10, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "k_max < n = 10"));
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 0, 1, 3, &c, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, neg, 1, 1, 3, &c, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, NULL, 1, 1, 3, &c, &err), NV_EINPUT);
    nv_error_clear(&err);
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 1, 1, 3, NULL, &err), NV_EINPUT);
    nv_error_clear(&err);
    x[3] = INFINITY;
    assert_int_equal(nv_calibrate(x, n, 1, NV_METRIC_KNN_HOPS, t, 1, 1, 3, &c, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 3"));
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_euclidean_values),
        cmocka_unit_test(test_euclidean_ripser_float_sum),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_knn_path),
        cmocka_unit_test(test_knn_components),
        cmocka_unit_test(test_knn_graph_ties),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_from_matrix),
        cmocka_unit_test(test_restrict),
        cmocka_unit_test(test_distance_landmarks),
        cmocka_unit_test(test_thread_determinism),
        cmocka_unit_test(test_landmarks_maxmin),
        cmocka_unit_test(test_landmarks_random),
        cmocka_unit_test(test_landmarks_bad_input),
        cmocka_unit_test(test_calibrate_beta0),
        cmocka_unit_test(test_calibrate_beta1),
        cmocka_unit_test(test_calibrate_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
