/* test_ph_parity.c: the CUDA stages of persistent homology (cuda/ph_stages.cu) against
 * their CPU references (analysis/ph/ph_stages.c, themselves checked against the
 * engine in tests/unit/test_ph_gpu.c), and the engine with its column stage on the
 * GPU against the plain CPU engine, on the clouds of the CPU oracle suite
 * (tests/unit/ph_clouds.h: noisy circle, two circles, 2-sphere, torus, R^8, integer
 * grid, duplicates) with and without thresholds (one equal to a filtration value);
 * and the kNN-graph distances (hops and edge-length sums) against Dijkstra/BFS.
 *
 * Tolerances: none. Distances must be the same bits (docs/CONTRACTS.md: computed from
 * coordinate differences, in the CPU's order, no FMA); edges and columns the same
 * arrays; barcodes the same pairs, simplex for simplex, which implies docs/CONTRACTS.md's
 * matching rule. Also checked: device memory is all given back after each call.
 *
 * STATUS: passes under the CUDA-on-CPU emulation (make test-cuda-cpu); not yet run
 * on a GPU. Exits 77 with "SKIP: ..." when there is no usable CUDA device or the
 * build has no CUDA.
 */
#include "testutil.h"

#include "nerve/ph.h"
#include "nerve/ph_stages.h"
#include "ph_clouds.h"

#include "nerve/device.h"
#include "nerve/kernels.h"

static float *cpu_lower(const float *x, int64_t n, int64_t d, nv_metric_kind kind) {
    float *l = malloc((size_t)(n * (n - 1) / 2 + 1) * sizeof *l);
    nv_error err = {0};
    if (nv_metric_distances_cpu(x, n, d, kind, l, &err)) fail_msg("cpu distances: %s", err.msg);
    return l;
}

/* Free device memory, through the plug-in (the test does not link cudart itself). */
static size_t device_free(void) {
    size_t fr = 0, total = 0;
    nv_error err = {0};
    if (nv_cuda_mem_info(&fr, &total, &err) != NV_OK) fail_msg("%s", err.msg);
    return fr;
}

/* Device memory after a stage is what it was before, within 16 MiB: cudaMemGetInfo
 * moves in 2 MiB steps and the runtime keeps some bookkeeping of its own; a leak of
 * a stage's buffers (hundreds of MiB) is far above that. */
static void assert_all_freed(size_t before, const char *what) {
    size_t after = device_free();
    if (after + ((size_t)16 << 20) < before)
        fail_msg("%s: %zu bytes of device memory not given back", what, before - after);
}

static void test_distances(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 301, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 17, &d);
        for (int metric = 0; metric < 2; metric++) {
            nv_metric_kind mk = metric ? NV_METRIC_COSINE : NV_METRIC_EUCLIDEAN;
            if (mk == NV_METRIC_COSINE && kind == PH_CLOUD_GRID) continue; /* a zero row */
            float *ref = cpu_lower(x, n, d, mk);
            float *got = malloc((size_t)(n * (n - 1) / 2) * sizeof *got);
            nv_error err = {0};
            size_t before = device_free();
            if (nv_metric_distances_cuda(x, n, d, mk, got, &err)) fail_msg("cuda distances: %s", err.msg);
            assert_all_freed(before, "distances");
            assert_memory_equal(got, ref, (size_t)(n * (n - 1) / 2) * sizeof *got);
            free(ref);
            free(got);
        }
        free(x);
    }
    /* activations-sized: many blocks, 64 coordinates */
    int64_t n = 3000, d = 64;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n * d; i++) x[i] = nv_rng_normal(5, NV_STREAM_TEST, (uint64_t)i);
    float *ref = cpu_lower(x, n, d, NV_METRIC_EUCLIDEAN);
    float *got = malloc((size_t)(n * (n - 1) / 2) * sizeof *got);
    nv_error err = {0};
    double t0 = nv_now();
    assert_int_equal(nv_metric_distances_cuda(x, n, d, NV_METRIC_EUCLIDEAN, got, &err), NV_OK);
    print_message("distances of %lld points in R^%lld on the GPU: %.3f s\n", (long long)n, (long long)d, nv_now() - t0);
    assert_memory_equal(got, ref, (size_t)(n * (n - 1) / 2) * sizeof *got);
    free(ref);
    free(got);
    free(x);
}

static void edges_parity(const float *lower, int64_t n, float thr) {
    nv_ph_simplex *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    nv_error err = {0};
    assert_int_equal(nv_ph_edges_cpu(lower, n, thr, &a, &na, &err), NV_OK);
    size_t before = device_free();
    if (nv_ph_edges_cuda(lower, n, thr, &b, &nb, &err)) fail_msg("cuda edges: %s", err.msg);
    assert_all_freed(before, "edges");
    assert_int_equal(na, nb);
    for (int64_t i = 0; i < na; i++)
        if (a[i].idx != b[i].idx || a[i].diam != b[i].diam)
            fail_msg("edge %lld: cuda (%lld, %g), cpu (%lld, %g)", (long long)i, (long long)b[i].idx,
                     b[i].diam, (long long)a[i].idx, a[i].diam);
    free(a);
    free(b);
}

static void columns_parity(const float *lower, int64_t n, float thr, int d, const int64_t *cl,
                           int64_t ncl) {
    nv_ph_simplex *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    nv_ph_column_stats sa, sb;
    nv_error err = {0};
    assert_int_equal(nv_ph_columns_cpu(lower, n, thr, d, cl, ncl, &a, &na, &sa, &err), NV_OK);
    size_t before = device_free();
    double t0 = nv_now();
    if (nv_ph_columns_cuda(lower, n, thr, d, cl, ncl, &b, &nb, &sb, &err)) fail_msg("cuda columns: %s", err.msg);
    double t = nv_now() - t0;
    assert_all_freed(before, "columns");
    if (na != nb) fail_msg("dimension %d, %lld points, threshold %g: cuda %lld columns, cpu %lld", d,
                           (long long)n, thr, (long long)nb, (long long)na);
    for (int64_t i = 0; i < na; i++)
        if (a[i].idx != b[i].idx || a[i].diam != b[i].diam)
            fail_msg("dimension %d column %lld: cuda (%lld, %g), cpu (%lld, %g)", d, (long long)i,
                     (long long)b[i].idx, b[i].diam, (long long)a[i].idx, a[i].diam);
    /* candidates differ by design (all C(n, d+1) on the GPU, present ones on the CPU) */
    assert_int_equal(sa.present, sb.present);
    assert_int_equal(sa.cleared, sb.cleared);
    assert_int_equal(sa.apparent, sb.apparent);
    assert_int_equal(sa.columns, sb.columns);
    print_message("  dim %d: %lld present, %lld apparent (%.1f%%), %lld columns; gpu %.3f s\n", d,
                  (long long)sb.present, (long long)sb.apparent,
                  sb.present ? 100.0 * (double)sb.apparent / (double)sb.present : 0.0, (long long)nb, t);
    free(a);
    free(b);
}

static void test_edges_and_columns(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 90, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 23, &d);
        float *lower = cpu_lower(x, n, d, NV_METRIC_EUCLIDEAN);
        float r = nv_ph_enclosing_radius(lower, n);
        float thrs[3] = {r, 3.4028234663852886e38f, lower[100]};
        print_message("%s, %lld points\n", ph_cloud_names[kind], (long long)n);
        /* t = 3, 4: the first two thresholds again with chunks of 777 simplices, so
         * the chunked loops of the edge and column stages take many turns */
        for (int t = 0; t < 5; t++) {
            if (t >= 3) setenv("NERVE_TEST_PH_CHUNK", "777", 1);
            const float thr = thrs[t % 3];
            edges_parity(lower, n, thr);
            /* dimension 1 cleared by the spanning forest, as the engine does */
            nv_ph_simplex *e = NULL;
            nv_ph_pair *pairs = NULL;
            int64_t ne = 0, np = 0, *tree = NULL, nt = 0;
            nv_error err = {0};
            assert_int_equal(nv_ph_edges_cpu(lower, n, thr, &e, &ne, &err), NV_OK);
            assert_int_equal(nv_ph_h0_from_edges(e, ne, n, &pairs, &np, &tree, &nt, &err), NV_OK);
            columns_parity(lower, n, thr, 1, tree, nt);
            columns_parity(lower, n, thr, 2, NULL, 0);
            if (n <= 60 || t % 3 == 0) columns_parity(lower, n, thr, 3, NULL, 0);
            free(e);
            free(pairs);
            free(tree);
        }
        unsetenv("NERVE_TEST_PH_CHUNK");
        free(lower);
        free(x);
    }
}

static nv_ph_result engine(const float *lower, int64_t n, int max_dim, float thr, nv_device_kind dev) {
    nv_ph_params p = ph_params(max_dim);
    p.threshold = thr;
    p.device = dev;
    return ph_run_dense(lower, n, &p);
}

/* The whole engine: the GPU column stage gives the CPU engine's pairs. */
static void test_engine(void **state) {
    (void)state;
    const struct { ph_cloud_kind kind; int64_t n; int dim; float thr; } cases[] = {
        {PH_CLOUD_CIRCLE, 300, 1, INFINITY},      {PH_CLOUD_TWO_CIRCLES, 200, 2, INFINITY},
        {PH_CLOUD_SPHERE, 150, 2, INFINITY},      {PH_CLOUD_TORUS, 300, 2, INFINITY},
        {PH_CLOUD_R8, 120, 3, INFINITY},          {PH_CLOUD_GRID, 144, 2, INFINITY},
        {PH_CLOUD_GRID, 144, 2, 1.0f},            {PH_CLOUD_DUPLICATES, 100, 2, INFINITY},
        {PH_CLOUD_TORUS, 200, 2, 0.8f},           {PH_CLOUD_R8, 1500, 1, INFINITY},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t d;
        float *x = ph_cloud_make(cases[c].kind, cases[c].n, 31 + c, &d);
        float *lower = cpu_lower(x, cases[c].n, d, NV_METRIC_EUCLIDEAN);
        double t0 = nv_now();
        nv_ph_result a = engine(lower, cases[c].n, cases[c].dim, cases[c].thr, NV_DEVICE_CPU);
        double t1 = nv_now();
        nv_ph_result b = engine(lower, cases[c].n, cases[c].dim, cases[c].thr, NV_DEVICE_CUDA);
        double t2 = nv_now();
        char what[128];
        snprintf(what, sizeof what, "%s n=%lld dim %d thr %g", ph_cloud_names[cases[c].kind],
                 (long long)cases[c].n, cases[c].dim, cases[c].thr);
        print_message("%s: cpu %.3f s, gpu stages %.3f s\n", what, t1 - t0, t2 - t1);
        assert_same_pairs(&b, &a, what);
        nv_ph_result_free(&a);
        nv_ph_result_free(&b);
        free(lower);
        free(x);
    }
}

/* Graph distances on the kNN graph (Naitzat et al.'s metric): the GPU's relaxation
 * gives the CPU's Dijkstra/BFS floats bit for bit, one block of sources or several
 * (NERVE_TEST_GEO_SOURCES), connected graphs or not (k = 1). */
static void test_geodesic(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = kind == PH_CLOUD_R8 ? 1100 : 257, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 41, &d);
        float *lower = cpu_lower(x, n, d, NV_METRIC_EUCLIDEAN);
        const int ks[] = {1, 14};
        for (int ki = 0; ki < 2; ki++) {
            nv_knn_graph g;
            nv_error err = {0};
            if (nv_metric_knn_graph(lower, n, ks[ki], &g, &err)) fail_msg("knn graph: %s", err.msg);
            for (int weighted = 0; weighted < 2; weighted++)
                for (int blocks = 0; blocks < 2; blocks++) {
                    if (blocks) setenv("NERVE_TEST_GEO_SOURCES", "7", 1);
                    else unsetenv("NERVE_TEST_GEO_SOURCES");
                    float *ref = NULL, *got = malloc((size_t)(n * (n - 1) / 2) * sizeof *got);
                    assert_int_equal(nv_metric_geodesic_lower(&g, weighted, &ref, &err), NV_OK);
                    size_t before = device_free();
                    double t0 = nv_now();
                    if (nv_metric_geodesic_cuda(&g, weighted, got, &err)) fail_msg("gpu geodesic: %s", err.msg);
                    double t1 = nv_now();
                    assert_all_freed(before, "geodesic");
                    for (int64_t i = 0; i < n * (n - 1) / 2; i++)
                        if (memcmp(&ref[i], &got[i], sizeof *got))
                            fail_msg("%s n=%lld k=%d %s blocks=%d: entry %lld: cpu %.9g gpu %.9g",
                                     ph_cloud_names[kind], (long long)n, ks[ki],
                                     weighted ? "weighted" : "hops", blocks, (long long)i, ref[i], got[i]);
                    if (!blocks)
                        print_message("geodesic %s n=%lld k=%d %s: gpu %.3f s\n", ph_cloud_names[kind],
                                      (long long)n, ks[ki], weighted ? "weighted" : "hops", t1 - t0);
                    free(ref);
                    free(got);
                }
            unsetenv("NERVE_TEST_GEO_SOURCES");
            nv_knn_graph_free(&g);
        }
        free(lower);
        free(x);
    }
}

int main(void) {
    /* load every kernel at start, so that lazy loading cannot take device memory
     * between the before and after of a leak check */
    setenv("CUDA_MODULE_LOADING", "EAGER", 1);
    int rc = nv_test_gpu_skip("the GPU stages of ph");
    if (rc) return rc;
    char why[512];
    nv_cuda_status(why, sizeof why);
    printf("device: %s\n", why);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distances),
        cmocka_unit_test(test_edges_and_columns),
        cmocka_unit_test(test_engine),
        cmocka_unit_test(test_geodesic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
