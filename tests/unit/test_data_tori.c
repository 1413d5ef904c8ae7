/* test_data_tori.c: the linked-tori generator (datasets/tori.c, a D-II-like data
 * set) and its config keys. Counts, labels and ids; the two classes apart (the
 * tubes of a pair are R - 2r apart, the pairs further); MaxAbs scaling;
 * determinism; refusals; the config round trip; and the topology on the
 * reproduction's protocol: all points of a class, the kNN graph with k = 34
 * (scikit-learn's 35), hop counts, Rips at 2 hops: (beta0, beta1, beta2) =
 * (9, 9, 0) for each class. */
#include "testutil.h"

#include "nerve/config.h"
#include "nerve/dataset.h"
#include "nerve/metric.h"
#include "nerve/ph.h"
#include "nerve/run.h"

static void test_defaults_and_geometry(void **state) {
    (void)state;
    nv_tori_params p;
    nv_tori_defaults(&p);
    assert_true(p.points_per_torus == 400 && p.major_radius == 2.2 && p.minor_radius == 0.7 &&
                p.spacing == 7.0 && p.test_fraction == 0.2 && p.seed == 1);
    p.points_per_torus = 150;
    nv_dataset all;
    nv_error err = {0};
    assert_int_equal(nv_tori_sample(&p, &all, &err), NV_OK);
    assert_int_equal(all.n, 18 * 150);
    assert_int_equal(all.d, 3);
    assert_int_equal(all.nclasses, 2);
    double mx[3] = {0, 0, 0};
    for (int64_t i = 0; i < all.n; i++) {
        assert_int_equal(all.ids[i], i);
        assert_int_equal(all.y[i], i >= 9 * 150);
        for (int k = 0; k < 3; k++) mx[k] = fmax(mx[k], fabs(all.x[3 * i + k]));
    }
    for (int k = 0; k < 3; k++) assert_true(mx[k] == 1.0); /* MaxAbs: the largest |coordinate| is 1 */
    /* the classes are apart: the nearest pair of points of different classes */
    double best = INFINITY;
    for (int64_t i = 0; i < 9 * 150; i += 3)
        for (int64_t j = 9 * 150; j < all.n; j++) {
            double d2 = 0;
            for (int k = 0; k < 3; k++) {
                double t = (double)all.x[3 * i + k] - all.x[3 * j + k];
                d2 += t * t;
            }
            best = fmin(best, d2);
        }
    /* unscaled, the tubes are at least R - 2r = 0.8 apart; scaled by ~1/11 */
    assert_true(sqrt(best) > 0.8 / 11.2);
    nv_dataset_free(&all);
    /* determinism and the seed */
    nv_dataset a, b, ta, tb;
    assert_int_equal(nv_tori_generate(&p, &a, &ta, &err), NV_OK);
    assert_int_equal(nv_tori_generate(&p, &b, &tb, &err), NV_OK);
    assert_memory_equal(a.x, b.x, (size_t)(a.n * 3) * sizeof(nv_real));
    assert_memory_equal(ta.y, tb.y, (size_t)ta.n * sizeof(int32_t));
    nv_dataset_free(&b);
    nv_dataset_free(&tb);
    p.seed = 2;
    assert_int_equal(nv_tori_generate(&p, &b, &tb, &err), NV_OK);
    assert_true(memcmp(a.x, b.x, (size_t)(a.n * 3) * sizeof(nv_real)) != 0);
    assert_int_equal(ta.n, 2 * 270); /* round(0.2 * 1350) per class */
    nv_dataset_free(&a);
    nv_dataset_free(&b);
    nv_dataset_free(&ta);
    nv_dataset_free(&tb);
}

static void test_refusals(void **state) {
    (void)state;
    nv_tori_params p;
    nv_error err = {0};
    nv_tori_defaults(&p);
    p.minor_radius = 1.2; /* 2r >= R: the tubes of a pair would touch */
    assert_int_equal(nv_tori_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "minor_radius"));
    nv_tori_defaults(&p);
    p.spacing = 5.0; /* pairs would touch */
    err = (nv_error){0};
    assert_int_equal(nv_tori_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "spacing"));
    nv_tori_defaults(&p);
    p.points_per_torus = 0;
    assert_int_equal(nv_tori_validate(&p, NULL), NV_EINPUT);
    nv_tori_defaults(&p);
    p.test_fraction = 1.0;
    assert_int_equal(nv_tori_validate(&p, NULL), NV_EINPUT);
}

static void test_config(void **state) {
    (void)state;
    const char *dir = nv_test_tmpdir("tori");
    const char *p = nv_test_write_file(dir, "t.cfg",
                                       "experiment = \"d2\"; seed = 3;\n"
                                       "data: { source = \"tori\"; test_fraction = 0.25;\n"
                                       "        tori: { points_per_torus = 60; spacing = 8; }; };\n");
    nv_experiment a, b;
    nv_error err = {0};
    if (nv_config_load(p, NULL, 0, &a, &err)) fail_msg("load: %s", err.msg);
    assert_int_equal(a.data.source, NV_DATA_TORI);
    assert_int_equal(a.data.tori.points_per_torus, 60);
    assert_true(a.data.tori.spacing == 8.0 && a.data.tori.major_radius == 2.2);
    char *t1 = nv_config_resolved_text(&a);
    assert_non_null(strstr(t1, "source = \"tori\""));
    assert_non_null(strstr(t1, "points_per_torus = 60;"));
    const char *p2 = nv_test_write_file(dir, "t2.cfg", t1);
    if (nv_config_load(p2, NULL, 0, &b, &err)) fail_msg("reload: %s\n%s", err.msg, t1);
    char *t2 = nv_config_resolved_text(&b);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    nv_dataset tr, te, gtr, gte;
    char desc[512];
    assert_int_equal(nv_data_build(&b.data, b.seed, &tr, &te, desc, sizeof desc, &err), NV_OK);
    assert_non_null(strstr(desc, "tori"));
    nv_tori_params g;
    nv_tori_defaults(&g);
    g.points_per_torus = 60;
    g.spacing = 8.0;
    g.test_fraction = 0.25;
    g.seed = 3;
    assert_int_equal(nv_tori_generate(&g, &gtr, &gte, &err), NV_OK);
    assert_int_equal(tr.n, gtr.n);
    assert_memory_equal(tr.x, gtr.x, (size_t)(tr.n * 3) * sizeof(nv_real));
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    nv_dataset_free(&gtr);
    nv_dataset_free(&gte);
    const char *p3 = nv_test_write_file(dir, "t3.cfg", "data: { source = \"tori\"; tori: { spacing = 4; }; };\n");
    assert_int_equal(nv_config_load(p3, NULL, 0, &a, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "data.tori"));
}

/* (9, 9, 0) per class on the reproduction's protocol (docs/naitzat-di.md, D-II). */
static void test_topology(void **state) {
    (void)state;
    nv_tori_params p;
    nv_tori_defaults(&p);
    nv_dataset all;
    nv_error err = {0};
    assert_int_equal(nv_tori_sample(&p, &all, &err), NV_OK);
    const int64_t m = 9 * p.points_per_torus;
    for (int c = 0; c < 2; c++) {
        nv_metric_spec ms = {.kind = NV_METRIC_KNN_HOPS, .k = 34};
        float *lower = NULL;
        if (nv_distance_matrix(all.x + (size_t)c * m * 3, m, 3, &ms, &lower, &err)) fail_msg("%s", err.msg);
        nv_ph_params pp;
        nv_ph_params_defaults(&pp);
        pp.max_dim = 2;
        pp.threshold = 2.0f;
        nv_ph_input in = {.kind = NV_PH_DENSE, .n = m, .lower = lower};
        nv_ph_result r;
        if (nv_ph_compute(&in, &pp, &r, &err)) fail_msg("%s", err.msg);
        assert_int_equal(nv_ph_betti_at(&r, 0, 2.0f), 9);
        assert_int_equal(nv_ph_betti_at(&r, 1, 2.0f), 9);
        assert_int_equal(nv_ph_betti_at(&r, 2, 2.0f), 0);
        nv_ph_result_free(&r);
        free(lower);
    }
    nv_dataset_free(&all);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_geometry),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_topology),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
