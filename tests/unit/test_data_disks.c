/* test_data_disks.c: the nine-disks generator (datasets/disks.c, data set D-I of
 * Naitzat et al.) and its config keys (src/train/config.c, src/train/data_spec.c).
 * The paper's layout (the default): the grid's counts (1,344 and 8,706, as the
 * paper's code gives), MaxAbs scaling, class a inside the nine disks and class b
 * outside the rings, the same points for every seed; and its topology on the
 * reproduction's protocol: on the test split (22%), the kNN graph with k = 13
 * (scikit-learn's 14), hop counts and Rips at 2 hops give class a
 * (beta0, beta1, beta2) = (9, 0, 0) and class b (1, 9, 0). The grid layout: class 0
 * in the disks and class 1 outside them by at least the gap, all nine disks
 * populated, counts and split sizes, determinism (same seed same bytes, another
 * seed other points). Refusals, and configs that resolve to text that reloads to
 * the same text and builds the same data. */
#include "testutil.h"

#include "nerve/config.h"
#include "nerve/dataset.h"
#include "nerve/metric.h"
#include "nerve/ph.h"
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
    assert_int_equal(p.layout, NV_DISKS_NAITZAT);
    assert_true(p.radius == 1.3 && p.gap == 0.5 && p.step == 0.19 && p.test_fraction == 0.2 && p.seed == 1);
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
    assert_int_equal(p.points_per_class, 2000);
    assert_true(p.radius == 0.2 && p.gap == 0.05 && p.test_fraction == 0.2 && p.seed == 1);
    assert_string_equal(nv_disks_layout_name(NV_DISKS_NAITZAT), "naitzat");
    assert_int_equal(nv_disks_layout_parse("grid"), NV_DISKS_GRID);
    assert_int_equal(nv_disks_layout_parse("square"), -1);
}

/* The paper's data: counts, scaling, classes, independence of the seed. */
static void test_naitzat_layout(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_defaults(&p);
    nv_dataset all, all2;
    nv_error err = {0};
    assert_int_equal(nv_disks_sample(&p, &all, &err), NV_OK);
    int64_t counts[2] = {0, 0}, per_disk[9] = {0};
    double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9};
    for (int64_t i = 0; i < all.n; i++) {
        const double x = 10.0 * all.x[2 * i], y = 10.0 * all.x[2 * i + 1]; /* MaxAbs divided by 10 */
        const int c = all.y[i];
        counts[c]++;
        for (int k = 0; k < 2; k++) {
            lo[k] = fmin(lo[k], all.x[2 * i + k]);
            hi[k] = fmax(hi[k], all.x[2 * i + k]);
        }
        const double dist = nv_disks_naitzat_distance(x, y);
        if (c == 0) {
            assert_true(dist < 1.3 + 1e-5);
            int which = 8; /* the origin, else the nearest outer centre */
            if (x * x + y * y > 1.69 + 1e-4) {
                double a = atan2(y, x);
                which = (int)lround(a / (M_PI / 4.0) + 8) % 8;
            }
            per_disk[which]++;
        } else {
            assert_true(dist > 1.8 - 1e-5);
        }
        assert_int_equal(all.ids[i], i);
    }
    assert_int_equal(counts[0], 1344);
    assert_int_equal(counts[1], 8706);
    for (int k = 0; k < 9; k++) assert_true(per_disk[k] > 130 && per_disk[k] < 170);
    assert_true(lo[0] == -1.0f && lo[1] == -1.0f && hi[0] < 1.0f && hi[1] < 1.0f);
    /* the grid fixes the points: another seed, the same set (only the split moves) */
    p.seed = 7;
    assert_int_equal(nv_disks_sample(&p, &all2, &err), NV_OK);
    assert_int_equal(all.n, all2.n);
    assert_memory_equal(all.x, all2.x, (size_t)(all.n * 2) * sizeof(nv_real));
    nv_dataset_free(&all2);
    nv_dataset_free(&all);
    /* the paper's split: 22% test, stratified */
    p.test_fraction = 0.22;
    nv_dataset tr, te;
    generate(&p, &tr, &te);
    int64_t cte[2] = {0, 0};
    nv_dataset_class_counts(&te, cte);
    assert_int_equal(tr.n + te.n, 10050);
    assert_int_equal(cte[0], 296); /* round(0.22 * 1344) */
    assert_int_equal(cte[1], 1915);
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

/* Betti numbers of the rows of one class at `scale` hops on the kNN graph. */
static void betti_hops(const nv_dataset *ds, int cls, int k, double scale, int max_dim, int64_t *betti) {
    int64_t n = 0;
    nv_real *x = malloc((size_t)(ds->n * ds->d) * sizeof *x);
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->y[i] == cls) memcpy(x + (n++) * ds->d, ds->x + i * ds->d, (size_t)ds->d * sizeof *x);
    nv_metric_spec m = {.kind = NV_METRIC_KNN_HOPS, .k = k};
    float *lower = NULL;
    nv_error err = {0};
    if (nv_distance_matrix(x, n, ds->d, &m, &lower, &err)) fail_msg("distances: %s", err.msg);
    nv_ph_params pp;
    nv_ph_params_defaults(&pp);
    pp.max_dim = max_dim;
    pp.threshold = (float)scale;
    nv_ph_input in = {.kind = NV_PH_DENSE, .n = n, .lower = lower};
    nv_ph_result r;
    if (nv_ph_compute(&in, &pp, &r, &err)) fail_msg("ph: %s", err.msg);
    for (int dd = 0; dd <= max_dim; dd++) betti[dd] = nv_ph_betti_at(&r, dd, (float)scale);
    nv_ph_result_free(&r);
    free(lower);
    free(x);
}

/* The topology of D-I on the reproduction's protocol (docs/naitzat-di.md). */
static void test_naitzat_topology(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_defaults(&p);
    p.test_fraction = 0.22;
    nv_dataset tr, te;
    generate(&p, &tr, &te);
    int64_t b[3];
    betti_hops(&te, 0, 13, 2.0, 2, b);
    assert_int_equal(b[0], 9);
    assert_int_equal(b[1], 0);
    assert_int_equal(b[2], 0);
    /* class b: H0 and H1, the paper's targets (its 2-hop Rips complex on this
     * sample also holds one spurious 2-cycle at k = 13, none at k = 14:
     * docs/naitzat-di.md) */
    betti_hops(&te, 1, 13, 2.0, 1, b);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 9);
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

static void test_geometry_counts(void **state) {
    (void)state;
    nv_disks_params p;
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
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
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
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
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
    p.radius = 0.3; /* + gap 0.05 >= 1/3: disks would touch */
    assert_int_equal(nv_disks_sample(&p, &all, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "radius"));
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
    p.gap = -0.1;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
    p.points_per_class = 0;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    nv_disks_layout_defaults(&p, NV_DISKS_GRID);
    p.test_fraction = 1.0;
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    /* the paper's layout: rings that overlap, a disk that leaves the square, a step
     * out of range */
    nv_disks_defaults(&p);
    p.radius = 2.0;
    p.gap = 1.0;
    err = (nv_error){0};
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "disjoint"));
    nv_disks_defaults(&p);
    p.step = 5.0;
    err = (nv_error){0};
    assert_int_equal(nv_disks_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "step"));
}

/* data.source = "disks" with its keys: resolved text is a fixed point and the data
 * built from the config equals the generator's. */
static void test_config(void **state) {
    (void)state;
    const char *dir = nv_test_tmpdir("disks");
    const char *p = nv_test_write_file(dir, "d.cfg",
                                       "experiment = \"di\"; seed = 5;\n"
                                       "data: { source = \"disks\"; test_fraction = 0.1;\n"
                                       "        disks: { layout = \"grid\"; points_per_class = 400; radius = 0.25; gap = 0.04; }; };\n");
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
    nv_disks_layout_defaults(&g, NV_DISKS_GRID);
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
                                        "data: { source = \"disks\"; disks: { layout = \"grid\"; radius = 0.3; gap = 0.1; }; };\n");
    assert_int_equal(nv_config_load(p3, NULL, 0, &a, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "data.disks"));
    err = (nv_error){0};
    const char *p4 = nv_test_write_file(dir, "d4.cfg",
                                        "data: { source = \"disks\"; disks: { layout = \"hexagonal\"; }; };\n");
    assert_int_equal(nv_config_load(p4, NULL, 0, &a, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "data.disks.layout"));
    err = (nv_error){0};
    /* the default layout is the paper's, and its resolved text names it */
    const char *p5 = nv_test_write_file(dir, "d5.cfg", "data: { source = \"disks\"; test_fraction = 0.22; };\n");
    if (nv_config_load(p5, NULL, 0, &a, &err)) fail_msg("load: %s", err.msg);
    assert_int_equal(a.data.disks.layout, NV_DISKS_NAITZAT);
    char *t5 = nv_config_resolved_text(&a);
    assert_non_null(strstr(t5, "layout = \"naitzat\""));
    assert_non_null(strstr(t5, "step = 0.19"));
    free(t5);
    assert_int_equal(nv_data_build(&a.data, a.seed, &tr, &te, desc, sizeof desc, &err), NV_OK);
    assert_int_equal(tr.n + te.n, 10050);
    assert_non_null(strstr(desc, "Naitzat"));
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_naitzat_layout),
        cmocka_unit_test(test_naitzat_topology), cmocka_unit_test(test_geometry_counts),
        cmocka_unit_test(test_determinism), cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
