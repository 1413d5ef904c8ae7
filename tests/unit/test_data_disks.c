/* test_data_disks.c: the nine-disks generator (datasets/disks.c, data set D-I of
 * Naitzat et al.) and its config keys (src/train/config.c, src/train/data_spec.c). Checks that
 * class 0 lies in the disks and class 1 outside them by at least the gap, that all
 * nine disks are populated, counts and split sizes, determinism (same seed same
 * bytes, another seed other points), refusals, and that a disks config resolves to
 * text that reloads to the same text and builds the same data. */
#include "testutil.h"

#include "nerve/config.h"
#include "nerve/dataset.h"
#include "nerve/run.h"

static void generate(const nv_disks_params *p, nv_dataset *tr, nv_dataset *te) {
    nv_error err = {0};
    nv_status st = nv_disks_generate(p, tr, te, &err);
    if (st) fail_msg("nv_disks_generate: %s", err.msg);
}

static void test_defaults(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_defaults(&p);
    assert_int_equal(p.points_per_class, 2000);
    assert_true(p.radius == 0.2 && p.gap == 0.05 && p.test_fraction == 0.2 && p.seed == 1);
}

static void test_geometry_counts(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_defaults(&p);
    p.points_per_class = 900;
    p.radius = 0.15;
    p.gap = 0.1;
    p.test_fraction = 0.25;
    nv_dataset all;
    nv_error err = {0};
    assert_int_equal(nv_disks_sample(&p, &all, &err), NV_OK);
    assert_int_equal(all.n, 1800);
    assert_int_equal(all.d, 2);
    assert_int_equal(all.nclasses, 2);
    int64_t per_disk[9] = {0}, counts[2] = {0}, b_far = 0;
    for (int64_t i = 0; i < all.n; i++) {
        const double x = all.x[2 * i], y = all.x[2 * i + 1];
        const int c = all.y[i];
        assert_int_equal(all.ids[i], i);
        assert_true(x >= -1.0 && x < 1.0 && y >= -1.0 && y < 1.0);
        /* the nearest centre by brute force, in double from the stored floats */
        double best = 1e9;
        int which = -1;
        for (int k = 0; k < 9; k++) {
            const double cx = (k % 3 - 1) * (2.0 / 3.0), cy = (k / 3 - 1) * (2.0 / 3.0);
            const double dd = sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
            if (dd < best) best = dd, which = k;
        }
        assert_true(fabs(best - nv_disks_distance(x, y)) < 1e-12);
        counts[c]++;
        if (c == 0) {
            assert_true(best <= p.radius + 1e-6); /* float rounding of the stored point */
            per_disk[which]++;
        } else {
            assert_true(best > p.radius + p.gap - 1e-6);
            if (best > 0.4) b_far++; /* near a corner: at most 0.47 */
        }
    }
    assert_int_equal(counts[0], 900);
    assert_int_equal(counts[1], 900);
    /* equal areas: about 100 points per disk; every disk well populated */
    for (int k = 0; k < 9; k++) assert_true(per_disk[k] > 50 && per_disk[k] < 150);
    assert_true(b_far > 0); /* class b reaches the square's corners */
    nv_dataset_free(&all);

    nv_dataset tr, te;
    generate(&p, &tr, &te);
    assert_int_equal(te.n, 450); /* round(0.25 * 900) per class */
    assert_int_equal(tr.n, 1350);
    int64_t ctr[2] = {0}, cte[2] = {0};
    nv_dataset_class_counts(&tr, ctr);
    nv_dataset_class_counts(&te, cte);
    assert_int_equal(ctr[0], 675);
    assert_int_equal(ctr[1], 675);
    assert_int_equal(cte[0], 225);
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

static void test_determinism(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_defaults(&p);
    p.points_per_class = 300;
    nv_dataset a, b, ta, tb;
    generate(&p, &a, &ta);
    generate(&p, &b, &tb);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.x, b.x, (size_t)(a.n * a.d) * sizeof(nv_real));
    assert_memory_equal(a.y, b.y, (size_t)a.n * sizeof(int32_t));
    assert_memory_equal(a.ids, b.ids, (size_t)a.n * sizeof(int64_t));
    assert_memory_equal(ta.x, tb.x, (size_t)(ta.n * ta.d) * sizeof(nv_real));
    nv_dataset_free(&b);
    nv_dataset_free(&tb);
    p.seed = 2;
    generate(&p, &b, &tb);
    assert_true(memcmp(a.x, b.x, (size_t)(a.n * a.d) * sizeof(nv_real)) != 0);
    nv_dataset_free(&a);
    nv_dataset_free(&b);
    nv_dataset_free(&ta);
    nv_dataset_free(&tb);
}

static void test_refusals(void **state) {
    (void)state;
    nv_disks_params p;
    nv_error err = {0};
    nv_dataset all;
    nv_disks_defaults(&p);
    p.radius = 0.3; /* + gap 0.05 >= 1/3: disks would touch */
    assert_int_equal(nv_disks_sample(&p, &all, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "radius"));
    nv_disks_defaults(&p);
    p.gap = -0.1;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    nv_disks_defaults(&p);
    p.points_per_class = 0;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    nv_disks_defaults(&p);
    p.test_fraction = 1.0;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
}

/* data.source = "disks" with its keys: resolved text is a fixed point and the data
 * built from the config equals the generator's. */
static void test_config(void **state) {
    (void)state;
    const char *dir = nv_test_tmpdir("disks");
    const char *p = nv_test_write_file(dir, "d.cfg",
                                       "experiment = \"di\"; seed = 5;\n"
                                       "data: { source = \"disks\"; test_fraction = 0.1;\n"
                                       "        disks: { points_per_class = 400; radius = 0.25; gap = 0.04; }; };\n");
    nv_experiment a, b;
    nv_error err = {0};
    if (nv_config_load(p, NULL, 0, &a, &err)) fail_msg("load: %s", err.msg);
    assert_int_equal(a.data.source, NV_DATA_DISKS);
    assert_int_equal(a.data.disks.points_per_class, 400);
    assert_true(a.data.disks.radius == 0.25 && a.data.disks.gap == 0.04);
    char *t1 = nv_config_resolved_text(&a);
    assert_non_null(t1);
    assert_non_null(strstr(t1, "source = \"disks\""));
    assert_non_null(strstr(t1, "points_per_class = 400;"));
    const char *p2 = nv_test_write_file(dir, "d2.cfg", t1);
    if (nv_config_load(p2, NULL, 0, &b, &err)) fail_msg("reload: %s\n%s", err.msg, t1);
    char *t2 = nv_config_resolved_text(&b);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);

    nv_dataset tr, te, gtr, gte;
    char desc[512];
    assert_int_equal(nv_data_build(&b.data, b.seed, &tr, &te, desc, sizeof desc, &err), NV_OK);
    assert_non_null(strstr(desc, "disks"));
    nv_disks_params g;
    nv_disks_defaults(&g);
    g.points_per_class = 400;
    g.radius = 0.25;
    g.gap = 0.04;
    g.test_fraction = 0.1;
    g.seed = 5;
    generate(&g, &gtr, &gte);
    assert_int_equal(tr.n, gtr.n);
    assert_int_equal(te.n, gte.n);
    assert_memory_equal(tr.x, gtr.x, (size_t)(tr.n * 2) * sizeof(nv_real));
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    nv_dataset_free(&gtr);
    nv_dataset_free(&gte);

    /* radius + gap too large is refused by the loader, naming the keys */
    const char *p3 = nv_test_write_file(dir, "d3.cfg",
                                        "data: { source = \"disks\"; disks: { radius = 0.3; gap = 0.1; }; };\n");
    assert_int_equal(nv_config_load(p3, NULL, 0, &a, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "data.disks"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_geometry_counts),
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
