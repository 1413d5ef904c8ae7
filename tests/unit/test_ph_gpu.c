/* test_ph_gpu.c: the CPU references of the GPU stages of persistent homology
 * (include/nerve/ph_stages.h, analysis/ph/ph_stages.c), without a GPU:
 *   distances  the same bits as nv_distance_matrix / nv_ph_euclidean;
 *   edges      filtration order, and H0 from them = the engine's H0, pair for pair;
 *   columns    = a brute-force oracle of the apparent-pair definition (every cofacet
 *              and facet listed and sorted), ties included;
 *   the staged engine (stages_reference) = the plain engine, pairs and simplices,
 *              on the clouds of the oracle suite, thresholds, Z/3, 1 and 2 threads;
 *   the batch entry point = one call per input; the device choice's errors;
 *   graph distances: the GPU's relaxation algorithm (nv_metric_geodesic_relax_cpu) gives
 *              Dijkstra's / BFS's floats bit for bit (nv_metric_geodesic_lower),
 *              connected or not, with zero-length edges.
 * The CUDA twins are checked against these in tests/gpu/test_ph_parity.c.
 */
#include "testutil.h"

#include "nerve/metric.h"
#include "nerve/ph.h"
#include "nerve/ph_stages.h"
#include "ph_clouds.h"

static float *dense(const float *x, int64_t n, int64_t d) {
    float *lower = NULL;
    nv_error err = {0};
    assert_int_equal(nv_ph_euclidean(x, n, d, &lower, &err), NV_OK);
    return lower;
}

static nv_ph_result run(const float *lower, int64_t n, int max_dim, float thr, int threads,
                        uint32_t p, int staged) {
    nv_ph_params prm = ph_params(max_dim);
    prm.threshold = thr;
    prm.threads = threads;
    prm.modulus = p;
    prm.device = NV_DEVICE_CPU;
    prm.stages_reference = staged;
    return ph_run_dense(lower, n, &prm);
}

/* --- distances ---------------------------------------------------------------------- */

static void test_distances_bits(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 57, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 11, &d);
        const int64_t m = n * (n - 1) / 2;
        float *ref = malloc((size_t)m * sizeof *ref);
        nv_error err = {0};
        assert_int_equal(nv_metric_distances_cpu(x, n, d, NV_METRIC_EUCLIDEAN, ref, &err), NV_OK);
        float *a = dense(x, n, d);
        assert_memory_equal(ref, a, (size_t)m * sizeof *ref); /* bits, not a tolerance */
        free(a);
        if (kind != PH_CLOUD_GRID) { /* the grid has the zero vector */
            nv_metric_spec cs = {NV_METRIC_COSINE, 0, 0, NV_DEVICE_AUTO};
            assert_int_equal(nv_distance_matrix(x, n, d, &cs, &a, &err), NV_OK);
            assert_int_equal(nv_metric_distances_cpu(x, n, d, NV_METRIC_COSINE, ref, &err), NV_OK);
            assert_memory_equal(ref, a, (size_t)m * sizeof *ref);
            free(a);
        }
        /* the dispatcher on the CPU: the same floats */
        nv_device_kind used = NV_DEVICE_CUDA;
        assert_int_equal(nv_metric_distances(x, n, d, NV_METRIC_EUCLIDEAN, NV_DEVICE_CPU, &a, &used, &err), NV_OK);
        assert_int_equal(used, NV_DEVICE_CPU);
        assert_int_equal(nv_metric_distances_cpu(x, n, d, NV_METRIC_EUCLIDEAN, ref, &err), NV_OK);
        assert_memory_equal(ref, a, (size_t)m * sizeof *ref);
        free(a);
        free(ref);
        free(x);
    }
    /* a zero row under cosine is named */
    const float z[] = {1, 0, 0, 0, 0, 1};
    float out[3];
    nv_error err = {0};
    assert_int_equal(nv_metric_distances_cpu(z, 3, 2, NV_METRIC_COSINE, out, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 1"));
}

/* --- edges and H0 ---------------------------------------------------------------------- */

static void check_h0(const float *lower, int64_t n, float thr) {
    nv_ph_simplex *e = NULL;
    int64_t ne = 0, np = 0, *tree = NULL, nt = 0;
    nv_error err = {0};
    /* the engine's effective threshold: the enclosing radius when none is given */
    float eff = isinf(thr) ? nv_ph_enclosing_radius(lower, n) : thr;
    assert_int_equal(nv_ph_edges_cpu(lower, n, eff, &e, &ne, &err), NV_OK);
    int64_t present = 0;
    for (int64_t i = 0; i < n * (n - 1) / 2; i++) present += lower[i] <= eff;
    assert_int_equal(ne, present);
    for (int64_t i = 1; i < ne; i++) /* strictly increasing in (diam, -idx) */
        assert_true(e[i - 1].diam < e[i].diam || (e[i - 1].diam == e[i].diam && e[i - 1].idx > e[i].idx));
    nv_ph_pair *pairs = NULL;
    assert_int_equal(nv_ph_h0_from_edges(e, ne, n, &pairs, &np, &tree, &nt, &err), NV_OK);
    nv_ph_result plain = run(lower, n, 0, thr, 1, 2, 0);
    /* the engine's order: dim, birth, death, birth simplex, death simplex */
    for (int64_t i = 1; i < np; i++)
        for (int64_t j = i; j > 0; j--) {
            nv_ph_pair *a = &pairs[j - 1], *b = &pairs[j];
            int after = a->death > b->death || (a->death == b->death && (a->birth_simplex > b->birth_simplex ||
                        (a->birth_simplex == b->birth_simplex && a->death_simplex > b->death_simplex)));
            if (!after) break;
            nv_ph_pair t = *a; *a = *b; *b = t;
        }
    nv_ph_result mine = {0, n, np, pairs, NV_DEVICE_CPU};
    assert_same_pairs(&mine, &plain, "H0 from the edges");
    int64_t components = 0;
    for (int64_t i = 0; i < plain.count; i++) components += isinf(plain.pairs[i].death);
    assert_int_equal(nt, n - components); /* a spanning forest */
    nv_ph_result_free(&plain);
    free(pairs);
    free(tree);
    free(e);
}

static void test_edges_h0(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 80, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 3, &d);
        float *lower = dense(x, n, d);
        check_h0(lower, n, INFINITY);
        check_h0(lower, n, 0.3f); /* several components */
        check_h0(lower, n, lower[17]); /* a threshold equal to a filtration value */
        free(lower);
        free(x);
    }
}

/* --- columns: a brute-force oracle --------------------------------------------------- */

static int64_t binom(int64_t m, int k) {
    if (k < 0 || m < k) return 0;
    int64_t r = 1;
    for (int i = 1; i <= k; i++) r = r * (m - k + i) / i;
    return r;
}

typedef struct {
    const float *lower;
    int64_t n;
    float thr;
} bf;

static float bf_dist(const bf *b, int64_t i, int64_t j) {
    if (i == j) return 0.0f;
    if (i < j) { int64_t t = i; i = j; j = t; }
    return b->lower[i * (i - 1) / 2 + j];
}

/* Diameter of the vertex set v[0..k), -1 if an edge is absent. */
static float bf_diam(const bf *b, const int64_t *v, int k) {
    float m = 0.0f;
    for (int a = 0; a < k; a++)
        for (int c = a + 1; c < k; c++) {
            float x = bf_dist(b, v[a], v[c]);
            if (!(x <= b->thr) || isinf(x)) return -1.0f;
            if (x > m) m = x;
        }
    return m;
}

static int64_t bf_index(int64_t *v, int k) { /* v any order; sorted here */
    for (int a = 1; a < k; a++)
        for (int c = a; c > 0 && v[c - 1] > v[c]; c--) { int64_t t = v[c]; v[c] = v[c - 1]; v[c - 1] = t; }
    int64_t idx = 0;
    for (int a = 0; a < k; a++) idx += binom(v[a], a + 1);
    return idx;
}

/* The earliest same-diameter cofacet (largest index among equal diameters): -1 if none. */
static int64_t bf_zero_cofacet(const bf *b, int64_t idx, int d, float diam) {
    int64_t v[10], best = -1;
    nv_ph_simplex_vertices(idx, d, b->n, v);
    for (int64_t j = 0; j < b->n; j++) {
        int in = 0;
        for (int a = 0; a <= d; a++) in |= v[a] == j;
        if (in) continue;
        int64_t w[10];
        memcpy(w, v, sizeof(int64_t) * (size_t)(d + 1));
        w[d + 1] = j;
        if (bf_diam(b, w, d + 2) != diam) continue;
        int64_t t = bf_index(w, d + 2);
        if (t > best) best = t;
    }
    return best;
}

/* The latest same-diameter facet (smallest index among equal diameters): -1 if none. */
static int64_t bf_zero_facet(const bf *b, int64_t idx, int d, float diam) {
    int64_t v[10], best = -1;
    nv_ph_simplex_vertices(idx, d, b->n, v);
    for (int r = 0; r <= d; r++) {
        int64_t w[10];
        int k = 0;
        for (int a = 0; a <= d; a++)
            if (a != r) w[k++] = v[a];
        if (bf_diam(b, w, d) != diam) continue;
        int64_t f = bf_index(w, d);
        if (best < 0 || f < best) best = f;
    }
    return best;
}

static void check_columns(const float *lower, int64_t n, float thr, int d, uint64_t seed) {
    bf b = {lower, n, thr};
    int64_t total = binom(n, d + 1);
    /* clear a pseudo-random fifth of the simplices: the contract is only "not in it" */
    int64_t *cleared = malloc((size_t)total * sizeof *cleared), ncl = 0;
    nv_ph_simplex *want = malloc((size_t)total * sizeof *want);
    int64_t nw = 0, present = 0, apparent = 0;
    for (int64_t s = 0; s < total; s++) {
        int64_t v[10];
        nv_ph_simplex_vertices(s, d, n, v);
        float dm = bf_diam(&b, v, d + 1);
        if (dm < 0) continue;
        present++;
        if (ph_cloud_u(seed, (uint64_t)s) < 0.2f) { cleared[ncl++] = s; continue; }
        int64_t t = bf_zero_cofacet(&b, s, d, dm), f = bf_zero_facet(&b, s, d, dm);
        int app = (t >= 0 && bf_zero_facet(&b, t, d + 1, dm) == s) ||
                  (f >= 0 && bf_zero_cofacet(&b, f, d - 1, dm) == s);
        if (app) { apparent++; continue; }
        want[nw++] = (nv_ph_simplex){s, dm};
    }
    /* reduction order by insertion sort: diameter descending, index ascending */
    for (int64_t i = 1; i < nw; i++)
        for (int64_t j = i; j > 0 && (want[j].diam > want[j - 1].diam ||
                                      (want[j].diam == want[j - 1].diam && want[j].idx < want[j - 1].idx)); j--) {
            nv_ph_simplex t = want[j]; want[j] = want[j - 1]; want[j - 1] = t;
        }
    nv_ph_simplex *got = NULL;
    int64_t ng = 0;
    nv_ph_column_stats st;
    nv_error err = {0};
    assert_int_equal(nv_ph_columns_cpu(lower, n, thr, d, cleared, ncl, &got, &ng, &st, &err), NV_OK);
    if (ng != nw) fail_msg("dimension %d, threshold %g: %lld columns, oracle %lld", d, thr, (long long)ng, (long long)nw);
    for (int64_t i = 0; i < nw; i++)
        if (got[i].idx != want[i].idx || got[i].diam != want[i].diam)
            fail_msg("dimension %d: column %lld is (%lld, %g), oracle (%lld, %g)", d, (long long)i,
                     (long long)got[i].idx, got[i].diam, (long long)want[i].idx, want[i].diam);
    assert_int_equal(st.present, present);
    assert_int_equal(st.cleared, ncl);
    assert_int_equal(st.apparent, apparent);
    assert_int_equal(st.columns, nw);
    free(got);
    free(want);
    free(cleared);
}

static void test_columns_oracle(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 16, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 5, &d);
        float *lower = dense(x, n, d);
        float r = nv_ph_enclosing_radius(lower, n);
        for (int dim = 1; dim <= 3; dim++) {
            check_columns(lower, n, r, dim, 7 + (uint64_t)dim);
            check_columns(lower, n, 3.4028234663852886e38f, dim, 9);
            check_columns(lower, n, lower[40], dim, 13); /* a filtration value */
        }
        free(lower);
        free(x);
    }
}

/* --- the staged engine -------------------------------------------------------------- */

static void staged_vs_plain(ph_cloud_kind kind, int64_t n, int max_dim, float thr, uint32_t p) {
    int64_t d;
    float *x = ph_cloud_make(kind, n, 21 + (uint64_t)n, &d);
    float *lower = dense(x, n, d);
    char what[160];
    for (int threads = 1; threads <= 2; threads++) {
        nv_ph_result a = run(lower, n, max_dim, thr, threads, p, 0);
        nv_ph_result b = run(lower, n, max_dim, thr, threads, p, 1);
        snprintf(what, sizeof what, "%s n=%lld dim %d thr %g Z/%u threads %d", ph_cloud_names[kind],
                 (long long)n, max_dim, thr, p, threads);
        assert_same_pairs(&b, &a, what);
        nv_ph_result_free(&a);
        nv_ph_result_free(&b);
    }
    free(lower);
    free(x);
}

static void test_staged_engine(void **state) {
    (void)state;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        staged_vs_plain((ph_cloud_kind)kind, 100, 1, INFINITY, 2);
        staged_vs_plain((ph_cloud_kind)kind, 60, 2, INFINITY, 2);
        staged_vs_plain((ph_cloud_kind)kind, 30, 3, INFINITY, 2);
        staged_vs_plain((ph_cloud_kind)kind, 60, 2, 0.6f, 3);
    }
    /* the grid's threshold exactly at a distance (1 and sqrt 2 are filtration values) */
    staged_vs_plain(PH_CLOUD_GRID, 49, 2, 1.0f, 2);
    staged_vs_plain(PH_CLOUD_GRID, 49, 2, sqrtf(2.0f), 2);
    staged_vs_plain(PH_CLOUD_TORUS, 200, 1, INFINITY, 5);
}

/* Infinite distances (a disconnected kNN graph) are absent edges on both paths. */
static void test_staged_infinite(void **state) {
    (void)state;
    int64_t n = 40, d;
    float *x = ph_cloud_make(PH_CLOUD_TWO_CIRCLES, n, 2, &d);
    float *lower = dense(x, n, d);
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < i; j++)
            if ((i % 2) != (j % 2)) lower[i * (i - 1) / 2 + j] = INFINITY;
    for (int dim = 1; dim <= 2; dim++) {
        nv_ph_result a = run(lower, n, dim, INFINITY, 1, 2, 0), b = run(lower, n, dim, INFINITY, 1, 2, 1);
        assert_same_pairs(&b, &a, "infinite distances");
        nv_ph_result_free(&a);
        nv_ph_result_free(&b);
    }
    free(lower);
    free(x);
}

/* --- batch and device choice --------------------------------------------------------- */

static void test_batch(void **state) {
    (void)state;
    enum { COUNT = 9 };
    nv_ph_input in[COUNT];
    float *xs[COUNT], *lows[COUNT];
    for (int k = 0; k < COUNT; k++) {
        int64_t d, n = 20 + 15 * k;
        xs[k] = ph_cloud_make((ph_cloud_kind)(k % PH_CLOUD_KINDS), n, 40 + (uint64_t)k, &d);
        lows[k] = dense(xs[k], n, d);
        in[k] = (nv_ph_input){NV_PH_DENSE, n, lows[k], NULL, NULL, NULL};
    }
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    p.max_dim = 2;
    p.want_simplices = 1;
    p.threads = 2;
    p.gpu_min_points = 100; /* the last inputs take the "large" path */
    nv_ph_result out[COUNT];
    nv_error err = {0};
    assert_int_equal(nv_ph_compute_batch(in, COUNT, &p, out, &err), NV_OK);
    for (int k = 0; k < COUNT; k++) {
        nv_ph_result one = run(lows[k], in[k].n, 2, INFINITY, 1, 2, 0);
        assert_same_pairs(&out[k], &one, "batch");
        nv_ph_result_free(&one);
        nv_ph_result_free(&out[k]);
        free(xs[k]);
        free(lows[k]);
    }
    /* a bad input is named by its position, and nothing is left allocated */
    float bad[1] = {-1.0f};
    nv_ph_input two[2] = {{NV_PH_DENSE, 2, bad, NULL, NULL, NULL}, {NV_PH_DENSE, 2, bad, NULL, NULL, NULL}};
    nv_ph_result o2[2];
    nv_error_clear(&err);
    assert_int_equal(nv_ph_compute_batch(two, 2, &p, o2, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "input 0 of the batch"));
    assert_null(o2[0].pairs);
    assert_null(o2[1].pairs);
}

static void test_device_choice(void **state) {
    (void)state;
    int64_t n = 30, d;
    float *x = ph_cloud_make(PH_CLOUD_CIRCLE, n, 1, &d);
    float *lower = dense(x, n, d);
    nv_ph_input in = {NV_PH_DENSE, n, lower, NULL, NULL, NULL};
    nv_ph_params p;
    nv_ph_params_defaults(&p);
    nv_ph_stages s;
    int use = 1;
    nv_error err = {0};
    /* AUTO below the size rule, and CPU: the engine's own path */
    assert_int_equal(nv_ph_stages_select(&in, &p, &s, &use, &err), NV_OK);
    assert_int_equal(use, 0);
    p.device = NV_DEVICE_CPU;
    assert_int_equal(nv_ph_stages_select(&in, &p, &s, &use, &err), NV_OK);
    assert_int_equal(use, 0);
    /* sparse input cannot take the GPU stages: asked for, that is an input error */
    int64_t rp[3] = {0, 1, 2}, col[2] = {1, 0};
    float val[2] = {1, 1};
    nv_ph_input sp = {NV_PH_SPARSE, 2, NULL, rp, col, val};
    p.device = NV_DEVICE_CUDA;
    assert_int_equal(nv_ph_stages_select(&sp, &p, &s, &use, &err), NV_EINPUT);
    nv_status gpu = nv_cuda_status(NULL, 0);
    if (gpu != NV_OK) {
        /* no GPU: an explicit request fails with the reason; AUTO runs on the CPU */
        nv_error_clear(&err);
        assert_int_equal(nv_ph_stages_select(&in, &p, &s, &use, &err), gpu);
        assert_non_null(strstr(err.msg, "device 'cuda' was requested"));
        nv_ph_result r;
        nv_error_clear(&err);
        assert_int_equal(nv_ph_compute(&in, &p, &r, &err), gpu);
        p.device = NV_DEVICE_AUTO;
        p.gpu_min_points = 2;
        assert_int_equal(nv_ph_compute(&in, &p, &r, &err), NV_OK);
        assert_int_equal(r.device, NV_DEVICE_CPU);
        nv_ph_result_free(&r);
        float *dm = NULL;
        nv_error_clear(&err);
        assert_int_equal(nv_metric_distances(x, n, d, NV_METRIC_EUCLIDEAN, NV_DEVICE_CUDA, &dm, NULL, &err), nv_cuda_status(NULL, 0));
        assert_null(dm);
    }
    free(lower);
    free(x);
}

/* --- graph distances ------------------------------------------------------------------ */

static void test_geodesic_relax(void **state) {
    (void)state;
    int64_t inf_seen = 0;
    for (int kind = 0; kind < PH_CLOUD_KINDS; kind++) {
        int64_t n = 120, d;
        float *x = ph_cloud_make((ph_cloud_kind)kind, n, 23, &d);
        float *lower = dense(x, n, d);
        const int ks[] = {1, 3, 14};
        for (int ki = 0; ki < 3; ki++) {
            nv_knn_graph g;
            nv_error err = {0};
            if (nv_metric_knn_graph(lower, n, ks[ki], &g, &err)) fail_msg("knn graph: %s", err.msg);
            for (int weighted = 0; weighted < 2; weighted++) {
                float *ref = NULL, *got = calloc((size_t)(n * (n - 1) / 2), sizeof *got);
                assert_int_equal(nv_metric_geodesic_lower(&g, weighted, &ref, &err), NV_OK);
                assert_int_equal(nv_metric_geodesic_relax_cpu(&g, weighted, got, &err), NV_OK);
                int64_t inf = 0;
                for (int64_t i = 0; i < n * (n - 1) / 2; i++) {
                    inf += isinf(ref[i]);
                    if (memcmp(&ref[i], &got[i], sizeof *got))
                        fail_msg("%s, k = %d, %s: entry %lld: %.9g (Dijkstra/BFS) vs %.9g (relaxation)",
                                 ph_cloud_names[kind], ks[ki], weighted ? "weighted" : "hops",
                                 (long long)i, ref[i], got[i]);
                }
                if (ks[ki] == 1) inf_seen += inf;
                /* the dispatcher on the CPU is Dijkstra/BFS itself */
                float *via = NULL;
                nv_device_kind used = NV_DEVICE_CUDA;
                assert_int_equal(nv_metric_geodesic(&g, weighted, NV_DEVICE_AUTO, &via, &used, &err), NV_OK);
                assert_int_equal(used, NV_DEVICE_CPU);
                assert_memory_equal(via, ref, (size_t)(n * (n - 1) / 2) * sizeof *ref);
                free(via);
                free(ref);
                free(got);
            }
            nv_status gpu = nv_cuda_status(NULL, 0);
            if (gpu != NV_OK) {
                float *none = NULL;
                nv_error_clear(&err);
                assert_int_equal(nv_metric_geodesic(&g, 1, NV_DEVICE_CUDA, &none, NULL, &err), gpu);
                assert_non_null(strstr(err.msg, "device 'cuda' was requested"));
                assert_null(none);
            }
            nv_knn_graph_free(&g);
        }
        free(lower);
        free(x);
    }
    assert_true(inf_seen > 0); /* k = 1 leaves components apart: INFINITY is covered */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distances_bits),  cmocka_unit_test(test_edges_h0),
        cmocka_unit_test(test_columns_oracle),  cmocka_unit_test(test_staged_engine),
        cmocka_unit_test(test_staged_infinite), cmocka_unit_test(test_batch),
        cmocka_unit_test(test_device_choice),   cmocka_unit_test(test_geodesic_relax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
