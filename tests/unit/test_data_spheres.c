/* test_data_spheres.c: the intersecting-spheres generator and the stratified split
 * (datasets/spheres.c, datasets/dataset.c). Checks the geometry (every point at its
 * radius, circles really planar), determinism (same seed same bytes), class counts,
 * split sizes and that sample ids stay a permutation. */
#include "testutil.h"

#include "nerve/dataset.h"

/* Largest | |x - centre_c| - r_c | over a set, in double from the stored floats. */
static double max_radius_error(const nv_dataset *ds, const nv_spheres_params *p) {
    double worst = 0.0;
    for (int64_t i = 0; i < ds->n; i++) {
        const int c = ds->y[i];
        const double centre0 = (c ? 0.5 : -0.5) * p->offset;
        double s = 0.0;
        for (int64_t j = 0; j < ds->d; j++) {
            double v = (double)ds->x[i * ds->d + j] - (j == 0 ? centre0 : 0.0);
            s += v * v;
        }
        double e = fabs(sqrt(s) - p->radius[c]);
        if (e > worst) worst = e;
    }
    return worst;
}

static void generate(const nv_spheres_params *p, nv_dataset *tr, nv_dataset *te) {
    nv_error err = {0};
    nv_status st = nv_spheres_generate(p, tr, te, &err);
    if (st) fail_msg("nv_spheres_generate: %s", err.msg);
}

/* ids of train and test together are exactly 0 .. total-1. */
static void assert_ids_permutation(const nv_dataset *tr, const nv_dataset *te, int64_t total) {
    assert_int_equal(tr->n + te->n, total);
    char *seen = calloc((size_t)total, 1);
    const nv_dataset *sets[2] = {tr, te};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < sets[s]->n; i++) {
            int64_t id = sets[s]->ids[i];
            assert_true(id >= 0 && id < total);
            assert_int_equal(seen[id], 0);
            seen[id] = 1;
        }
    free(seen);
}

static void test_defaults(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    assert_int_equal(p.dim, 12);
    assert_int_equal(p.sphere_dim, 11);
    assert_int_equal(p.points_per_class, 2000);
    assert_true(p.radius[0] == 1.0 && p.radius[1] == 1.3);
    assert_true(p.offset == 0.4 && p.noise == 0.0 && p.oversample == 0.0);
    assert_true(p.oversample_width == 0.1 && p.test_fraction == 0.2 && p.seed == 1);
}

static void test_full_spheres_radius_counts_split(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    p.points_per_class = 301;
    nv_dataset tr, te;
    generate(&p, &tr, &te);
    assert_int_equal(tr.d, 12);
    assert_int_equal(tr.nclasses, 2);
    /* round(0.2 * 301) = 60 per class to test */
    assert_int_equal(te.n, 120);
    assert_int_equal(tr.n, 482);
    int64_t ctr[2], cte[2];
    nv_dataset_class_counts(&tr, ctr);
    nv_dataset_class_counts(&te, cte);
    assert_int_equal(ctr[0], 241);
    assert_int_equal(ctr[1], 241);
    assert_int_equal(cte[0], 60);
    assert_int_equal(cte[1], 60);
    assert_true(max_radius_error(&tr, &p) < 1e-5);
    assert_true(max_radius_error(&te, &p) < 1e-5);
    assert_ids_permutation(&tr, &te, 602);
    /* ids are the pre-split order: class 0 first */
    for (int64_t i = 0; i < tr.n; i++) assert_int_equal(tr.y[i], tr.ids[i] < 301 ? 0 : 1);
    /* the classes interleave after the split's final shuffle */
    int changes = 0;
    for (int64_t i = 1; i < tr.n; i++) changes += tr.y[i] != tr.y[i - 1];
    assert_true(changes > 100);
    nv_error err = {0};
    assert_int_equal(nv_dataset_validate(&tr, "train", &err), NV_OK);
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

/* Residual of x (d) after projecting onto the span of the orthonormal b0, b1. */
static double plane_residual(const double *x, const double *b0, const double *b1, int64_t d) {
    double a0 = 0, a1 = 0, r = 0;
    for (int64_t j = 0; j < d; j++) {
        a0 += x[j] * b0[j];
        a1 += x[j] * b1[j];
    }
    for (int64_t j = 0; j < d; j++) {
        double v = x[j] - a0 * b0[j] - a1 * b1[j];
        r += v * v;
    }
    return sqrt(r);
}

static void test_circles_in_r12(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    p.sphere_dim = 1;
    p.points_per_class = 200;
    p.test_fraction = 0.0;
    nv_dataset tr, te;
    generate(&p, &tr, &te);
    assert_int_equal(te.n, 0);
    assert_int_equal(tr.n, 400);
    assert_true(max_radius_error(&tr, &p) < 1e-5);
    /* Each class lies in a plane through its centre: two of its points (centred)
     * span it, every other point has no component outside. */
    for (int c = 0; c < 2; c++) {
        const double centre0 = (c ? 0.5 : -0.5) * p.offset;
        double b[2][12], x[12];
        int nb = 0;
        double worst = 0;
        for (int64_t i = 0; i < tr.n; i++) {
            if (tr.y[i] != c) continue;
            for (int j = 0; j < 12; j++) x[j] = (double)tr.x[i * 12 + j] - (j == 0 ? centre0 : 0.0);
            if (nb < 2) {
                /* Gram-Schmidt the first two points into a basis */
                if (nb == 1) {
                    double a = 0;
                    for (int j = 0; j < 12; j++) a += x[j] * b[0][j];
                    for (int j = 0; j < 12; j++) x[j] -= a * b[0][j];
                }
                double nrm = 0;
                for (int j = 0; j < 12; j++) nrm += x[j] * x[j];
                nrm = sqrt(nrm);
                if (nrm < 0.1) continue; /* nearly parallel: pick another */
                for (int j = 0; j < 12; j++) b[nb][j] = x[j] / nrm;
                nb++;
                continue;
            }
            double r = plane_residual(x, b[0], b[1], 12);
            if (r > worst) worst = r;
        }
        assert_int_equal(nb, 2);
        assert_true(worst < 1e-5);
        /* and the plane is not the axis plane: the rotation is really random */
        assert_true(fabs(b[0][0]) < 0.999);
    }
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

static void test_two_spheres_in_r5(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    p.dim = 5;
    p.sphere_dim = 2;
    p.points_per_class = 150;
    p.radius[0] = 0.7;
    p.radius[1] = 2.5;
    nv_dataset tr, te;
    generate(&p, &tr, &te);
    assert_true(max_radius_error(&tr, &p) < 1e-5);
    assert_true(max_radius_error(&te, &p) < 1e-5);
    assert_ids_permutation(&tr, &te, 300);
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
}

static int same_bytes(const nv_dataset *a, const nv_dataset *b) {
    return a->n == b->n && a->d == b->d &&
           !memcmp(a->x, b->x, (size_t)(a->n * a->d) * sizeof(nv_real)) &&
           !memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t)) &&
           !memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int64_t));
}

static void test_same_seed_same_bytes(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    p.points_per_class = 100;
    p.sphere_dim = 3;
    p.noise = 0.05;
    nv_dataset a, at, b, bt, c, ct;
    generate(&p, &a, &at);
    generate(&p, &b, &bt);
    assert_true(same_bytes(&a, &b));
    assert_true(same_bytes(&at, &bt));
    p.seed = 2;
    generate(&p, &c, &ct);
    assert_false(same_bytes(&a, &c));
    nv_dataset_free(&a);
    nv_dataset_free(&at);
    nv_dataset_free(&b);
    nv_dataset_free(&bt);
    nv_dataset_free(&c);
    nv_dataset_free(&ct);
}

static void test_oversample(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_spheres_defaults(&p);
    p.points_per_class = 200;
    p.oversample = 0.5;
    p.oversample_width = 0.05;
    nv_dataset all;
    nv_error err = {0};
    assert_int_equal(nv_spheres_sample(&p, &all, &err), NV_OK);
    assert_int_equal(all.n, 2 * (200 + 100));
    /* The first 200 of each class are the regular points, the same as without
     * oversampling; the 100 after them lie within the band of the other sphere. */
    nv_spheres_params q = p;
    q.oversample = 0;
    nv_dataset plain;
    assert_int_equal(nv_spheres_sample(&q, &plain, &err), NV_OK);
    assert_int_equal(memcmp(all.x, plain.x, 200 * 12 * sizeof(nv_real)), 0);
    assert_int_equal(memcmp(all.x + 300 * 12, plain.x + 200 * 12, 200 * 12 * sizeof(nv_real)), 0);
    for (int c = 0; c < 2; c++)
        for (int64_t i = c * 300 + 200; i < c * 300 + 300; i++) {
            const int o = 1 - c;
            const double centre0 = (o ? 0.5 : -0.5) * p.offset;
            double s = 0;
            for (int j = 0; j < 12; j++) {
                double v = (double)all.x[i * 12 + j] - (j == 0 ? centre0 : 0.0);
                s += v * v;
            }
            assert_true(fabs(sqrt(s) - p.radius[o]) <= p.oversample_width + 1e-6);
            assert_int_equal(all.y[i], c);
            assert_int_equal(all.ids[i], i);
        }
    nv_dataset_free(&all);
    nv_dataset_free(&plain);
    /* Spheres that never meet: the band is empty and that is reported, not looped on. */
    p.offset = 10.0;
    p.points_per_class = 10;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_sample(&p, &all, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "oversample"));
}

static void test_validation(void **state) {
    (void)state;
    nv_spheres_params p;
    nv_dataset tr, te;
    nv_error err;
    nv_spheres_defaults(&p);
    p.sphere_dim = 12;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_generate(&p, &tr, &te, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "sphere_dim"));
    nv_spheres_defaults(&p);
    p.radius[1] = 0;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_generate(&p, &tr, &te, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "radius[1]"));
    nv_spheres_defaults(&p);
    p.test_fraction = 1.0;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_generate(&p, &tr, &te, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "test_fraction"));
    nv_spheres_defaults(&p);
    p.noise = NAN;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "noise"));
    nv_spheres_defaults(&p);
    p.dim = 1;
    nv_error_clear(&err);
    assert_int_equal(nv_spheres_validate(&p, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "dim"));
}

/* The split on a generic three-class set: stratified sizes, ids kept, rows intact. */
static void test_split_generic(void **state) {
    (void)state;
    nv_dataset all;
    nv_error err = {0};
    const int64_t n = 101;
    assert_int_equal(nv_dataset_alloc(&all, n, 2, &err), NV_OK);
    all.nclasses = 4; /* class 3 empty: allowed */
    for (int64_t i = 0; i < n; i++) {
        all.y[i] = (int32_t)(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 2);
        all.ids[i] = 1000 + i;
        all.x[2 * i] = (nv_real)i;
        all.x[2 * i + 1] = (nv_real)(-i);
    }
    nv_dataset tr, te;
    assert_int_equal(nv_dataset_split(&all, 0.25, 7, &tr, &te, &err), NV_OK);
    /* classes have 34, 34, 33 rows: round(8.5)=9, 9, round(8.25)=8 */
    int64_t c[4];
    nv_dataset_class_counts(&te, c);
    assert_int_equal(c[0], 9);
    assert_int_equal(c[1], 9);
    assert_int_equal(c[2], 8);
    assert_int_equal(c[3], 0);
    assert_int_equal(tr.n + te.n, n);
    assert_int_equal(tr.nclasses, 4);
    const nv_dataset *sets[2] = {&tr, &te};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < sets[s]->n; i++) {
            int64_t src = sets[s]->ids[i] - 1000;
            assert_true(sets[s]->x[2 * i] == (nv_real)src);
            assert_true(sets[s]->x[2 * i + 1] == (nv_real)(-src));
            assert_int_equal(sets[s]->y[i], all.y[src]);
        }
    /* deterministic: the same call gives the same order; another seed another */
    nv_dataset tr2, te2;
    assert_int_equal(nv_dataset_split(&all, 0.25, 7, &tr2, &te2, &err), NV_OK);
    assert_true(same_bytes(&tr, &tr2) && same_bytes(&te, &te2));
    nv_dataset_free(&tr2);
    nv_dataset_free(&te2);
    assert_int_equal(nv_dataset_split(&all, 0.25, 8, &tr2, &te2, &err), NV_OK);
    assert_false(same_bytes(&tr, &tr2));
    nv_dataset_free(&tr2);
    nv_dataset_free(&te2);
    /* a bad fraction and a bad label are input errors */
    nv_error_clear(&err);
    assert_int_equal(nv_dataset_split(&all, 1.0, 7, &tr2, &te2, &err), NV_EINPUT);
    all.y[5] = 9;
    nv_error_clear(&err);
    assert_int_equal(nv_dataset_split(&all, 0.5, 7, &tr2, &te2, &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "row 5"));
    all.y[5] = 2;
    all.x[7] = INFINITY;
    nv_error_clear(&err);
    assert_int_equal(nv_dataset_validate(&all, "mine", &err), NV_EINPUT);
    assert_non_null(strstr(err.msg, "mine: row 3, feature 1"));
    nv_dataset_free(&tr);
    nv_dataset_free(&te);
    nv_dataset_free(&all);
    nv_dataset_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_full_spheres_radius_counts_split),
        cmocka_unit_test(test_circles_in_r12),
        cmocka_unit_test(test_two_spheres_in_r5),
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_oversample),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_split_generic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
