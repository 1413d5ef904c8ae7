/* test_labelled.c: the labelled kNN filtration (analysis/ph/labelled.c,
 * include/nerve/labelled.h) and the rank-only neighbour search and spanning tree
 * under it (analysis/metric/neighbors.c).
 *
 *  - kNN lists against a brute-force sort of double squared distances (ties to the
 *    lower index, on a grid where ties abound), for 1 and 2 threads;
 *  - every Betti number, edge count and cross-class edge count against a
 *    from-scratch oracle (the graph of each k rebuilt, components by BFS);
 *  - two classes far apart read mixing 0 and one cross-class tree edge; interleaved
 *    classes read high;
 *  - rescaling: a power of two gives identical results (exact arithmetic), and so
 *    do 10 and random positive factors on point clouds in general position;
 *  - the spanning tree's weight equals a brute-force Kruskal's;
 *  - bad input is refused.
 */
#include "testutil.h"

#include "nerve/labelled.h"
#include "nerve/metric.h"
#include "nerve/rng.h"

static double sq(const nv_real *a, const nv_real *b, int64_t d) {
    double s = 0.0;
    for (int64_t k = 0; k < d; k++) {
        double t = (double)a[k] - (double)b[k];
        s += t * t;
    }
    return s;
}

/* n points in d dims, uniform in [-1, 1)^d, from the test stream. */
static nv_real *cloud(int64_t n, int64_t d, uint64_t seed) {
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n * d; i++) x[i] = 2.0f * nv_rng_uniform(seed, NV_STREAM_TEST, (uint64_t)i) - 1.0f;
    return x;
}

/* Brute-force k nearest of each point: selection by (distance, index). */
static int64_t *knn_brute(const nv_real *x, int64_t n, int64_t d, int k) {
    int64_t *nb = malloc((size_t)(n * k) * sizeof *nb);
    unsigned char *used = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
        memset(used, 0, (size_t)n);
        used[i] = 1;
        for (int r = 0; r < k; r++) {
            int64_t best = -1;
            double bd = 0;
            for (int64_t j = 0; j < n; j++) {
                if (used[j]) continue;
                double dj = sq(x + i * d, x + j * d, d);
                if (best < 0 || dj < bd) best = j, bd = dj;
            }
            used[best] = 1;
            nb[i * k + r] = best;
        }
    }
    free(used);
    return nb;
}

static void test_knn_points(void **state) {
    (void)state;
    /* a 7 x 7 integer grid in 2-D: distances tie everywhere */
    int64_t n = 49, d = 2;
    nv_real *x = malloc((size_t)(n * d) * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        x[2 * i] = (nv_real)(i % 7);
        x[2 * i + 1] = (nv_real)(i / 7);
    }
    int64_t *ref = knn_brute(x, n, d, 8);
    for (int threads = 1; threads <= 2; threads++) {
        int64_t *nb = NULL;
        nv_error err = {0};
        assert_int_equal(nv_metric_knn_points(x, n, d, 8, threads, &nb, &err), NV_OK);
        assert_memory_equal(nb, ref, (size_t)(n * 8) * sizeof *nb);
        free(nb);
    }
    free(ref);
    free(x);
    x = cloud(300, 5, 7);
    ref = knn_brute(x, 300, 5, 12);
    int64_t *nb = NULL;
    assert_int_equal(nv_metric_knn_points(x, 300, 5, 12, 2, &nb, NULL), NV_OK);
    assert_memory_equal(nb, ref, (size_t)(300 * 12) * sizeof *nb);
    free(nb);
    free(ref);
    free(x);
}

/* Components of the graph whose edges are {i, nb[i][r]} for r < k, restricted to
 * same-class edges of class c (c < 0: every edge), counting only vertices of class
 * c (every vertex for c < 0): BFS on an adjacency matrix. */
static int64_t components(const int64_t *nb, int kmax, int64_t n, const int64_t *lab, int k, int64_t c) {
    unsigned char *adj = calloc((size_t)(n * n), 1), *seen = calloc((size_t)n, 1);
    int64_t *queue = malloc((size_t)n * sizeof *queue);
    for (int64_t i = 0; i < n; i++)
        for (int r = 0; r < k; r++) {
            int64_t j = nb[i * kmax + r];
            if (c >= 0 && (lab[i] != c || lab[j] != c)) continue;
            adj[i * n + j] = adj[j * n + i] = 1;
        }
    int64_t comps = 0;
    for (int64_t s = 0; s < n; s++) {
        if (seen[s] || (c >= 0 && lab[s] != c)) continue;
        comps++;
        int64_t h = 0, t = 0;
        queue[t++] = s;
        seen[s] = 1;
        while (h < t) {
            int64_t v = queue[h++];
            for (int64_t w = 0; w < n; w++)
                if (adj[v * n + w] && !seen[w]) {
                    seen[w] = 1;
                    queue[t++] = w;
                }
        }
    }
    free(adj);
    free(seen);
    free(queue);
    return comps;
}

static void test_against_oracle(void **state) {
    (void)state;
    const int64_t n = 160, d = 3;
    const int kmax = 9;
    nv_real *x = cloud(n, d, 11);
    int64_t lab[160];
    /* three classes, labels 2, 5, 7: the class index is not the label */
    for (int64_t i = 0; i < n; i++) lab[i] = (x[i * d] > 0.3f) ? 7 : (x[i * d + 1] > 0.0f ? 5 : 2);
    lab[3] = 7; /* a stray point inside another class's region */
    nv_labelled r;
    nv_error err = {0};
    assert_int_equal(nv_labelled_compute(x, n, d, lab, kmax, 1, 2, &r, &err), NV_OK);
    assert_int_equal(r.n_classes, 3);
    assert_true(r.classes[0] == 2 && r.classes[1] == 5 && r.classes[2] == 7);
    int64_t *nb = knn_brute(x, n, d, kmax);
    int64_t total = 0;
    for (int c = 0; c < 3; c++) total += r.class_n[c];
    assert_int_equal(total, n);
    for (int k = 1; k <= kmax; k++) {
        assert_int_equal(r.beta0_all[k - 1], components(nb, kmax, n, lab, k, -1));
        for (int c = 0; c < 3; c++)
            assert_int_equal(r.beta0[c * kmax + k - 1], components(nb, kmax, n, lab, k, r.classes[c]));
        /* undirected edges and cross edges of G(k), brute force */
        int64_t e = 0, ce = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                int in = 0;
                for (int s = 0; s < k; s++) in |= nb[i * kmax + s] == j || nb[j * kmax + s] == i;
                if (!in) continue;
                e++;
                ce += lab[i] != lab[j];
            }
        assert_int_equal(r.edges[k - 1], e);
        assert_int_equal(r.cross_edges[k - 1], ce);
    }
    /* the summaries from the arrays */
    double mix = 0, lp = 0, up = 0;
    for (int k = 0; k < kmax; k++) {
        int64_t s = r.beta0[k] + r.beta0[kmax + k] + r.beta0[2 * kmax + k];
        mix += (double)(s - (r.beta0_all[k] > 3 ? r.beta0_all[k] : 3));
        lp += (double)(s - 3);
        up += (double)(r.beta0_all[k] - 1);
    }
    assert_true(fabs(nv_labelled_mixing(&r) - mix / n) < 1e-12);
    assert_true(fabs(nv_labelled_persistence(&r) - lp / n) < 1e-12);
    assert_true(fabs(nv_labelled_unlabelled_persistence(&r) - up / n) < 1e-12);
    assert_true(nv_labelled_mixing(&r) >= 0.0);
    free(nb);
    nv_labelled_free(&r);
    free(x);
}

static void test_apart_and_interleaved(void **state) {
    (void)state;
    /* two clouds 100 apart, one class each: no cross edge at any k <= 20 */
    const int64_t n = 200, d = 4;
    nv_real *x = cloud(n, d, 3);
    int64_t lab[200];
    for (int64_t i = 0; i < n; i++) {
        lab[i] = i < 100;
        if (i < 100) x[i * d] += 100.0f;
    }
    nv_labelled r;
    assert_int_equal(nv_labelled_compute(x, n, d, lab, 20, 1, 1, &r, NULL), NV_OK);
    assert_true(nv_labelled_mixing(&r) == 0.0);
    for (int k = 0; k < 20; k++) assert_int_equal(r.cross_edges[k], 0);
    assert_true(fabs(r.mst_cross - 1.0 / 199.0) < 1e-15); /* the one bridge */
    assert_int_equal(r.beta0[19] + r.beta0[20 + 19], 2);
    nv_labelled_free(&r);
    /* the same points with alternating labels along the first coordinate: the
     * classes interleave, the same-class graphs fall apart */
    for (int64_t i = 0; i < n; i++) x[i * d] -= (i < 100) ? 100.0f : 0.0f;
    for (int64_t i = 0; i < n; i++) lab[i] = ((int)floorf((x[i * d] + 1.0f) * 8.0f)) % 2;
    assert_int_equal(nv_labelled_compute(x, n, d, lab, 20, 1, 1, &r, NULL), NV_OK);
    assert_true(nv_labelled_mixing(&r) > 0.3);
    assert_true(r.mst_cross > 0.1);
    nv_labelled_free(&r);
    free(x);
}

static int same(const nv_labelled *a, const nv_labelled *b) {
    if (a->n != b->n || a->k_max != b->k_max || a->n_classes != b->n_classes) return 0;
    size_t kc = (size_t)a->k_max * (size_t)a->n_classes * sizeof(int64_t), k = (size_t)a->k_max * sizeof(int64_t);
    return !memcmp(a->beta0, b->beta0, kc) && !memcmp(a->beta0_all, b->beta0_all, k) &&
           !memcmp(a->edges, b->edges, k) && !memcmp(a->cross_edges, b->cross_edges, k) &&
           a->mst_cross == b->mst_cross;
}

static void test_rescaling(void **state) {
    (void)state;
    const int64_t n = 400, d = 12;
    nv_real *x = cloud(n, d, 5), *y = malloc((size_t)(n * d) * sizeof *y);
    int64_t lab[400];
    for (int64_t i = 0; i < n; i++) lab[i] = sq(x + i * d, x + i * d, d) > 4.0; /* a radial boundary */
    nv_labelled r0, r1;
    assert_int_equal(nv_labelled_compute(x, n, d, lab, 20, 1, 1, &r0, NULL), NV_OK);
    double factors[8] = {4.0, 0.125, 10.0, 0.1, 1e3, 1e-3, 0, 0};
    for (int t = 6; t < 8; t++) /* two random factors in [1e-3, 1e3) */
        factors[t] = pow(10.0, 6.0 * nv_rng_uniform(99, NV_STREAM_TEST, (uint64_t)t) - 3.0);
    for (int t = 0; t < 8; t++) {
        for (int64_t i = 0; i < n * d; i++) y[i] = (nv_real)(factors[t] * x[i]);
        assert_int_equal(nv_labelled_compute(y, n, d, lab, 20, 1, 1, &r1, NULL), NV_OK);
        if (!same(&r0, &r1)) fail_msg("rescaling by %.17g changed the labelled filtration", factors[t]);
        assert_true(nv_labelled_mixing(&r0) == nv_labelled_mixing(&r1));
        nv_labelled_free(&r1);
    }
    nv_labelled_free(&r0);
    free(x);
    free(y);
}

/* Kruskal by brute force: the weight (sum of double distances) of an MST. */
static double mst_weight_brute(const nv_real *x, int64_t n, int64_t d) {
    int64_t *comp = malloc((size_t)n * sizeof *comp);
    for (int64_t i = 0; i < n; i++) comp[i] = i;
    double w = 0.0;
    for (int64_t e = 0; e + 1 < n; e++) {
        int64_t bi = -1, bj = -1;
        double bd = INFINITY;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++)
                if (comp[i] != comp[j]) {
                    double dd = sq(x + i * d, x + j * d, d);
                    if (dd < bd) bd = dd, bi = i, bj = j;
                }
        w += sqrt(bd);
        int64_t from = comp[bj], to = comp[bi];
        for (int64_t v = 0; v < n; v++)
            if (comp[v] == from) comp[v] = to;
    }
    free(comp);
    return w;
}

static void test_mst(void **state) {
    (void)state;
    const int64_t n = 80, d = 3;
    nv_real *x = cloud(n, d, 21);
    int64_t *par = NULL;
    assert_int_equal(nv_metric_mst_points(x, n, d, &par, NULL), NV_OK);
    assert_int_equal(par[0], -1);
    double w = 0.0;
    for (int64_t i = 1; i < n; i++) {
        assert_true(par[i] >= 0 && par[i] < n && par[i] != i);
        w += sqrt(sq(x + i * d, x + par[i] * d, d));
    }
    assert_true(fabs(w - mst_weight_brute(x, n, d)) < 1e-9);
    free(par);
    free(x);
}

static void test_bad_input(void **state) {
    (void)state;
    nv_real x[8] = {0, 1, 2, 3, 4, 5, 6, NAN};
    int64_t lab[4] = {0, 1, 0, 1};
    nv_labelled r;
    nv_error err = {0};
    assert_int_equal(nv_labelled_compute(x, 3, 2, lab, 3, 0, 1, &r, &err), NV_EINPUT); /* k_max >= n */
    assert_non_null(strstr(err.msg, "k_max"));
    assert_int_equal(nv_labelled_compute(x, 4, 2, lab, 2, 0, 1, &r, &err), NV_EINPUT); /* NaN */
    assert_int_equal(nv_labelled_compute(NULL, 4, 2, lab, 2, 0, 1, &r, &err), NV_EINPUT);
    assert_int_equal(nv_labelled_compute(x, 4, 2, NULL, 2, 0, 1, &r, &err), NV_EINPUT);
    assert_int_equal(nv_labelled_compute(x, 1, 2, lab, 1, 0, 1, &r, &err), NV_EINPUT);
    int64_t *nb = NULL;
    assert_int_equal(nv_metric_knn_points(x, 3, 2, 0, 1, &nb, &err), NV_EINPUT);
    assert_null(nb);
    nv_labelled_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_knn_points),   cmocka_unit_test(test_against_oracle),
        cmocka_unit_test(test_apart_and_interleaved), cmocka_unit_test(test_rescaling),
        cmocka_unit_test(test_mst),          cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
